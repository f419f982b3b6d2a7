using Xunit;

namespace LearningCurves.Runner.Tests;

/// <summary>The runner's commands on a machine without a GPU: --backend cuda fails with exit 2 and one line.</summary>
[Collection(ConsoleTests.Name)]
public class CudaCommandTests
{
    [Theory]
    [InlineData("verify", "--backend", "cuda", "--quick", "--precision", "fp32")]
    [InlineData("bench", "--backend", "cuda", "--quick")]
    public void Runner_commands_with_backend_cuda_exit_2_with_one_line(params string[] args)
    {
        bool present = System.Runtime.InteropServices.NativeLibrary.TryLoad("libcuda.so.1", out var h);
        if (present) System.Runtime.InteropServices.NativeLibrary.Free(h);
        Assert.SkipWhen(present, "this machine has a CUDA driver (libcuda.so.1), so the no-driver messages cannot be checked here");
        var r = Cli.Run(args);
        Assert.Equal(2, r.Code);
        var line = Assert.Single(r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith($"learning-curves {args[0]}: the CUDA driver (libcuda) was not found; tried: libcuda.so.1", line, StringComparison.Ordinal);
    }
}

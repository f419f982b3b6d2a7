using System.Diagnostics;
using LearningCurves.Tests.Common;
using Xunit;

namespace LearningCurves.Kernels.Tests;

/// <summary>
/// scripts/device-check.sh rehearsed end to end on the software GPU, from this built checkout (LC_CHECK_BUILT), so the
/// first real GPU run does not fail on a script error: every step runs (the GPU tests narrowed to two, verify --quick
/// for fp32), the benchmarks are skipped as timings, the summary comes out on one screen and every log lands in the
/// report folder. Not in the Gpu trait itself: the script runs that trait.
/// </summary>
[Collection("GPU")]
public class DeviceCheckRehearsalTests
{
    [Fact]
    public async Task Device_check_runs_end_to_end_on_the_software_gpu()
    {
        Assert.SkipWhen(Environment.GetEnvironmentVariable("LC_SOFTWARE_GPU") is null, "the software GPU is not in use (source artifacts/software-gpu/env.sh)");
        var report = TestPaths.TempDir();
        var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(TestPaths.RepoRoot, "scripts", "device-check.sh"));
        psi.ArgumentList.Add(report);
        psi.Environment["LC_CHECK_BUILT"] = TestPaths.RepoRoot;
        psi.Environment["LC_CHECK_TEST_ARGS"] = "-method *.GpuOpTests.Kernel_profile_records_every_op -method *.GpuOpTests.Out_of_memory_names_the_sizes";
        using var p = Process.Start(psi)!;
        var ct = TestContext.Current.CancellationToken;
        var err = p.StandardError.ReadToEndAsync(ct);
        var output = await p.StandardOutput.ReadToEndAsync(ct);
        await p.WaitForExitAsync(ct);
        Assert.True(p.ExitCode == 0, $"device-check.sh exit {p.ExitCode}:\n{output}\n{await err}");
        var summary = await File.ReadAllLinesAsync(Path.Combine(report, "summary.txt"), ct);
        Assert.True(summary.Length <= 40, $"the summary is {summary.Length} lines, more than a screen");
        Assert.StartsWith("device-check summary", summary[0], StringComparison.Ordinal);
        Assert.Equal("result: PASS", summary.Where(l => l.StartsWith("result:", StringComparison.Ordinal)).Single());
        Assert.Contains(summary, l => l.StartsWith("gpu tests: ", StringComparison.Ordinal) && l.Contains("Total: 2,", StringComparison.Ordinal) && l.Contains("Failed: 0", StringComparison.Ordinal));
        Assert.Contains(summary, l => l.StartsWith("verify: all ", StringComparison.Ordinal));
        Assert.Contains(summary, l => l.StartsWith("bench-bf16 skipped: timings need a real GPU", StringComparison.Ordinal));
        foreach (var f in new[] { "device.txt", "gpu-tests.log", "gpu-tests.xml", "verify.log", "bench-fp32.skipped" })
            Assert.True(File.Exists(Path.Combine(report, f)), $"{f} is not in the report folder {report}");
        // stdout: one line per step, then the summary, nothing else (the logs stay in the folder).
        Assert.True(output.Split('\n').Length <= summary.Length + 12, output);
    }
}

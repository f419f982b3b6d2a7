using System.Diagnostics;
using System.Text.RegularExpressions;
using LearningCurves.Tests.Common;
using Xunit;

namespace LearningCurves.Kernels.Tests;

/// <summary>
/// kernels.cu compiles to PTX for sm_80 and sm_90 with Debian's clang-19 and no CUDA toolkit (scripts/ptx-check.sh).
/// Skips only where clang-19 is not installed; any compiler error or warning fails.
/// </summary>
public partial class PtxCheckTests
{
    [GeneratedRegex(@"extern ""C"" __global__ void (\w+)\(")]
    private static partial Regex KernelDeclaration();

    [Fact]
    public async Task Kernels_compile_to_ptx_for_sm80_and_sm90()
    {
        var clang = Environment.GetEnvironmentVariable("CLANG") ?? "clang-19";
        bool found = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
            .Any(d => File.Exists(Path.Combine(d, clang)));
        Assert.SkipUnless(found, $"{clang} is not installed (Debian package clang-19; 'dotnet pwsh ./build.ps1 setup' installs it): the PTX check cannot run");

        var outDir = TestPaths.TempDir();
        var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(TestPaths.RepoRoot, "scripts", "ptx-check.sh"));
        psi.ArgumentList.Add(outDir);
        using var p = Process.Start(psi)!;
        var ct = TestContext.Current.CancellationToken;
        var stderr = p.StandardError.ReadToEndAsync(ct);
        var stdout = await p.StandardOutput.ReadToEndAsync(ct);
        await p.WaitForExitAsync(ct);
        Assert.True(p.ExitCode == 0, $"ptx-check.sh failed (exit {p.ExitCode}):\n{stdout}{await stderr}");

        var source = await File.ReadAllTextAsync(Path.Combine(TestPaths.RepoRoot, "kernels.cu"), ct);
        var kernels = KernelDeclaration().Matches(source).Select(m => m.Groups[1].Value).ToArray();
        Assert.True(kernels.Length >= 19, $"only {kernels.Length} kernels found in kernels.cu");
        foreach (var arch in new[] { "sm_80", "sm_90" })
        {
            var ptx = await File.ReadAllTextAsync(Path.Combine(outDir, $"kernels.{arch}.ptx"), ct);
            Assert.Contains($".target {arch}", ptx, StringComparison.Ordinal);
            foreach (var k in kernels)
                Assert.True(ptx.Contains($".visible .entry {k}(", StringComparison.Ordinal), $"{arch}: no entry point for kernel {k}");
            // The device path the emulator cannot run was compiled too.
            Assert.Contains("cp.async.ca.shared.global", ptx, StringComparison.Ordinal);
        }
    }
}

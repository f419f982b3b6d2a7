using LearningCurves.Engine;
using LearningCurves.Engine.Backends;
using LearningCurves.Engine.Model;
using LearningCurves.Kernels.Native;
using LearningCurves.Tests.Common;
using Xunit;
using LearningCurves.Formats;

namespace LearningCurves.Kernels.Tests;

/// <summary>Backend selection and the verify machinery on a machine without a GPU: auto falls back to the CPU and
/// says why; --backend cuda fails with exit 2 (the runner's one-line message is checked in Runner.Tests); the
/// comparison code finds no error between two CPU backends and loads every committed parity fixture.</summary>
[Collection("console")]
public class CudaFactoryTests
{
    [Fact]
    public void Auto_falls_back_to_the_cpu_and_says_why()
    {
        ResolverTests.SkipWhenDriverPresent();
        var log = new StringWriter();
        using var be = BackendFactory.Create("auto", Precision.Fp32, log);
        Assert.IsType<CpuBackend>(be);
        var line = Assert.Single(log.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("backend: cpu, chosen by --backend auto because CUDA is not usable: the CUDA driver (libcuda) was not found; tried: ", line, StringComparison.Ordinal);
    }

    [Fact]
    public void Backend_cuda_without_a_gpu_is_a_user_error_listing_what_was_tried()
    {
        ResolverTests.SkipWhenDriverPresent();
        var e = Assert.Throws<CudaUnavailableException>(() => BackendFactory.Create("cuda", Precision.Bf16, TextWriter.Null));
        Assert.Equal(2, e.ExitCode);
        Assert.Contains("libcuda.so.1", e.Message, StringComparison.Ordinal);
        Assert.Throws<UserError>(() => BackendFactory.Create("gpu", Precision.Fp32, TextWriter.Null));
    }

    [Fact]
    public void Error_statistics_count_non_finite_values_and_find_the_worst()
    {
        var s = ErrorStats.Of(new float[] { 1f, 2.5f, float.NaN, 4f }, new[] { 1.0, 2.0, 3.0, 4.25 });
        Assert.Equal(4, s.Count);
        Assert.Equal(1, s.NonFinite);
        Assert.Equal(double.PositiveInfinity, s.MaxAbs);
        Assert.Equal(2, s.WorstIndex);
        Assert.Equal(0.25, s.MeanAbs, 12);
        Assert.False(s.Within(1e9));
        var ok = ErrorStats.Of(new float[] { 1f, 2.5f }, new[] { 1.0, 2.0 });
        Assert.Equal(0.5, ok.MaxAbs);
        Assert.Equal(1, ok.WorstIndex);
        Assert.True(ok.Within(0.5));
        Assert.False(ok.Within(0.49));
        Assert.Equal(1e-3, Verification.Limit(Precision.Fp32));
        Assert.Equal(2e-2, Verification.Limit(Precision.Tf32));
        Assert.Equal(1e-1, Verification.Limit(Precision.Bf16));
        // The derived limits: bf16 3x its emulation error, tf32 a quarter of that, neither below its floor.
        Assert.Equal(1e-3, Verification.Bf16Limit(1e-5));
        Assert.Equal(0.3, Verification.Bf16Limit(0.1), 12);
        Assert.Equal(2e-2, Verification.Tf32Limit(0.02));
        Assert.Equal(0.075, Verification.Tf32Limit(0.1), 12);
    }

    [Fact]
    public void Two_cpu_backends_agree_exactly_on_the_random_cases()
    {
        using var a = new CpuBackend();
        using var b = new CpuBackend();
        int seed = Random.Shared.Next();
        // The small random cases only: the comparison code, not the CPU's speed, is under test.
        foreach (var c in Verification.RandomCases(seed, quick: true).Where(c => c.Weights.Config.Embd <= 64))
        {
            var row = Assert.Single(Verification.Run(c, Precision.Fp32, a, b));
            Assert.True(row.Passed, $"seed {seed}: {row.Format()}");
            Assert.Equal(0, row.Stats.MaxAbs);
            Assert.Equal(c.Sequences.Sum(s => s.Length - 1), row.Stats.Count);
        }
    }

    [Fact]
    public void Parity_fixtures_load_as_verify_cases_and_pass_on_the_cpu()
    {
        var dir = Path.Combine(TestPaths.RepoRoot, "tests", "fixtures", "parity");
        Assert.SkipUnless(Directory.Exists(dir), "tests/fixtures/parity is not in this checkout");
        var skipped = new List<string>();
        var cases = ParityFixtures.Load(dir, skipped, TestPaths.SharedFixtures);
        Assert.True(cases.Count >= (TestPaths.SharedFixtures is null ? 4 : 5), $"{cases.Count} cases; skipped: {string.Join("; ", skipped)}");
        Assert.Equal(Directory.GetDirectories(dir).Length, cases.Count + skipped.Count);
        using var cpu = new CpuBackend();
        foreach (var c in cases)
        {
            Assert.NotNull(c.Reference);
            Assert.Equal(c.Sequences.Count, c.Reference!.Count);
            var rows = Verification.Run(c, Precision.Fp32, cpu, cpu);
            var vs64 = Assert.Single(rows, r => r.Against == "float64");
            Assert.True(vs64.Passed, vs64.Format());
        }
    }

    [Fact]
    public void Fixture_files_that_disagree_are_named()
    {
        var root = TestPaths.TempDir();
        var src = Path.Combine(TestPaths.RepoRoot, "tests", "fixtures", "parity", "tied-prefix-f32");
        Assert.SkipUnless(Directory.Exists(src), "tests/fixtures/parity/tied-prefix-f32 is not in this checkout");
        var dst = Path.Combine(root, "case");
        Directory.CreateDirectory(dst);
        foreach (var f in Directory.GetFiles(src)) File.Copy(f, Path.Combine(dst, Path.GetFileName(f)));
        File.AppendAllText(Path.Combine(dst, "ids.txt"), "1 2 3\n");
        var e = Assert.Throws<UserError>(() => ParityFixtures.Load(root));
        Assert.StartsWith(Path.Combine(dst, "surprisal.npy") + ": holds ", e.Message, StringComparison.Ordinal);
    }
}

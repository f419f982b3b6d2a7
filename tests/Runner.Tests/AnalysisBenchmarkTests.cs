using LearningCurves.Tests.Common;
using Xunit;

namespace LearningCurves.Runner.Tests;

/// <summary>The analysis benchmarks at toy sizes: they run end to end, report their figures and clean up after themselves.</summary>
[Collection(ConsoleTests.Name)]
public class AnalysisBenchmarkTests
{
    [Fact]
    public void Bench_analyze_runs_the_whole_analysis_on_a_synthetic_suite()
    {
        var dir = Path.Combine(TestPaths.TempDir(), "bench");
        var r = Cli.Run("bench", "analyze", "--examples", "300", "--runs", "2", "--checkpoints", "12", "--train-tokens", "6000", "--dir", dir);
        Assert.True(r.Code == 0, r.Err + r.Out);
        Assert.Contains("bench analyze: 300 examples x 2 runs x 12 checkpoints", r.Out, StringComparison.Ordinal);
        Assert.Contains("analyze: learning phases", r.Err, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(dir, "out", "report.html")));
    }

    [Fact]
    public void Bench_metrics_times_the_metrics_and_removes_its_temporary_folder()
    {
        string temp = Path.Combine(Path.GetTempPath(), $"lc-bench-metrics-{Environment.ProcessId}");
        var r = Cli.Run("bench", "metrics", "--examples", "40", "--checkpoints", "12", "--runs", "2", "--threads", "1");
        Assert.True(r.Code == 0, r.Err + r.Out);
        Assert.Contains($"bench metrics: wrote 2 x float32 [12, 40] to {temp}", r.Out, StringComparison.Ordinal);
        Assert.Contains("bench metrics: 80 curves x 12 checkpoints, aoa gam, 1 threads:", r.Out, StringComparison.Ordinal);
        Assert.False(Directory.Exists(temp), "the temporary folder is left behind");
    }

    [Fact]
    public void Bench_ngrams_reports_cold_and_warm_counting()
    {
        var r = Cli.Run("bench", "ngrams", "--tokens", "20000", "--vocab", "500", "--rows", "200", "--phase-examples", "50", "--phase-checkpoints", "5");
        Assert.True(r.Code == 0, r.Err + r.Out);
        Assert.Contains("counting, cold (fresh memory)", r.Out, StringComparison.Ordinal);
        Assert.Contains("counting, warm (memory touched before)", r.Out, StringComparison.Ordinal);
        Assert.Contains("bytes per distinct n-gram", r.Out, StringComparison.Ordinal);
    }
}

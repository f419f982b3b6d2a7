using LearningCurves.Analysis.Metrics;
using LearningCurves.Formats;
using LearningCurves.Tests.Common;
using Xunit;
using LearningCurves.Formats.IO;
using LearningCurves.Formats.Curves;
using LearningCurves.Formats.Runs;

namespace LearningCurves.Analysis.Tests;

/// <summary>Metrics on curves whose answers are known without pyGAM.</summary>
public sealed class MetricsKnownAnswerTests
{
    private const double Chance = 15.6;

    private static readonly string[] PerRunMetrics = ["final_surprisal", "within_run_var", "aoa", "forgettability"];

    private static (MetricRow[] PerRun, MetricRow[] Examples) Run(double[][][] curves, long[] steps, CurveLayout layout = CurveLayout.CheckpointsFirst,
        MetricsOptions? options = null, bool float32 = false)
    {
        var dir = TestPaths.TempDir();
        var paths = MetricsTestUtil.WriteRuns(dir, curves, layout, float32);
        var outDir = Path.Combine(dir, "out");
        MetricsRunner.Run(paths, layout, "steps", steps, options ?? new MetricsOptions { ChanceBits = Chance, BlockExamples = 5 }, outDir);
        return (MetricsTestUtil.ReadCsv(Path.Combine(outDir, MetricsRunner.PerRunFile)).Rows,
            MetricsTestUtil.ReadCsv(Path.Combine(outDir, MetricsRunner.ExamplesFile)).Rows);
    }

    private static double[][] Curves(long[] steps, int examples, Func<int, double, int, double> f) =>
        Enumerable.Range(0, examples).Select(e => steps.Select((s, k) => f(e, s > 0 ? Math.Log10(s) : 0, k)).ToArray()).ToArray();

    [Fact]
    public void StepFunctionAoaIsAtTheStep()
    {
        var steps = MetricsTestUtil.PaperSteps();
        // Steps at least a few checkpoints in from the ends (the schedule has only three checkpoints below x = 2.5).
        double[] at = [3.0, 3.5, 4.2, 5.0, 5.5];
        var curves = Curves(steps, at.Length, (e, x, _) => x < at[e] ? 15.0 : 5.0);
        var (rows, _) = Run([curves], steps);
        double knot = (Math.Log10(steps[^1]) - Math.Log10(steps[1])) / 22;
        for (int e = 0; e < at.Length; e++)
            Assert.True(Math.Abs(rows[e]["aoa"] - at[e]) < knot, $"example {e}: AoA {rows[e]["aoa"]} for a step at {at[e]} (knot spacing {knot:F3})");
    }

    [Fact]
    public void NeverLearnedCurveHasAoaAtTheLastCheckpoint()
    {
        var steps = MetricsTestUtil.PaperSteps();
        var curves = Curves(steps, 3, (e, x, k) => Chance + 0.5 + 0.1 * Math.Sin(k * (e + 1)));
        var (rows, _) = Run([curves], steps);
        foreach (var row in rows) Assert.Equal(Math.Log10(steps[^1]), row["aoa"], 12);
    }

    [Fact]
    public void MonotoneCurvesHaveZeroForgettability()
    {
        var steps = MetricsTestUtil.PaperSteps();
        var curves = Curves(steps, 4, (e, x, _) => e switch
        {
            0 => 14 - 2 * x,
            1 => 3 + 10 * Math.Exp(-x),
            2 => 15 - 10 / (1 + Math.Exp(-(x - 3) / 0.8)),
            _ => 9.0,
        });
        var (rows, _) = Run([curves], steps);
        // Not exactly 0: pyGAM's sqrt(eps) ridge on every coefficient leaves ~1e-8 ripples on a flat fit.
        for (int e = 0; e < 4; e++) Assert.True(rows[e]["forgettability"] < 1e-6, $"example {e}: forgettability {rows[e]["forgettability"]}");
        // A drop then a rise of 3 bits: forgettability is about the rise.
        var rising = Curves(steps, 1, (_, x, _) => x < 4 ? 12 - 2 * x : 4 + 3 * (x - 4) / 2);
        var (r2, _) = Run([rising], steps);
        Assert.True(Math.Abs(r2[0]["forgettability"] - 3) < 0.3, $"forgettability {r2[0]["forgettability"]} for a 3-bit rise");
    }

    [Fact]
    public void IdenticalRunsHaveZeroCrossRunVariability()
    {
        var steps = MetricsTestUtil.PaperSteps();
        var rng = new Random(8);
        var curves = Curves(steps, 9, (e, x, _) => 3 + 12 / (1 + Math.Exp(x - 1 - e * 0.4)) + rng.NextDouble());
        var (rows, ex) = Run([curves, curves, curves], steps);
        foreach (var row in ex) Assert.Equal(0.0, row["crossrun_var"]);
        // And the per-example means equal each run's values.
        for (int e = 0; e < 9; e++)
            foreach (var m in PerRunMetrics) Assert.Equal(rows[e][m], ex[e][m], 12);
        // Shifting one run by a constant c gives (pairs touching it) / (all pairs) * c^2.
        var shifted = curves.Select(c => c.Select(v => v + 0.5).ToArray()).ToArray();
        var (_, ex2) = Run([curves, curves, shifted], steps);
        foreach (var row in ex2) Assert.Equal(2.0 / 3 * 0.25, row["crossrun_var"], 9);
    }

    [Fact]
    public void FinalSurprisalAndWithinRunVariabilityOverTheLastK()
    {
        var steps = MetricsTestUtil.PaperSteps();
        int k = steps.Length;
        // The last 11: alternating 4 +- 1 (mean 4 + 1/11, known std); before that anything.
        var curves = Curves(steps, 2, (e, x, j) => j < k - 11 ? 10 + e : 4 + ((k - 1 - j) % 2 == 0 ? 1 : -1));
        var (rows, _) = Run([curves], steps);
        double mean = (6 * 5.0 + 5 * 3.0) / 11;
        double std = Math.Sqrt((6 * (5 - mean) * (5 - mean) + 5 * (3 - mean) * (3 - mean)) / 11);
        foreach (var row in rows)
        {
            Assert.Equal(mean, row["final_surprisal"], 12);
            Assert.Equal(std, row["within_run_var"], 12);
        }
        var (r3, _) = Run([curves], steps, options: new MetricsOptions { ChanceBits = Chance, Last = 3 });
        Assert.Equal(13.0 / 3, r3[0]["final_surprisal"], 12);
    }

    [Theory]
    [InlineData(20)]
    [InlineData(31)]
    [InlineData(40)]
    public void ShortIrregularRunsWorkInBothLayoutsAndPrecisions(int checkpoints)
    {
        var rng = new Random(checkpoints);
        var steps = new long[checkpoints];
        for (int i = 1; i < checkpoints; i++) steps[i] = steps[i - 1] + rng.Next(1, 3000) * i;
        var curves = Curves(steps, 11, (e, x, _) => 2 + 13 / (1 + Math.Exp(3 * (x - 2 - 0.2 * e))) + 0.2 * rng.NextDouble());
        var runs = new[] { curves, curves.Select(c => c.Select(v => v + 0.1 * rng.NextDouble()).ToArray()).ToArray() };
        var (a, ea) = Run(runs, steps, CurveLayout.CheckpointsFirst);
        var (b, eb) = Run(runs, steps, CurveLayout.ExamplesFirst);
        Assert.Equal(a.Length, b.Length);
        for (int i = 0; i < a.Length; i++) Assert.Equal(a[i].Values, b[i].Values);
        for (int i = 0; i < ea.Length; i++) Assert.Equal(ea[i].Values, eb[i].Values);
        // float32 files: the same metrics to float32 rounding of the inputs.
        var (c32, _) = Run(runs, steps, CurveLayout.ExamplesFirst, float32: true);
        for (int i = 0; i < a.Length; i++)
            foreach (var m in PerRunMetrics)
                Assert.True(Math.Abs(a[i][m] - c32[i][m]) < (m == "aoa" ? 0.05 : 1e-4), $"row {i} {m}: {a[i][m]} vs float32 {c32[i][m]}");
    }

    [Fact]
    public void NonFiniteValuesAreReportedWithRunExampleAndCheckpoint()
    {
        var steps = MetricsTestUtil.PaperSteps();
        var good = Curves(steps, 13, (e, x, _) => 10 - x);
        var bad = good.Select(c => c.ToArray()).ToArray();
        bad[9][17] = double.NaN;
        bad[11][3] = double.PositiveInfinity;
        foreach (var layout in new[] { CurveLayout.CheckpointsFirst, CurveLayout.ExamplesFirst })
        {
            var e = Assert.ThrowsAny<UserError>(() => Run([good, bad], steps, layout));
            Assert.Contains("run 1, example 9, checkpoint 17", e.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void SigmoidAoaRecoversTheCrossingOfAnExactLogistic()
    {
        var steps = MetricsTestUtil.PaperSteps();
        double[] mid = [1.9, 3.1, 4.4]; // the first lies before the first checkpoint: AoA clips to it
        double[] scale = [0.2, 0.35, 0.5];
        var curves = Curves(steps, 3, (e, x, _) => 15 - (15 - 3) / (1 + Math.Exp((mid[e] - x) / scale[e])));
        var (rows, _) = Run([curves], steps, options: new MetricsOptions { ChanceBits = Chance, Aoa = AoaMethod.Sigmoid });
        double x0 = Math.Log10(steps[1]), x1 = Math.Log10(steps[^1]);
        for (int e = 0; e < 3; e++)
        {
            double lo = 15 - 12 / (1 + Math.Exp((mid[e] - x1) / scale[e]));
            double hi0 = 15 - 12 / (1 + Math.Exp((mid[e] - x0) / scale[e]));
            double t = 0.5 * Chance + 0.5 * Math.Min(lo, hi0);
            double expected = Math.Clamp(mid[e] - scale[e] * Math.Log((t - 3) / (15 - t)), x0, x1);
            Assert.True(Math.Abs(rows[e]["aoa"] - expected) < 1e-6, $"example {e}: sigmoid AoA {rows[e]["aoa"]:R}, exact {expected:R}");
        }
    }

    [Fact]
    public void SigmoidFitIsRobustToNoiseAndFlatCurves()
    {
        var rng = new Random(17);
        var x = Enumerable.Range(0, 200).Select(i => 0.03 * i).ToArray();
        var y = x.Select(v => 14 - 10 / (1 + Math.Exp((3 - v) / 0.3)) + (rng.NextDouble() - 0.5)).ToArray();
        var fit = SigmoidFit.Fit(x, y);
        Assert.True(Math.Abs(fit.XMid - 3) < 0.1 && Math.Abs(fit.Upper - 14) < 0.3 && Math.Abs(fit.Lower - 4) < 0.3, $"{fit}");
        var flat = x.Select(_ => 7.0 + (rng.NextDouble() - 0.5) * 1e-3).ToArray();
        var f2 = SigmoidFit.Fit(x, flat);
        Assert.True(double.IsFinite(f2.Sse) && Math.Abs(f2.Evaluate(3) - 7) < 0.01, $"{f2}");
        double c = f2.Crossing(0.5 * Chance + 0.5 * 7, x[0], x[^1]);
        Assert.True(c >= x[0] && c <= x[^1]);
    }

    [Fact]
    public void SweepFolderIsReadInNameOrderAndUnfinishedRowsAreRefused()
    {
        var steps = MetricsTestUtil.PaperSteps(1e4);
        var dir = TestPaths.TempDir();
        var curves = Curves(steps, 6, (e, x, _) => 12 - x + e);
        foreach (var (name, shift) in new[] { ("seed-b", 1.0), ("seed-a", 0.0) })
        {
            var run = Path.Combine(dir, name);
            Directory.CreateDirectory(run);
            var flat = new float[steps.Length * 6];
            for (int k = 0; k < steps.Length; k++)
                for (int e = 0; e < 6; e++) flat[k * 6 + e] = (float)(curves[e][k] + shift);
            Npy.Write<float>(Path.Combine(run, "surprisal.npy"), flat, steps.Length, 6);
            Npy.Write<long>(Path.Combine(run, "steps.npy"), steps);
        }
        var runs = SweepFolder.Runs(dir);
        Assert.Equal(["seed-a", "seed-b"], runs.Select(r => r.Name));
        File.WriteAllText(Path.Combine(dir, "seed-b", "manifest.json"),
            """{"run": "seed-b", "rows": [{"step": 0, "status": "done"}, {"step": 100, "status": "pending"}, {"step": 200}]}""");
        var err = Assert.ThrowsAny<UserError>(() => SweepFolder.Runs(dir));
        Assert.Contains("2 checkpoint rows are not done", err.Message, StringComparison.Ordinal);
        Assert.Contains("pending", err.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void BadStepsAreUserErrors()
    {
        Assert.ThrowsAny<UserError>(() => MetricsInputs.CheckSteps("s", [0, 10, 10, 20], 4));
        Assert.ThrowsAny<UserError>(() => MetricsInputs.CheckSteps("s", [5, -1, 10], 3));
        Assert.ThrowsAny<UserError>(() => MetricsInputs.CheckSteps("s", [0, 10, 20], 4));
        Assert.ThrowsAny<UserError>(() => MetricsInputs.CheckSteps("s", [0, 10], 2));
        Assert.Equal(1, MetricsInputs.CheckSteps("s", [0, 10, 20], 3));
        Assert.Equal(0, MetricsInputs.CheckSteps("s", [3, 10, 20], 3));
    }

    /// <summary>Rows marked duplicate_of are left out of every run (one step axis) and the metrics equal those of files
    /// without them, in both layouts; --keep-duplicates keeps them.</summary>
    [Theory]
    [InlineData(CurveLayout.CheckpointsFirst)]
    [InlineData(CurveLayout.ExamplesFirst)]
    public void DuplicateRowsAreLeftOutAsIfAbsent(CurveLayout layout)
    {
        var steps = MetricsTestUtil.PaperSteps(1e4);
        var rng = new Random(Random.Shared.Next());
        var curves = Curves(steps, 7, (e, x, k) => 12 - x + e + rng.NextDouble());
        var dropped = new[] { 1, 4, steps.Length - 3 };
        var keep = Enumerable.Range(0, steps.Length).Where(i => !dropped.Contains(i)).ToArray();
        var dir = TestPaths.TempDir();
        var all = MetricsTestUtil.WriteRuns(Path.Combine(dir, "all").Also(d => Directory.CreateDirectory(d)), [curves, curves], layout, false);
        var fewer = MetricsTestUtil.WriteRuns(Path.Combine(dir, "fewer").Also(d => Directory.CreateDirectory(d)),
            [curves.Select(c => keep.Select(i => c[i]).ToArray()).ToArray(), curves.Select(c => keep.Select(i => c[i]).ToArray()).ToArray()], layout, false);
        var keptSteps = keep.Select(i => steps[i]).ToArray();
        var opts = new MetricsOptions { ChanceBits = Chance, BlockExamples = 3 };
        MetricsRunner.Run(all, layout, "steps", keptSteps, opts, Path.Combine(dir, "out-all"), keepCheckpoints: keep);
        MetricsRunner.Run(fewer, layout, "steps", keptSteps, opts, Path.Combine(dir, "out-fewer"));
        Assert.Equal(File.ReadAllText(Path.Combine(dir, "out-fewer", MetricsRunner.PerRunFile)), File.ReadAllText(Path.Combine(dir, "out-all", MetricsRunner.PerRunFile)));
        Assert.Equal(File.ReadAllBytes(Path.Combine(dir, "out-fewer", MetricsRunner.SmoothedFile)), File.ReadAllBytes(Path.Combine(dir, "out-all", MetricsRunner.SmoothedFile)));

        // From a sweep folder's manifests: a row duplicate in either run is left out of both.
        var sweep = Path.Combine(dir, "sweep");
        string Rows(params int[] dups) => "[" + string.Join(",", steps.Select((s, i) =>
            $"{{\"row\": {i}, \"step\": {s}, \"status\": \"done\"{(dups.Contains(i) ? $", \"duplicate_of\": {steps[i + 1]}" : "")}}}")) + "]";
        foreach (var (name, dups) in new[] { ("a", new[] { 1, 4 }), ("b", new[] { 4, steps.Length - 3 }) })
        {
            Directory.CreateDirectory(Path.Combine(sweep, name));
            Npy.Write<float>(Path.Combine(sweep, name, "surprisal.npy"), new float[steps.Length * 2], steps.Length, 2);
            Npy.Write<long>(Path.Combine(sweep, name, "steps.npy"), steps);
            File.WriteAllText(Path.Combine(sweep, name, "manifest.json"), $"{{\"rows\": {Rows(dups)}}}");
        }
        var runs = SweepFolder.Runs(sweep);
        Assert.Equal(keep, MetricsInputs.KeptCheckpoints(runs, steps, keepDuplicates: false, out var note));
        Assert.Contains("3 duplicate checkpoint row(s) left out", note, StringComparison.Ordinal);
        Assert.Contains($"a: step {steps[1]} = step {steps[2]}", note, StringComparison.Ordinal);
        Assert.Equal(Enumerable.Range(0, steps.Length), MetricsInputs.KeptCheckpoints(runs, steps, keepDuplicates: true, out note));
        Assert.Contains("kept (--keep-duplicates)", note, StringComparison.Ordinal);
    }
}

internal static class TestExtensions
{
    public static T Also<T>(this T x, Action<T> f)
    {
        f(x);
        return x;
    }
}

using LearningCurves.Analysis.Metrics;
using LearningCurves.Tests.Common;
using Xunit;
using LearningCurves.Formats.IO;
using LearningCurves.Formats.Curves;

namespace LearningCurves.Analysis.Tests;

/// <summary>The whole metrics path against pyGAM/numpy references (../shared/fixtures/gam-paper-grid).</summary>
public sealed class MetricsFixtureTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(CurveLayout.ExamplesFirst)]
    [InlineData(CurveLayout.CheckpointsFirst)]
    public void MetricsMatchReferences(CurveLayout layout)
    {
        var dir = TestPaths.SharedFixture("gam-paper-grid");
        var (curves, shape) = Npy.ReadDoubles(Path.Combine(dir, "curves.npy"));
        var (steps, _) = Npy.ReadInt64(Path.Combine(dir, "steps.npy"));
        int r = (int)shape[0], e = (int)shape[1], k = (int)shape[2], n = k - 1;
        var perRun = new double[r][][];
        for (int i = 0; i < r; i++)
        {
            perRun[i] = new double[e][];
            for (int ex = 0; ex < e; ex++) perRun[i][ex] = curves.AsSpan((i * e + ex) * k, k).ToArray();
        }
        var tmp = TestPaths.TempDir();
        var paths = MetricsTestUtil.WriteRuns(tmp, perRun, layout, float32: false);
        var outDir = Path.Combine(tmp, "out");
        // Blocks of 7 examples: several blocks and a ragged last one.
        var options = new MetricsOptions { ChanceBits = Math.Log2(50004), BlockExamples = 7, Threads = 2 };
        var summary = MetricsRunner.Run(paths, layout, "steps.npy", steps, options, outDir);
        Assert.Equal(r, summary.Runs);

        var final = Npy.ReadDoubles(Path.Combine(dir, "final_surprisal.npy")).Data;
        var within = Npy.ReadDoubles(Path.Combine(dir, "within_run_var.npy")).Data;
        var aoa = Npy.ReadDoubles(Path.Combine(dir, "aoa.npy")).Data;
        var forget = Npy.ReadDoubles(Path.Combine(dir, "forgettability.npy")).Data;
        var cross = Npy.ReadDoubles(Path.Combine(dir, "crossrun_var.npy")).Data;
        var gam = Npy.ReadDoubles(Path.Combine(dir, "gam_curves.npy")).Data;

        var (header, rows) = MetricsTestUtil.ReadCsv(Path.Combine(outDir, MetricsRunner.PerRunFile));
        Assert.Equal(MetricsRunner.PerRunHeader, header);
        Assert.Equal(r * e, rows.Length);
        var (smoothed, sshape) = Npy.ReadDoubles(Path.Combine(outDir, MetricsRunner.SmoothedFile));
        Assert.Equal(layout == CurveLayout.ExamplesFirst ? new long[] { r, e, n } : [r, n, e], sshape);
        // The grid step in x, to tell an AoA one grid point off from a real disagreement.
        double gridStep = (Math.Log10(steps[^1]) - Math.Log10(steps[1])) / 999;
        int bad = 0;
        for (int c = 0; c < r * e; c++)
        {
            int run = c / e, ex = c % e;
            var row = rows[c];
            Assert.Equal(run, (int)row["run"]);
            Assert.Equal(ex, (int)row["example"]);
            var why = new List<string>();
            if (Math.Abs(row["final_surprisal"] - final[c]) > 1e-9) why.Add($"final {row["final_surprisal"]:R} vs {final[c]:R}");
            if (Math.Abs(row["within_run_var"] - within[c]) > 1e-9) why.Add($"within {row["within_run_var"]:R} vs {within[c]:R}");
            if (Math.Abs(row["aoa"] - aoa[c]) > 1e-3 * gridStep) why.Add($"aoa {row["aoa"]:R} vs {aoa[c]:R} ({(row["aoa"] - aoa[c]) / gridStep:F2} grid steps)");
            if (Math.Abs(row["forgettability"] - forget[c]) > 1e-9) why.Add($"forgettability {row["forgettability"]:R} vs {forget[c]:R}");
            double maxS = 0;
            for (int i = 0; i < n; i++)
            {
                long idx = layout == CurveLayout.ExamplesFirst ? ((long)run * e + ex) * n + i : ((long)run * n + i) * e + ex;
                // smoothed.npy is float32: compare within its rounding.
                maxS = Math.Max(maxS, Math.Abs(smoothed[idx] - gam[(long)c * n + i]) / Math.Max(1, Math.Abs(gam[(long)c * n + i])));
            }
            if (maxS > 1e-6) why.Add($"smoothed off by {maxS:E2} (relative)");
            if (why.Count > 0)
            {
                bad++;
                output.WriteLine($"run {run} example {ex}: {string.Join("; ", why)}");
            }
        }
        var (eheader, erows) = MetricsTestUtil.ReadCsv(Path.Combine(outDir, MetricsRunner.ExamplesFile));
        Assert.Equal(MetricsRunner.ExamplesHeader, eheader);
        Assert.Equal(e, erows.Length);
        int badEx = 0;
        for (int ex = 0; ex < e; ex++)
        {
            double meanFinal = Enumerable.Range(0, r).Average(i => final[i * e + ex]);
            double meanAoa = Enumerable.Range(0, r).Average(i => aoa[i * e + ex]);
            if (Math.Abs(erows[ex]["final_surprisal"] - meanFinal) > 1e-9 || Math.Abs(erows[ex]["aoa"] - meanAoa) > 1e-9 || Math.Abs(erows[ex]["crossrun_var"] - cross[ex]) > 1e-9)
            {
                badEx++;
                output.WriteLine($"example {ex}: mean final {erows[ex]["final_surprisal"]:R} vs {meanFinal:R}, mean aoa {erows[ex]["aoa"]:R} vs {meanAoa:R}, crossrun {erows[ex]["crossrun_var"]:R} vs {cross[ex]:R}");
            }
        }
        output.WriteLine($"per-run rows differing: {bad}/{r * e}; examples differing: {badEx}/{e}");
        Assert.True(bad <= r * e / 100, $"{bad} of {r * e} per-run rows differ from the references (see output)");
        Assert.True(badEx <= e / 100, $"{badEx} of {e} examples differ from the references (see output)");
    }
}

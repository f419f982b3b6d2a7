using System.Globalization;
using LearningCurves.Analysis.Metrics;
using LearningCurves.Analysis.Statistics;
using LearningCurves.Engine;
using LearningCurves.Formats;
using LearningCurves.Runner.Cli;
using LearningCurves.Runner.Commands;
using LearningCurves.Tests.Common;
using Xunit;
using LearningCurves.Formats.IO;
using LearningCurves.Formats.Curves;

namespace LearningCurves.Runner.Tests;

/// <summary>`learning-curves metrics` end to end: flags, input forms, outputs.</summary>
[Collection(ConsoleTests.Name)]
public sealed class MetricsCommandTests
{
    // The command itself, not Program.Main: other tests capture the shared console, so these write nothing to it.
    // A UserError is what Program.Main turns into exit code 2 with one line on stderr.
    private static int Metrics(params string[] argv) => new MetricsCommand().Run(argv, TextWriter.Null);

    private static readonly long[] Steps = [0, 100, 250, 400, 800, 1500, 3000, 4000, 7000, 12000, 20000, 33000, 50000, 80000, 100000,
        150000, 220000, 300000, 420000, 600000, 800000, 1000000];

    // (runs, examples, checkpoints) float32 values: noisy drops, some with a late rise.
    private static float[][,] MakeCurves(int runs, int examples, int seed)
    {
        var rng = new Random(seed);
        var result = new float[runs][,];
        for (int r = 0; r < runs; r++)
        {
            var c = new float[examples, Steps.Length];
            for (int e = 0; e < examples; e++)
            {
                double mid = 2.5 + 3 * ((e * 7919) % 100) / 100.0, lo = 1 + e % 9;
                for (int k = 0; k < Steps.Length; k++)
                {
                    double x = Steps[k] > 0 ? Math.Log10(Steps[k]) : 0;
                    c[e, k] = (float)(lo + (15.6 - lo) / (1 + Math.Exp(3 * (x - mid))) + (e % 4 == 0 ? 0.8 * Math.Max(0, x - 5) : 0) + 0.3 * rng.NextDouble());
                }
            }
            result[r] = c;
        }
        return result;
    }

    private static string WriteRun(string dir, string name, float[,] c, bool examplesFirst)
    {
        int e = c.GetLength(0), k = c.GetLength(1);
        var flat = new float[e * k];
        for (int i = 0; i < e; i++)
            for (int j = 0; j < k; j++) flat[examplesFirst ? i * k + j : j * e + i] = c[i, j];
        string path = Path.Combine(dir, name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        if (examplesFirst) Npy.Write<float>(path, flat, e, k);
        else Npy.Write<float>(path, flat, k, e);
        return path;
    }

    [Fact]
    public void ExamplesFirstFilesWithTextStepsMatchTheSweepForm()
    {
        var dir = TestPaths.TempDir();
        var curves = MakeCurves(3, 45, 11);
        // Another tool's files: examples-first, steps as text.
        var files = curves.Select((c, r) => WriteRun(dir, $"other/run{r}.npy", c, examplesFirst: true)).ToList();
        string stepsTxt = Path.Combine(dir, "steps.txt");
        File.WriteAllLines(stepsTxt, Steps.Select(s => s.ToString(CultureInfo.InvariantCulture)));
        string outA = Path.Combine(dir, "outA");
        int rc = Metrics(["--curves", .. files, "--steps", stepsTxt, "--layout", "examples-first", "--vocab-size", "50004", "--out", outA]);
        Assert.Equal(0, rc);

        // The sweep's form of the same data: DIR/<run>/surprisal.npy checkpoints-first + steps.npy.
        var sweep = Path.Combine(dir, "sweep");
        for (int r = 0; r < curves.Length; r++)
        {
            WriteRun(sweep, $"seed{r}/surprisal.npy", curves[r], examplesFirst: false);
            Npy.Write<long>(Path.Combine(sweep, $"seed{r}", "steps.npy"), Steps);
        }
        string outB = Path.Combine(dir, "outB");
        rc = Metrics("--sweep", sweep, "--chance-bits", Math.Log2(50004).ToString("R", CultureInfo.InvariantCulture), "--out", outB);
        Assert.Equal(0, rc);

        foreach (var f in new[] { MetricsRunner.PerRunFile, MetricsRunner.ExamplesFile })
            Assert.Equal(File.ReadAllLines(Path.Combine(outA, f)), File.ReadAllLines(Path.Combine(outB, f)));
        var perRun = File.ReadAllLines(Path.Combine(outA, MetricsRunner.PerRunFile));
        Assert.Equal("run,example,final_surprisal,within_run_var,aoa,forgettability", perRun[0]);
        Assert.Equal(1 + 3 * 45, perRun.Length);
        Assert.StartsWith("2,44,", perRun[^1], StringComparison.Ordinal);
        var ex = File.ReadAllLines(Path.Combine(outA, MetricsRunner.ExamplesFile));
        Assert.Equal("example,final_surprisal,within_run_var,aoa,forgettability,crossrun_var", ex[0]);
        Assert.Equal(46, ex.Length);
        // Doubles round-trip: every printed value parses back to itself.
        foreach (var v in perRun[1].Split(',').Skip(2))
        {
            double d = double.Parse(v, CultureInfo.InvariantCulture);
            Assert.Equal(v, d.ToString("R", CultureInfo.InvariantCulture));
        }

        // smoothed.npy keeps each input's layout: (runs, examples, n) vs (runs, n, examples), same values.
        var a = Npy.ReadHeader(Path.Combine(outA, MetricsRunner.SmoothedFile));
        var b = Npy.ReadHeader(Path.Combine(outB, MetricsRunner.SmoothedFile));
        Assert.Equal(NpyDType.Float32, a.DType);
        Assert.Equal([3L, 45, Steps.Length - 1], a.Shape);
        Assert.Equal([3L, Steps.Length - 1, 45], b.Shape);
        var da = Npy.ReadDoubles(Path.Combine(outA, MetricsRunner.SmoothedFile)).Data;
        var db = Npy.ReadDoubles(Path.Combine(outB, MetricsRunner.SmoothedFile)).Data;
        int n = Steps.Length - 1;
        for (int r = 0; r < 3; r++)
            for (int e = 0; e < 45; e++)
                for (int i = 0; i < n; i++) Assert.Equal(da[(r * 45 + e) * n + i], db[(r * n + i) * 45 + e]);
        Assert.Empty(Directory.GetFiles(outA, "*.tmp"));
    }

    [Fact]
    public void A_full_disk_leaves_no_metrics_file_and_a_rerun_after_freeing_space_writes_them_all()
    {
        int seed = Random.Shared.Next();
        var rng = new Random(seed);
        var dir = Path.GetFullPath(TestPaths.TempDir());
        var curves = MakeCurves(3, 45, 12);
        var sweep = Path.Combine(dir, "sweep");
        for (int r = 0; r < curves.Length; r++)
        {
            WriteRun(sweep, $"seed{r}/surprisal.npy", curves[r], examplesFirst: false);
            Npy.Write<long>(Path.Combine(sweep, $"seed{r}", "steps.npy"), Steps);
        }
        string reference = Path.Combine(dir, "reference");
        Assert.Equal(0, Metrics("--sweep", sweep, "--out", reference));
        long total = MetricsOutputs.Sum(f => new FileInfo(Path.Combine(reference, f)).Length);
        string outDir = Path.Combine(dir, "out");
        // The faultfs shim (tests/faultfs) fails writes under OUT with ENOSPC past a budget short of what the outputs need.
        foreach (long budget in new[] { 0L, total - 1, rng.NextInt64(1, total - 1) })
        {
            var (code, stdout, stderr) = SweepTestData.Run(["metrics", "--sweep", sweep, "--out", outDir], new FaultFs(outDir, Budget: budget));
            Assert.True(code == 2, $"seed {seed}, budget {budget} of {total}: exit {code}\n{stdout}\n{stderr}");
            string line = stderr.Trim();
            Assert.DoesNotContain('\n', line);
            Assert.Contains(outDir, line, StringComparison.Ordinal);
            Assert.Contains("space", line, StringComparison.OrdinalIgnoreCase);
            Assert.Empty(Directory.Exists(outDir) ? Directory.GetFiles(outDir) : []); // nothing that looks complete, no temporary file
        }
        var (okCode, okOut, okErr) = SweepTestData.Run(["metrics", "--sweep", sweep, "--out", outDir]);
        Assert.True(okCode == 0, $"{okOut}\n{okErr}");
        foreach (var f in MetricsOutputs)
            Assert.True(File.ReadAllBytes(Path.Combine(reference, f)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(outDir, f))), $"{f} differs after the rerun");
    }

    private static readonly string[] MetricsOutputs = [MetricsRunner.PerRunFile, MetricsRunner.ExamplesFile, MetricsRunner.SmoothedFile];

    [Fact]
    public void SigmoidAoaRunsThroughTheCommand()
    {
        var dir = TestPaths.TempDir();
        var curves = MakeCurves(2, 10, 5);
        var files = curves.Select((c, r) => WriteRun(dir, $"r{r}.npy", c, examplesFirst: false)).ToList();
        string steps = Path.Combine(dir, "steps.npy");
        Npy.Write<long>(steps, Steps);
        string outDir = Path.Combine(dir, "out");
        Assert.Equal(0, Metrics(["--curves", .. files, "--steps", steps, "--aoa", "sigmoid", "--last", "5", "--out", outDir]));
        var aoas = NumericCsv.ReadColumns(Path.Combine(outDir, MetricsRunner.PerRunFile), ["aoa"])["aoa"];
        Assert.Equal(2 * 10, aoas.Length);
        double x0 = Math.Log10(Steps[1]), x1 = Math.Log10(Steps[^1]);
        foreach (double aoa in aoas) Assert.InRange(aoa, x0, x1);
    }

    [Fact]
    public void BadInvocationsAreUserErrors()
    {
        var dir = TestPaths.TempDir();
        var curves = MakeCurves(2, 6, 1);
        var good = WriteRun(dir, "good.npy", curves[0], examplesFirst: false);
        string steps = Path.Combine(dir, "steps.npy");
        Npy.Write<long>(steps, Steps);
        string outDir = Path.Combine(dir, "out");

        UserError Parse(params string[] argv) => Assert.ThrowsAny<UserError>(() => MetricsCommand.Parse(Args.Parse("metrics", new MetricsCommand().Options, argv)));
        Assert.Contains("not both", Parse("--curves", good, "--steps", steps, "--vocab-size", "5", "--chance-bits", "3", "--out", outDir).Message, StringComparison.Ordinal);
        Assert.Contains("--steps", Parse("--curves", good, "--out", outDir).Message, StringComparison.Ordinal);
        Assert.Contains("--out", Parse("--curves", good, "--steps", steps).Message, StringComparison.Ordinal);
        Assert.Contains("--layout", Parse("--curves", good, "--steps", steps, "--layout", "rows", "--out", outDir).Message, StringComparison.Ordinal);
        Assert.Contains("--aoa", Parse("--curves", good, "--steps", steps, "--aoa", "loess", "--out", outDir).Message, StringComparison.Ordinal);
        Assert.Contains("--bogus", Parse("--curves", good, "--steps", steps, "--bogus", "1", "--out", outDir).Message, StringComparison.Ordinal);
        Assert.Contains("--sweep", Parse("--out", outDir).Message, StringComparison.Ordinal);

        // Shape mismatch between runs, a wrong step count, a NaN: exit code 2, no outputs left behind.
        var small = WriteRun(dir, "small.npy", MakeCurves(1, 5, 2)[0], examplesFirst: false);
        Assert.ThrowsAny<UserError>(() => Metrics("--curves", good, small, "--steps", steps, "--out", outDir));
        string shortSteps = Path.Combine(dir, "short.txt");
        File.WriteAllLines(shortSteps, ["0", "10", "20"]);
        Assert.ThrowsAny<UserError>(() => Metrics("--curves", good, "--steps", shortSteps, "--out", outDir));
        var nan = (float[,])curves[1].Clone();
        nan[4, 13] = float.NaN;
        var bad = WriteRun(dir, "bad.npy", nan, examplesFirst: false);
        var err = Assert.ThrowsAny<UserError>(() => MetricsRunner.Run([good, bad], CurveLayout.CheckpointsFirst, steps, Steps, new MetricsOptions(), outDir));
        Assert.Contains("run 1, example 4, checkpoint 13", err.Message, StringComparison.Ordinal);
        Assert.ThrowsAny<UserError>(() => Metrics("--curves", good, bad, "--steps", steps, "--out", outDir));
        Assert.False(File.Exists(Path.Combine(outDir, MetricsRunner.PerRunFile)));
        Assert.False(File.Exists(Path.Combine(outDir, MetricsRunner.SmoothedFile)));
        Assert.Empty(Directory.Exists(outDir) ? Directory.GetFiles(outDir) : []);
    }
}

using System.Runtime.InteropServices;
using LearningCurves.Formats.IO;
using LearningCurves.Runner.Cli;

namespace LearningCurves.Runner.Benchmarks;

/// <summary>The synthetic suite `bench metrics` and `bench analyze` time the analysis on: runs of float32 learning
/// curves over the paper's checkpoint schedule, with the options that size it.</summary>
internal static class SyntheticSuite
{
    public static CliOption Examples { get; } = new("examples", "N", "examples per run (default 1000000)");

    public static CliOption Checkpoints { get; } = new("checkpoints", "K", "checkpoints per run (default 222)");

    public static CliOption Runs { get; } = new("runs", "R", "runs (default 5)");

    /// <summary>`--examples` (default 1,000,000; 20,000 with --quick), at least <paramref name="min"/>.</summary>
    public static int ReadExamples(Args a, bool quick, int min) => a.GetInt("examples", quick ? 20_000 : 1_000_000, min);

    public static int ReadCheckpoints(Args a) => a.GetInt("checkpoints", 222, 3);

    public static int ReadRuns(Args a) => a.GetInt("runs", 5, 1, 100);

    /// <summary>The paper's exponential schedule thinned or extended to <paramref name="k"/> checkpoints from 0 to 1e6.</summary>
    internal static long[] Steps(int k)
    {
        const double s0 = 100, s1 = 25000, t1 = 1e6;
        // n runs over [0, nMax] so that the last step is ~1e6, spaced evenly in n.
        double nMax = t1 / (s1 - s0) * Math.Log(1 + 1e6 * (s1 - s0) / (s0 * t1));
        var steps = new long[k];
        for (int i = 0; i < k; i++)
        {
            double n = nMax * i / (k - 1);
            steps[i] = (long)Math.Round(s0 * t1 / (s1 - s0) * (Math.Exp(n * (s1 - s0) / t1) - 1));
            if (i > 0 && steps[i] <= steps[i - 1]) steps[i] = steps[i - 1] + 1;
        }
        return steps;
    }

    /// <summary>Sigmoid drops with per-example level, midpoint and noise, some with a late rise; float32 [K, E], written row by row.</summary>
    internal static void WriteCurves(string path, long[] steps, int examples, int seed)
    {
        int k = steps.Length;
        var rng = new Random(seed);
        var hi = new float[examples];
        var lo = new float[examples];
        var mid = new float[examples];
        var width = new float[examples];
        var rise = new float[examples];
        var noise = new float[examples];
        for (int e = 0; e < examples; e++)
        {
            hi[e] = 15.6f + (float)rng.NextDouble();
            lo[e] = (float)(12 * rng.NextDouble());
            mid[e] = (float)(2 + 3 * rng.NextDouble());
            width[e] = (float)(0.1 + 0.5 * rng.NextDouble());
            rise[e] = rng.NextDouble() < 0.2 ? (float)(2 * rng.NextDouble()) : 0;
            noise[e] = (float)(0.05 + 0.5 * rng.NextDouble());
        }
        var header = Npy.BuildHeader(NpyDType.Float32, [k, examples]);
        using var file = new StagedFile(path);
        using (var fs = new FileStream(file.TempPath, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
        {
            fs.Write(header);
            var row = new float[examples];
            for (int j = 0; j < k; j++)
            {
                double x = steps[j] > 0 ? Math.Log10(steps[j]) : 0;
                for (int e = 0; e < examples; e++)
                {
                    double z = (x - mid[e]) / width[e];
                    double v = lo[e] + (hi[e] - lo[e]) / (1 + Math.Exp(z)) + rise[e] * Math.Max(0, x - 5);
                    // Cheap symmetric noise: sum of two uniforms.
                    v += noise[e] * (rng.NextDouble() + rng.NextDouble() - 1);
                    row[e] = (float)v;
                }
                fs.Write(MemoryMarshal.AsBytes(row.AsSpan()));
            }
        }
        file.Commit();
    }
}

using System.Diagnostics;
using System.Globalization;
using LearningCurves.Analysis.Umap;
using LearningCurves.Runner.Cli;

namespace LearningCurves.Runner.Benchmarks;

/// <summary>
/// `bench umap`: UMAP of synthetic smoothed learning curves (decreasing sigmoids in bits with per-example midpoint,
/// steepness, floor and noise, drawn from a few families), timed per stage, with the trustworthiness of a sample.
/// </summary>
public sealed class UmapBenchmark : IBenchmark
{
    public string Name => "umap";

    public string Description => "UMAP of synthetic curves: --curves N (1000000; 20000 with --quick) --points K (64) [--epochs E] [--trust-sample S (2000)]";

    public IReadOnlyList<CliOption> Options { get; } =
    [
        CliOption.Switch("quick", "20000 curves instead of 1000000"),
        new("curves", "N", "curves (default 1000000)"),
        new("points", "K", "points per curve (default 64)"),
        new("epochs", "E", "layout epochs (default: UMAP's, 200 above 10,000 curves)"),
        new("trust-sample", "S", "curves in the exact trustworthiness sample (default 2000; 0 skips it)"),
    ];

    public int Run(Args args)
    {
        ArgumentNullException.ThrowIfNull(args);
        bool quick = args.Switch("quick");
        int n = args.GetInt("curves", quick ? 20_000 : 1_000_000, 10);
        int k = args.GetInt("points", 64, 2, 10_000);
        int? epochs = args.Has("epochs") ? args.GetInt("epochs", 200, 1, 100_000) : null;
        int sample = args.GetInt("trust-sample", 2000, 0, 20_000);
        args.RejectUnknown(maxPositional: 1);

        var gen = Stopwatch.StartNew();
        var x = Synthetic(n, k, 42);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"umap: {n:N0} synthetic curves x {k} points ({x.Length * 4.0 / (1 << 20):F0} MiB) made in {gen.Elapsed.TotalSeconds:F1} s; {Environment.ProcessorCount} threads"));
        var clock = new CpuClock();
        var y = Umap.Embed(x, n, k, new UmapOptions { Seed = 1, Epochs = epochs }, out var t);
        double total = clock.WallSeconds;
        double cpu = clock.CpuSeconds;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"umap: total {total:F1} s wall ({cpu:F1} CPU s) = {(t.ExactKnn ? "exact" : "approximate")} 15-NN graph {t.Knn:F1} s + fuzzy set {t.Graph:F1} s + layout {t.Layout:F1} s ({t.Epochs} epochs, {t.Edges:N0} edges); peak working set {Process.GetCurrentProcess().PeakWorkingSet64 / (1 << 20)} MiB"));
        if (sample > 0)
        {
            int m = Math.Min(sample, n);
            var rng = new Random(3);
            var pick = Enumerable.Range(0, n).OrderBy(_ => rng.Next()).Take(m).ToArray();
            var xs = new float[m * k];
            var ys = new float[m * 2];
            for (int i = 0; i < m; i++)
            {
                Array.Copy(x, (long)pick[i] * k, xs, (long)i * k, k);
                ys[2 * i] = y[2 * pick[i]];
                ys[2 * i + 1] = y[2 * pick[i] + 1];
            }
            double trust = Umap.Trustworthiness(xs, k, ys, m, Math.Min(10, m / 2 - 1));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"umap: trustworthiness (k=10) on a random sample of {m} curves: {trust:F4}"));
        }
        return 0;
    }

    /// <summary>Curves 15.6 - (15.6 - floor) / (1 + exp(-s (x - m))) over x in [0, 1] plus noise, from 6 families.</summary>
    internal static float[] Synthetic(int n, int k, int seed)
    {
        var x = new float[(long)n * k];
        Parallel.For(0, (n + 4095) / 4096, block =>
        {
            var rng = new Random(seed + block);
            for (int i = block * 4096; i < Math.Min(n, (block + 1) * 4096); i++)
            {
                int fam = rng.Next(6);
                double mid = 0.15 + 0.13 * fam + 0.03 * rng.NextDouble();
                double steep = 8 + 4 * (fam % 3) + rng.NextDouble();
                double floor = 2 + fam + rng.NextDouble();
                for (int c = 0; c < k; c++)
                {
                    double t = (double)c / (k - 1);
                    x[(long)i * k + c] = (float)(15.6 - (15.6 - floor) / (1 + Math.Exp(-steep * (t - mid))) + 0.1 * (rng.NextDouble() - 0.5));
                }
            }
        });
        return x;
    }
}

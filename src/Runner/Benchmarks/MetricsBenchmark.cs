using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using LearningCurves.Analysis.Metrics;
using LearningCurves.Engine;
using LearningCurves.Runner.Cli;
using LearningCurves.Runner.Commands;
using LearningCurves.Formats.IO;

namespace LearningCurves.Runner.Benchmarks;

/// <summary>
/// `bench metrics`: writes synthetic float32 curve files (checkpoints-first, the paper's 222-checkpoint schedule by
/// default) to a temp folder and times the full `metrics` command path on them, with peak memory.
/// </summary>
public sealed class MetricsBenchmark : IBenchmark
{
    public string Name => "metrics";

    public string Description => "learning-curve metrics on synthetic float32 curves: --examples N (1000000; 20000 with --quick) --checkpoints K (222) --runs R (5) [--aoa gam|sigmoid] [--threads N] [--dir DIR: keep the files there]";

    public IReadOnlyList<CliOption> Options { get; } =
    [
        CliOption.Switch("quick", "20000 examples instead of 1000000"),
        new("examples", "N", "examples per run (default 1000000)"),
        new("checkpoints", "K", "checkpoints per run (default 222)"),
        new("runs", "R", "runs (default 5)"),
        new("aoa", "gam|sigmoid", "age-of-acquisition method (default gam)"),
        SharedOptions.Threads,
        new("dir", "DIR", "keep the synthetic curves and metrics there (default: a temporary folder)"),
    ];

    public int Run(Args args)
    {
        ArgumentNullException.ThrowIfNull(args);
        bool quick = args.Switch("quick");
        int examples = args.GetInt("examples", quick ? 20_000 : 1_000_000, 1);
        int checkpoints = args.GetInt("checkpoints", 222, 3);
        int runs = args.GetInt("runs", 5, 1, 100);
        string aoa = args.GetChoice("aoa", "gam", "gam", "sigmoid");
        int threads = SharedOptions.ReadThreads(args);
        string? dirArg = args.Get("dir");
        args.RejectUnknown(maxPositional: 1);

        string dir = dirArg ?? Path.Combine(Path.GetTempPath(), $"lc-bench-metrics-{Environment.ProcessId}");
        Directory.CreateDirectory(dir);
        try
        {
            var gen = Stopwatch.StartNew();
            var steps = Steps(checkpoints);
            string stepsPath = Path.Combine(dir, "steps.npy");
            Npy.Write<long>(stepsPath, steps);
            var files = new List<string>();
            for (int r = 0; r < runs; r++)
            {
                string path = Path.Combine(dir, $"run{r}.npy");
                WriteSynthetic(path, steps, examples, seed: 1234 + r);
                files.Add(path);
            }
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"bench metrics: wrote {runs} x float32 [{checkpoints}, {examples}] to {dir} in {gen.Elapsed.TotalSeconds:F1} s"));

            var argv = new List<string> { "--curves" };
            argv.AddRange(files);
            argv.AddRange(["--steps", stepsPath, "--aoa", aoa, "--threads", threads.ToString(CultureInfo.InvariantCulture), "--out", Path.Combine(dir, "out")]);
            var cmd = new MetricsCommand();
            var before = Process.GetCurrentProcess().TotalProcessorTime;
            var clock = Stopwatch.StartNew();
            int rc = cmd.Run([.. argv]);
            clock.Stop();
            var cpu = Process.GetCurrentProcess().TotalProcessorTime - before;
            long curves = (long)examples * runs;
            double peakGb = PeakRssBytes() / 1e9;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"bench metrics: {curves} curves x {checkpoints} checkpoints, aoa {aoa}, {threads} threads: {clock.Elapsed.TotalSeconds:F1} s wall, {cpu.TotalSeconds:F1} s CPU, "
                + $"{clock.Elapsed.TotalMilliseconds * 1000 / curves:F2} us/curve wall, peak RSS {peakGb:F2} GB"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"bench metrics: pyGAM at ~57 ms/curve would take {curves * 0.057 / 3600:F1} h on one core (x{57e3 / (clock.Elapsed.TotalMilliseconds * 1000 / curves):F0})"));
            return rc;
        }
        finally
        {
            // A folder the user named is theirs to keep; the temp one goes.
            if (dirArg is null) Directory.Delete(dir, recursive: true);
        }
    }

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
    internal static void WriteSynthetic(string path, long[] steps, int examples, int seed)
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

    /// <summary>Peak resident set size (VmHWM) of this process on Linux, else the peak working set.</summary>
    internal static long PeakRssBytes()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                    return long.Parse(line[6..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
        }
        catch (IOException)
        {
            // not Linux: fall through
        }
        return Process.GetCurrentProcess().PeakWorkingSet64;
    }
}

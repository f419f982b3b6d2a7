using System.Diagnostics;
using System.Globalization;
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
        SyntheticSuite.Examples,
        SyntheticSuite.Checkpoints,
        SyntheticSuite.Runs,
        new("aoa", "gam|sigmoid", "age-of-acquisition method (default gam)"),
        SharedOptions.Threads,
        new("dir", "DIR", "keep the synthetic curves and metrics there (default: a temporary folder)"),
    ];

    public int Run(Args args)
    {
        ArgumentNullException.ThrowIfNull(args);
        bool quick = args.Switch("quick");
        int examples = SyntheticSuite.ReadExamples(args, quick, min: 1);
        int checkpoints = SyntheticSuite.ReadCheckpoints(args);
        int runs = SyntheticSuite.ReadRuns(args);
        string aoa = args.GetChoice("aoa", "gam", "gam", "sigmoid");
        int threads = SharedOptions.ReadThreads(args);
        string? dirArg = args.Get("dir");
        args.RejectUnknown(maxPositional: 1);

        using var folder = new BenchFolder(dirArg, Name);
        string dir = folder.Path;
        var gen = Stopwatch.StartNew();
        var steps = SyntheticSuite.Steps(checkpoints);
        string stepsPath = Path.Combine(dir, "steps.npy");
        Npy.Write<long>(stepsPath, steps);
        var files = new List<string>();
        for (int r = 0; r < runs; r++)
        {
            string path = Path.Combine(dir, $"run{r}.npy");
            SyntheticSuite.WriteCurves(path, steps, examples, seed: 1234 + r);
            files.Add(path);
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"bench metrics: wrote {runs} x float32 [{checkpoints}, {examples}] to {dir} in {gen.Elapsed.TotalSeconds:F1} s"));

        var argv = new List<string> { "--curves" };
        argv.AddRange(files);
        argv.AddRange(["--steps", stepsPath, "--aoa", aoa, "--threads", threads.ToString(CultureInfo.InvariantCulture), "--out", Path.Combine(dir, "out")]);
        var cmd = new MetricsCommand();
        var clock = new CpuClock();
        int rc = cmd.Run([.. argv]);
        var wall = clock.Wall;
        double cpu = clock.CpuSeconds;
        long curves = (long)examples * runs;
        double peakGb = CpuClock.PeakRssBytes() / 1e9;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"bench metrics: {curves} curves x {checkpoints} checkpoints, aoa {aoa}, {threads} threads: {wall.TotalSeconds:F1} s wall, {cpu:F1} s CPU, "
            + $"{wall.TotalMilliseconds * 1000 / curves:F2} us/curve wall, peak RSS {peakGb:F2} GB"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"bench metrics: pyGAM at ~57 ms/curve would take {curves * 0.057 / 3600:F1} h on one core (x{57e3 / (wall.TotalMilliseconds * 1000 / curves):F0})"));
        return rc;
    }
}

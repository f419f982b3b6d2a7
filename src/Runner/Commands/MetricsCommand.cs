using System.Globalization;
using LearningCurves.Analysis.Metrics;
using LearningCurves.Engine;
using LearningCurves.Formats;
using LearningCurves.Runner.Cli;
using LearningCurves.Formats.Curves;
using LearningCurves.Formats.Runs;

namespace LearningCurves.Runner.Commands;

/// <summary>`learning-curves metrics`: the learning-curve metrics of a sweep or of curve files (see MetricsRunner).</summary>
public sealed class MetricsCommand : ICommand
{
    public string Name => "metrics";

    public string Usage => "metrics (--sweep DIR | --curves A.npy [B.npy ...] --steps FILE [--layout checkpoints-first|examples-first]) "
        + "[--vocab-size V | --chance-bits X] [--last K] [--aoa gam|sigmoid] [--threads N] [--keep-duplicates] --out DIR";

    public IReadOnlyList<CliOption> Options { get; } =
    [
        new("sweep", "DIR", "a sweep's output folder: every DIR/<run>/surprisal.npy with its steps.npy"),
        new("curves", "A.npy...", "one 2-D .npy of surprisals per run (repeatable; with --steps)"),
        new("steps", "FILE", "one step per checkpoint: text, one integer per line, or a 1-D integer .npy"),
        new("layout", "checkpoints-first|examples-first", "axis order of --curves (default checkpoints-first)"),
        new("vocab-size", "V", "chance = log2(V) (default 50257)"),
        new("chance-bits", "X", "chance surprisal in bits, instead of --vocab-size"),
        SharedOptions.Last,
        new("aoa", "gam|sigmoid", "age of acquisition from the smoothed curve or a sigmoid fit (default gam)"),
        SharedOptions.Threads,
        SharedOptions.KeepDuplicates,
        new("out", "DIR", "where per_run.csv, examples.csv and smoothed.npy go (required)"),
    ];

    public int Run(string[] args) => Run(args, Console.Out);

    /// <summary>Runs with progress lines going to <paramref name="log"/> (tests pass TextWriter.Null: the console is shared).</summary>
    internal int Run(string[] args, TextWriter log)
    {
        var a = Args.Parse(Name, Options, args);
        var job = Parse(a);
        if (job.Note is not null) log.WriteLine($"metrics: {job.Note}");
        var summary = MetricsRunner.Run(job.Curves, job.Layout, job.StepsPath, job.Steps, job.Options, job.Out, log, job.Keep);
        Report(summary, job.Out, log);
        return 0;
    }

    /// <summary><see cref="Keep"/>: the checkpoint rows used (null: all); <see cref="Steps"/> are theirs. <see cref="Note"/>:
    /// what was left out, for the output.</summary>
    internal sealed record Job(IReadOnlyList<string> Curves, CurveLayout Layout, string StepsPath, long[] Steps, MetricsOptions Options, string Out,
        IReadOnlyList<int>? Keep = null, string? Note = null);

    internal static Job Parse(Args a)
    {
        string? sweep = a.Get("sweep");
        var curves = a.GetFiles("curves");
        string? stepsPath = a.Get("steps");
        string? layoutText = a.Get("layout");
        string? vocab = a.Get("vocab-size");
        string? chanceText = a.Get("chance-bits");
        int last = SharedOptions.ReadLast(a);
        string aoa = a.GetChoice("aoa", "gam", "gam", "sigmoid");
        int threads = SharedOptions.ReadThreads(a);
        string outDir = a.Require("out");
        bool keepDuplicates = a.Switch("keep-duplicates");
        a.RejectUnknown();

        if (vocab is not null && chanceText is not null) throw new UserError("metrics: give --vocab-size or --chance-bits, not both");
        double chance = Math.Log2(MetricsOptions.Gpt2VocabSize);
        if (vocab is not null)
        {
            if (!long.TryParse(vocab, NumberStyles.Integer, CultureInfo.InvariantCulture, out long v) || v < 2)
                throw new UserError($"metrics: --vocab-size must be an integer >= 2 (got '{vocab}')");
            chance = Math.Log2(v);
        }
        if (chanceText is not null)
        {
            if (!double.TryParse(chanceText, NumberStyles.Float, CultureInfo.InvariantCulture, out chance) || !double.IsFinite(chance))
                throw new UserError($"metrics: --chance-bits must be a number (got '{chanceText}')");
        }
        var options = new MetricsOptions
        {
            Last = last,
            ChanceBits = chance,
            Aoa = aoa == "sigmoid" ? AoaMethod.Sigmoid : AoaMethod.Gam,
            Threads = threads,
        };

        if (sweep is not null)
        {
            if (curves.Count > 0 || stepsPath is not null || layoutText is not null)
                throw new UserError("metrics: --sweep reads the sweep's own curves and steps; drop --curves/--steps/--layout");
            var runs = SweepFolder.Runs(sweep);
            long[]? steps = null;
            foreach (var run in runs)
            {
                var s = MetricsInputs.ReadSteps(run.Steps);
                if (steps is null) steps = s;
                else if (!s.AsSpan().SequenceEqual(steps))
                    throw UserError.InFile(run.Steps, $"steps differ from those of run '{runs[0].Name}'");
            }
            // Rows the sweep marked duplicate_of (an earlier branch serving a later step's weights) are left out by default.
            var keep = MetricsInputs.KeptCheckpoints(runs, steps!, keepDuplicates, out string? note);
            return new Job(runs.Select(r => r.Curves).ToList(), CurveLayout.CheckpointsFirst, runs[0].Steps, keep.Select(i => steps![i]).ToArray(),
                options, outDir, keep.Length == steps!.Length ? null : keep, note);
        }
        if (curves.Count == 0) throw new UserError("metrics: give --sweep DIR or --curves FILE... --steps FILE");
        if (stepsPath is null) throw new UserError("metrics: --curves needs --steps FILE (one step per line, or a .npy of integers)");
        var layout = (layoutText ?? "checkpoints-first") switch
        {
            "checkpoints-first" => CurveLayout.CheckpointsFirst,
            "examples-first" => CurveLayout.ExamplesFirst,
            _ => throw new UserError($"metrics: --layout must be checkpoints-first or examples-first (got '{layoutText}')"),
        };
        return new Job(curves, layout, stepsPath, MetricsInputs.ReadSteps(stepsPath), options, outDir);
    }

    internal static void Report(MetricsSummary s, string outDir, TextWriter w)
    {
        w.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"metrics: {s.Runs} run(s), {s.Examples} examples, {s.Checkpoints} checkpoints ({s.SmoothedPoints} with step > 0), chance {s.ChanceBits:F4} bits, {s.Elapsed.TotalSeconds:F1} s"));
        long total = s.LambdaCounts.Sum();
        if (total > 0)
        {
            var lambdas = Analysis.Smoothing.SplineSmoother.PaperLambdas;
            var parts = s.LambdaCounts.Select((c, i) => string.Create(CultureInfo.InvariantCulture, $"{(i < lambdas.Count ? lambdas[i] : double.NaN):G3}:{100.0 * c / total:F1}%"));
            w.WriteLine($"metrics: lambda chosen by GCV: {string.Join(' ', parts)}");
        }
        w.WriteLine($"metrics: wrote {Path.Combine(outDir, MetricsRunner.PerRunFile)}, {MetricsRunner.ExamplesFile}, {MetricsRunner.SmoothedFile}");
    }
}

using System.Globalization;
using LearningCurves.Engine;
using LearningCurves.Engine.EvalSets;
using LearningCurves.Engine.Sweeps;
using LearningCurves.Kernels;
using LearningCurves.Runner.Cli;
using LearningCurves.Formats.EvalSets;
using LearningCurves.Formats;

namespace LearningCurves.Runner.Commands;

/// <summary>`learning-curves sweep`: scores an eval set at every checkpoint of several runs into curve files.</summary>
public sealed class SweepCommand : ICommand
{
    /// <summary>Exit code when at least one checkpoint could not be scored.</summary>
    public const int ExitSomeFailed = 3;

    public string Name => "sweep";

    public string Usage => "sweep --run NAME=DIR[@REV[:STEP],...] [--run ...] --eval DIR --out DIR [--backend auto|cpu|cuda] "
        + "[--precision fp32|tf32|bf16] [--shard I/N] [--batch SEQUENCES] [--json]";

    public IReadOnlyList<CliOption> Options { get; } =
    [
        new("run", "NAME=DIR", "a run and its folder of step-named checkpoints (checkpoint-N, stepN, step-N, stepN-tokensT, stage1-stepN-tokensT, ckpt_N) (repeatable)"),
        new("eval", "DIR", "the eval set made by eval-set (required)"),
        new("out", "DIR", "curve files go to OUT/NAME/surprisal.npy, steps.npy, manifest.json (required)"),
        CliOption.Backend("auto"),
        new("precision", "fp32|tf32|bf16", "arithmetic of the weight GEMMs (default fp32)"),
        new("shard", "I/N", "score only this process's share of the rows, 0 <= I < N (default 0/1)"),
        new("batch", "SEQUENCES", "sequences per forward pass (default: what fits the GPU's free memory on CUDA, 16 on the CPU)"),
        CliOption.Switch("json", "progress as JSON lines on standard output"),
    ];

    public int Run(string[] args)
    {
        var a = Args.Parse(Name, Options, args);
        var runs = a.GetAll("run").Select(ParseRun).ToList();
        string evalDir = a.Require("eval");
        string outDir = a.Require("out");
        var (backendName, precision) = BackendChoice.Read(a, "auto");
        var (shard, shards) = ParseShard(a.Get("shard"));
        int? batch = a.Has("batch") ? a.GetInt("batch", 16, 1, 1 << 20) : null;
        bool json = a.Switch("json");
        a.RejectUnknown();
        if (runs.Count == 0) throw new UserError("sweep: give at least one --run NAME=DIR");

        var eval = EvalSet.Load(evalDir);
        var mode = json ? ProgressMode.Json : Console.IsOutputRedirected ? ProgressMode.Lines : ProgressMode.Bar;
        using var backend = BackendFactory.Create(backendName, precision, json ? Console.Error : Console.Out);
        var reporter = new SweepReporter(Console.Out, mode);
        var driver = new SweepDriver(backend, new HfCheckpointReader(), reporter);
        var summary = driver.Run(new SweepOptions
        {
            OutDir = outDir,
            EvalSet = eval,
            Runs = runs,
            ShardIndex = shard,
            ShardCount = shards,
            BatchSequences = batch ?? 16,
            // Before anything is written: each model's weights and one sequence must fit the card (one line otherwise).
            CheckFits = (cfg, dir) => BatchSizing.CheckFits(backend, cfg, untiedHead: !cfg.TieWordEmbeddings, eval.SeqLen, dir),
            // Sized before any checkpoint is on the card: the one model's weights held back (BatchSizing.ResidentBytes).
            ChooseBatch = batch is null
                ? (cfg, t) => BatchSizing.ChooseBeforeUpload(backend, cfg, untiedHead: !cfg.TieWordEmbeddings, t)
                : null,
        });
        reporter.Summary(summary);
        return summary.Failed > 0 ? ExitSomeFailed : 0;
    }

    private static SweepRunSpec ParseRun(string s)
    {
        int eq = s.IndexOf('=', StringComparison.Ordinal);
        if (eq <= 0 || eq == s.Length - 1) throw new UserError($"sweep: --run must be NAME=DIR (got '{s}')");
        var path = s[(eq + 1)..];
        // "NAME=~/..." reaches us unexpanded from shells that only expand a leading tilde.
        if (path.StartsWith("~/", StringComparison.Ordinal))
            path = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), path[2..]);
        return new SweepRunSpec(s[..eq], path);
    }

    /// <summary>"I/N" with 0 &lt;= I &lt; N; absent means 0/1.</summary>
    internal static (int Index, int Count) ParseShard(string? s)
    {
        if (s is null) return (0, 1);
        int slash = s.IndexOf('/', StringComparison.Ordinal);
        if (slash > 0
            && int.TryParse(s.AsSpan(0, slash), NumberStyles.None, CultureInfo.InvariantCulture, out int i)
            && int.TryParse(s.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out int n)
            && n >= 1 && i < n)
            return (i, n);
        throw new UserError($"sweep: --shard must be I/N with 0 <= I < N, e.g. 0/4 (got '{s}')");
    }
}

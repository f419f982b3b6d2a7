using LearningCurves.Engine;
using LearningCurves.Engine.Sweeps;
using LearningCurves.Runner.Cli;
using LearningCurves.Formats;

namespace LearningCurves.Runner.Commands;

/// <summary>`learning-curves slurm-script`: prints an sbatch job array that runs a sweep as N shards.</summary>
public sealed class SlurmScriptCommand : ICommand
{
    public string Name => "slurm-script";

    public string Usage => "slurm-script --run NAME=DIR [--run NAME=DIR ...] --eval DIR --out DIR --shards N [--gpus-per-task G] "
        + "[--cpus-per-task C] [--time HH:MM:SS] [--partition P] [--backend auto|cpu|cuda] [--precision fp32|tf32|bf16] "
        + "[--job-name NAME] [--logs DIR] [--command 'CMD']";

    public IReadOnlyList<CliOption> Options { get; } =
    [
        new("run", "NAME=DIR", "a run and its checkpoint folder, as sweep takes it (repeatable)"),
        new("eval", "DIR", "the eval set (required)"),
        new("out", "DIR", "the sweep's output folder (required)"),
        new("shards", "N", "array tasks; task I runs sweep --shard I/N (required)"),
        new("gpus-per-task", "G", "GPUs per task; Slurm sets CUDA_VISIBLE_DEVICES (default 0)"),
        new("cpus-per-task", "C", "CPUs per task (default: the cluster's)"),
        new("time", "HH:MM:SS", "time limit per task (default: the partition's)"),
        new("partition", "P", "Slurm partition (default: the cluster's)"),
        new("backend", "auto|cpu|cuda", "backend of each task (default cuda with GPUs, else cpu)"),
        CliOption.Precision,
        new("job-name", "NAME", "Slurm job name (default curves)"),
        new("logs", "DIR", "per-task logs NAME-%A_%a.out (default OUT/slurm-logs)"),
        new("command", "'CMD'", "how tasks start learning-curves (default: this runner by absolute path)"),
    ];

    public int Run(string[] args)
    {
        var a = Args.Parse(Name, Options, args);
        var runs = a.GetAll("run").Select(ParseRun).ToList();
        string evalDir = a.Require("eval");
        string outDir = a.Require("out");
        if (a.Get("shards") is null) throw new UserError($"{Name}: --shards N is required (the number of array tasks)");
        int shards = a.GetInt("shards", 1, 1, SlurmScripts.MaxShards);
        int gpus = a.GetInt("gpus-per-task", 0, 0, 64);
        int? cpus = a.Has("cpus-per-task") ? a.GetInt("cpus-per-task", 1, 1, 4096) : null;
        var options = new SlurmScriptOptions
        {
            Runs = runs,
            EvalDir = evalDir,
            OutDir = outDir,
            Shards = shards,
            GpusPerTask = gpus,
            CpusPerTask = cpus,
            Time = a.Get("time"),
            Partition = a.Get("partition"),
            // Absent: the script picks cuda with GPUs, else cpu.
            Backend = a.Has("backend") ? BackendChoice.Backend(a, "auto") : null,
            Precision = BackendChoice.PrecisionName(a),
            JobName = a.Get("job-name", "curves"),
            LogDir = a.Get("logs"),
            Command = a.Get("command"),
        };
        a.RejectUnknown();
        var script = SlurmScripts.Build(options);
        // Slurm does not create the folder of --output; a task whose log cannot be opened fails without a word.
        Directory.CreateDirectory(script.LogDir);
        Console.Out.Write(script.Text);
        Console.Error.WriteLine($"slurm-script: {shards} task(s) over {script.Checkpoints} checkpoints; logs in {script.LogDir}");
        return 0;
    }

    private SweepRunSpec ParseRun(string s)
    {
        int eq = s.IndexOf('=', StringComparison.Ordinal);
        if (eq <= 0 || eq == s.Length - 1) throw new UserError($"{Name}: --run must be NAME=DIR (got '{s}')");
        return new SweepRunSpec(s[..eq], s[(eq + 1)..]);
    }
}

using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;
using LearningCurves.Formats;
using LearningCurves.Formats.EvalSets;

namespace LearningCurves.Engine.Sweeps;

/// <summary>What `learning-curves slurm-script` is asked for.</summary>
public sealed class SlurmScriptOptions
{
    public required IReadOnlyList<SweepRunSpec> Runs { get; init; }
    public required string EvalDir { get; init; }
    public required string OutDir { get; init; }

    /// <summary>N: the array has tasks 0..N-1, task I runs `sweep --shard I/N`.</summary>
    public required int Shards { get; init; }

    /// <summary>0: no GPU requested.</summary>
    public int GpusPerTask { get; init; }

    /// <summary>Null: Slurm's default (one CPU).</summary>
    public int? CpusPerTask { get; init; }

    /// <summary>HH:MM:SS, or null for the partition's default limit.</summary>
    public string? Time { get; init; }

    public string? Partition { get; init; }

    /// <summary>auto, cpu or cuda; null: cuda when GPUs are requested, else cpu.</summary>
    public string? Backend { get; init; }

    public string Precision { get; init; } = "fp32";

    public string JobName { get; init; } = "curves";

    /// <summary>Where the per-task logs go; null: OUT/slurm-logs.</summary>
    public string? LogDir { get; init; }

    /// <summary>
    /// The shell words that start the runner, inserted into the script as given (e.g. `learning-curves` when it is on
    /// the cluster's PATH, or `apptainer exec img.sif learning-curves`). Null: this process's own runner, by absolute path.
    /// </summary>
    public string? Command { get; init; }
}

/// <summary>The sbatch script printed by `learning-curves slurm-script`, and the log folder it needs.</summary>
public sealed record SlurmScript(string Text, string LogDir, int Checkpoints);

/// <summary>
/// Writes a Slurm job array for a sharded sweep: task I of N runs `sweep --shard I/N` with the same runs, eval set,
/// output, backend and precision. Everything is checked here, before a script is printed: a script that fails on the
/// cluster an hour later in the queue is worse than an error now.
/// </summary>
public static partial class SlurmScripts
{
    /// <summary>Slurm's default MaxArraySize is 1001, so task ids 0..1000.</summary>
    public const int MaxShards = 1001;

    [GeneratedRegex(@"^(\d{1,4}):([0-5]\d):([0-5]\d)$", RegexOptions.CultureInvariant)]
    private static partial Regex TimeLimit();

    [GeneratedRegex(@"^[A-Za-z0-9_.\-]+$", RegexOptions.CultureInvariant)]
    private static partial Regex PlainWord();

    public static SlurmScript Build(SlurmScriptOptions o)
    {
        ArgumentNullException.ThrowIfNull(o);
        const string cmd = "slurm-script";
        if (o.Runs.Count == 0) throw new UserError($"{cmd}: give at least one --run NAME=DIR");
        if (o.Shards < 1 || o.Shards > MaxShards)
            throw new UserError($"{cmd}: --shards must be in 1..{MaxShards} (Slurm's default MaxArraySize), got {o.Shards}");
        if (o.GpusPerTask < 0) throw new UserError($"{cmd}: --gpus-per-task must be at least 0, got {o.GpusPerTask}");
        if (o.CpusPerTask is < 1) throw new UserError($"{cmd}: --cpus-per-task must be at least 1, got {o.CpusPerTask}");
        if (o.Time is not null && !TimeLimit().IsMatch(o.Time))
            throw new UserError($"{cmd}: --time must be HH:MM:SS, e.g. 04:00:00 (got '{o.Time}')");
        if (o.Partition is not null && !PlainWord().IsMatch(o.Partition))
            throw new UserError($"{cmd}: --partition must be a partition name of letters, digits, '_', '.', '-' (got '{o.Partition}')");
        if (!PlainWord().IsMatch(o.JobName))
            throw new UserError($"{cmd}: --job-name must be letters, digits, '_', '.', '-' (got '{o.JobName}')");
        string backend = o.Backend ?? (o.GpusPerTask > 0 ? "cuda" : "cpu");
        if (backend is not ("auto" or "cpu" or "cuda"))
            throw new UserError($"{cmd}: --backend must be one of auto|cpu|cuda (got '{backend}')");
        if (backend == "cpu" && o.GpusPerTask > 0)
            throw new UserError($"{cmd}: --gpus-per-task {o.GpusPerTask} with --backend cpu would hold GPUs that no task uses");
        if (o.Precision is not ("fp32" or "tf32" or "bf16"))
            throw new UserError($"{cmd}: --precision must be one of fp32|tf32|bf16 (got '{o.Precision}')");
        if (o.Command is { } c && (c.Trim().Length == 0 || c.Contains('\n', StringComparison.Ordinal)))
            throw new UserError($"{cmd}: --command must be one line of shell words that start learning-curves");

        // Every path absolute: the tasks start wherever Slurm puts them.
        var runs = new List<(SweepRunSpec Spec, int Count)>();
        foreach (var r in o.Runs)
        {
            if (r.Name.Length == 0 || r.Name is "." or ".." || r.Name.IndexOfAny(['/', '\\']) >= 0)
                throw new UserError($"{cmd}: run name '{r.Name}' must be a plain folder name");
            if (runs.Any(x => x.Spec.Name == r.Name)) throw new UserError($"{cmd}: run name '{r.Name}' given twice");
            string path = Path.GetFullPath(r.Path);
            runs.Add((new SweepRunSpec(r.Name, path), CheckpointSeries.Discover(path).Count));
        }
        string evalDir = Path.GetFullPath(o.EvalDir);
        if (!File.Exists(Path.Combine(evalDir, EvalSet.ManifestFile)))
            throw UserError.InFile(evalDir, Directory.Exists(evalDir) ? $"not an eval set (no {EvalSet.ManifestFile})" : "eval set folder not found");
        string outDir = Path.GetFullPath(o.OutDir);
        string logDir = Path.GetFullPath(o.LogDir ?? Path.Combine(outDir, "slurm-logs"));
        var clash = runs.FirstOrDefault(x => Path.Combine(outDir, x.Spec.Name) == logDir);
        if (clash.Spec is not null)
            throw new UserError($"{cmd}: run '{clash.Spec.Name}' would write its curve files into the log folder {logDir}; give --logs DIR");
        int total = runs.Sum(x => x.Count);
        if (o.Shards > total)
            throw new UserError($"{cmd}: --shards {o.Shards} is more than the {total} checkpoints of the runs; tasks beyond {total} would have nothing to do");

        string command = o.Command ?? string.Join(' ', CurrentRunner().Select(Quote));
        var s = new StringBuilder();
        void L(string line) => s.Append(line).Append('\n');
        int perTask = (total + o.Shards - 1) / o.Shards;
        L("#!/bin/bash");
        L($"# Written by `learning-curves slurm-script` ({EngineInfo.Version}): {runs.Count} run(s), {total} checkpoints,");
        L($"# {o.Shards} array task(s) of at most {perTask} checkpoint(s); task I runs `sweep --shard I/{o.Shards}`.");
        L("# Submit:               sbatch THIS_FILE");
        L("# Redo one task K:      sbatch --array=K THIS_FILE   (it skips the rows already done)");
        L($"# Progress:             learning-curves status {Quote(outDir)}");
        L($"#SBATCH --job-name={o.JobName}");
        L($"#SBATCH --array=0-{o.Shards - 1}");
        L("#SBATCH --ntasks=1");
        if (o.CpusPerTask is int cpus) L($"#SBATCH --cpus-per-task={cpus}");
        // Slurm sets CUDA_VISIBLE_DEVICES to the task's GPUs, so the sweep's device 0 is the task's own GPU.
        if (o.GpusPerTask > 0) L($"#SBATCH --gpus-per-task={o.GpusPerTask}");
        if (o.Time is not null) L($"#SBATCH --time={o.Time}");
        if (o.Partition is not null) L($"#SBATCH --partition={o.Partition}");
        // %A is the array's job id, %a the task id: one log per task; a requeued or resubmitted task appends to it.
        L($"#SBATCH --output={SbatchPath(Path.Combine(logDir, $"{o.JobName}-%A_%a.out"))}");
        L("#SBATCH --open-mode=append");
        // A task requeued after a node failure or pre-emption resumes: rows already done are verified and skipped.
        L("#SBATCH --requeue");
        L("");
        L("set -euo pipefail");
        L($"N={o.Shards}");
        L(": \"${SLURM_ARRAY_TASK_ID:?run this script with sbatch: it is a job array}\"");
        L("echo \"curves: task ${SLURM_ARRAY_TASK_ID}/${N}, job ${SLURM_JOB_ID:-}, on ${HOSTNAME}, restart ${SLURM_RESTART_COUNT:-0}, CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES:-}\"");
        // exec: the task's exit code is the sweep's (3 when a checkpoint could not be read), and scancel's signal reaches it.
        L($"exec {command} sweep \\");
        foreach (var (spec, _) in runs) L($"  --run {Quote($"{spec.Name}={spec.Path}")} \\");
        L($"  --eval {Quote(evalDir)} \\");
        L($"  --out {Quote(outDir)} \\");
        L($"  --backend {backend} --precision {o.Precision} \\");
        L("  --shard \"${SLURM_ARRAY_TASK_ID}/${N}\" --json");
        return new SlurmScript(s.ToString(), logDir, total);
    }

    /// <summary>
    /// The command line that starts this very runner: the app host itself, or `dotnet` and the entry assembly when the
    /// runner was started as `dotnet learning-curves.dll`. Both absolute, so the script works without any PATH.
    /// </summary>
    public static IReadOnlyList<string> CurrentRunner()
    {
        string exe = Environment.ProcessPath ?? throw new UserError("slurm-script: cannot tell this process's executable; give --command");
        string name = Path.GetFileNameWithoutExtension(exe);
        if (!string.Equals(name, "dotnet", StringComparison.Ordinal)) return [exe];
        string? dll = Assembly.GetEntryAssembly()?.Location;
        if (string.IsNullOrEmpty(dll)) throw new UserError("slurm-script: cannot tell the runner's assembly; give --command");
        return [exe, dll];
    }

    /// <summary>One bash word: plain words as they are, anything else in single quotes.</summary>
    public static string Quote(string s)
    {
        ArgumentNullException.ThrowIfNull(s);
        if (s.Length > 0 && s.All(ch => char.IsAsciiLetterOrDigit(ch) || "_-./=:,+@%".Contains(ch, StringComparison.Ordinal))) return s;
        return "'" + s.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
    }

    /// <summary>
    /// An #SBATCH path is not read by a shell: no quotes, and it must not hold white space (sbatch splits the line) or
    /// '%' other than its own patterns (%A, %a).
    /// </summary>
    private static string SbatchPath(string path)
    {
        string dir = Path.GetDirectoryName(path)!;
        if (dir.Any(ch => char.IsWhiteSpace(ch) || ch is '%' or '\\' or '\'' or '"'))
            throw UserError.InFile(dir, "the log folder's path may not hold white space, quotes, '%' or '\\' (Slurm reads it unquoted); give --logs DIR");
        return path;
    }
}

using System.Globalization;

namespace LearningCurves.Formats.Runs;

/// <summary>One run of a sweep output folder: its name, folder, curve file and steps file.</summary>
public sealed record SweepRun(string Name, string Dir, string Curves, string Steps)
{
    /// <summary>The run's manifest.json (the sweep's record of its checkpoints and eval set).</summary>
    public string Manifest => Path.Combine(Dir, SweepFolder.ManifestFile);

    /// <summary>Where the text generated along training lies (<see cref="GenerationsFile"/>).</summary>
    public string Generations => Path.Combine(Dir, SweepFolder.GenerationsFile);
}

/// <summary>
/// The layout of a sweep output folder, as the sweep writes it and the later stages read it: one folder per run with
/// <c>surprisal.npy</c> (float32 (checkpoints, examples), see <see cref="CurveFileWriter"/>), <c>steps.npy</c> (int64),
/// <c>manifest.json</c> (<see cref="RunManifest"/>) and, once generation along training ran, <c>generations.jsonl</c>.
/// </summary>
public static class SweepFolder
{
    public const string SurprisalFile = "surprisal.npy";
    public const string StepsFile = "steps.npy";
    public const string ManifestFile = "manifest.json";
    public const string GenerationsFile = "generations.jsonl";

    /// <summary>
    /// The runs of a sweep output folder: every DIR/&lt;run&gt;/surprisal.npy, in ordinal name order, with the folder's
    /// steps.npy. Where DIR/&lt;run&gt;/manifest.json exists and has a "rows" array, every row's "status" must be
    /// "done"; the error lists the rows that are not.
    /// </summary>
    public static IReadOnlyList<SweepRun> Runs(string dir)
    {
        ArgumentNullException.ThrowIfNull(dir);
        if (!Directory.Exists(dir)) throw UserError.InFile(dir, "no such folder");
        var runs = Directory.GetDirectories(dir)
            .Where(d => File.Exists(Path.Combine(d, SurprisalFile)))
            .Order(StringComparer.Ordinal)
            .ToList();
        if (runs.Count == 0) throw UserError.InFile(dir, "no run folders with surprisal.npy");
        var result = new List<SweepRun>();
        foreach (var run in runs)
        {
            string steps = Path.Combine(run, StepsFile);
            if (!File.Exists(steps)) throw UserError.InFile(run, "has surprisal.npy but no steps.npy");
            CheckManifest(Path.Combine(run, ManifestFile));
            result.Add(new SweepRun(Path.GetFileName(run), run, Path.Combine(run, SurprisalFile), steps));
        }
        return result;
    }

    private static void CheckManifest(string path)
    {
        if (!File.Exists(path)) return;
        if (RunManifest.Read(path)?.Rows is not { } rows) return;
        var notDone = new List<string>();
        for (int i = 0; i < rows.Count; i++)
        {
            if (rows[i].Status != RowStatus.Done)
                notDone.Add($"{i} (step {rows[i].Step.ToString(CultureInfo.InvariantCulture)}): {RowStatusJsonConverter.Name(rows[i].Status)}");
        }
        if (notDone.Count > 0)
        {
            string list = string.Join("; ", notDone.Take(20)) + (notDone.Count > 20 ? $"; and {notDone.Count - 20} more" : "");
            throw UserError.InFile(path, $"{notDone.Count} checkpoint rows are not done: {list}");
        }
    }
}

using System.Text.Json;
using System.Text.Json.Nodes;

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
        if (RunManifest.Read(path)?.Root["rows"] is not JsonArray rows) return;
        var notDone = new List<string>();
        for (int i = 0; i < rows.Count; i++)
        {
            string? status = rows[i] is JsonObject row && row["status"] is JsonValue v && v.TryGetValue(out string? s) ? s : null;
            if (status != "done")
            {
                string step = rows[i] is JsonObject r && r["step"] is JsonValue sv ? $" (step {sv.ToJsonString()})" : "";
                notDone.Add($"{i}{step}: {status ?? "no status"}");
            }
        }
        if (notDone.Count > 0)
        {
            string list = string.Join("; ", notDone.Take(20)) + (notDone.Count > 20 ? $"; and {notDone.Count - 20} more" : "");
            throw UserError.InFile(path, $"{notDone.Count} checkpoint rows are not done: {list}");
        }
    }
}

/// <summary>
/// A run's manifest.json as the later stages read it: the eval set the sweep scored and the checkpoint rows (step,
/// weights folder). The sweep (Engine's RunStore) writes it; this reads only what Analysis and generation need.
/// </summary>
public sealed class RunManifest
{
    private RunManifest(string path, JsonObject root)
    {
        Path = path;
        Root = root;
    }

    public string Path { get; }

    /// <summary>The whole JSON object.</summary>
    public JsonObject Root { get; }

    /// <summary>eval_set.path: the eval set folder the sweep scored, when recorded.</summary>
    public string? EvalSetPath => Root["eval_set"]?["path"]?.GetValue<string>();

    /// <summary>The checkpoint rows (step, weights folder) in row order; null when the manifest lists none.</summary>
    public IReadOnlyList<(long Step, string Path)>? Checkpoints =>
        Root["rows"] is JsonArray rows ? rows.Select(n => (n!["step"]!.GetValue<long>(), n["path"]!.GetValue<string>())).ToList() : null;

    /// <summary>Reads <paramref name="path"/>; null when there is no such file or it is not a JSON object.</summary>
    public static RunManifest? Read(string path)
    {
        if (!File.Exists(path)) return null;
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(File.ReadAllText(path));
        }
        catch (JsonException e)
        {
            throw UserError.InFile(path, $"invalid JSON ({e.Message})");
        }
        return root is JsonObject o ? new RunManifest(path, o) : null;
    }
}

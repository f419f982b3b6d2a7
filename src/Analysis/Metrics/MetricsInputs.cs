using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using LearningCurves.Engine;
using LearningCurves.Engine.IO;

namespace LearningCurves.Analysis.Metrics;

/// <summary>Finding and checking the inputs of the metrics: step lists and sweep folders.</summary>
public static class MetricsInputs
{
    /// <summary>
    /// Reads training steps: a .npy of integers, or a text file with one integer per line (blank lines and lines
    /// starting with '#' ignored).
    /// </summary>
    public static long[] ReadSteps(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path)) throw UserError.InFile(path, "no such file");
        if (path.EndsWith(".npy", StringComparison.OrdinalIgnoreCase))
        {
            var (data, shape) = Npy.ReadInt64(path);
            if (shape.Length != 1) throw UserError.InFile(path, $"steps must be a 1-D array, found shape ({string.Join(", ", shape)})");
            return data;
        }
        var steps = new List<long>();
        int lineNo = 0;
        foreach (var line in File.ReadLines(path))
        {
            lineNo++;
            var t = line.Trim();
            if (t.Length == 0 || t.StartsWith('#')) continue;
            if (!long.TryParse(t, NumberStyles.Integer, CultureInfo.InvariantCulture, out long v))
                throw UserError.InFile(path, $"line {lineNo}: '{t}' is not an integer step");
            steps.Add(v);
        }
        return [.. steps];
    }

    /// <summary>
    /// Checks steps for use as the x axis: non-negative and strictly increasing (so a step 0 can only be first), with
    /// at least two positive steps. Returns the index of the first positive step (0 or 1).
    /// </summary>
    public static int CheckSteps(string path, long[] steps, int checkpoints)
    {
        ArgumentNullException.ThrowIfNull(steps);
        if (steps.Length != checkpoints)
            throw UserError.InFile(path, $"{steps.Length} steps for {checkpoints} checkpoints in the curves");
        for (int i = 0; i < steps.Length; i++)
        {
            if (steps[i] < 0) throw UserError.InFile(path, $"step {steps[i]} (checkpoint {i}) is negative");
            if (i > 0 && steps[i] <= steps[i - 1])
                throw UserError.InFile(path, $"steps must increase: checkpoint {i} has step {steps[i]} after {steps[i - 1]}");
        }
        int first = steps.Length > 0 && steps[0] == 0 ? 1 : 0;
        if (steps.Length - first < 2) throw UserError.InFile(path, "need at least two checkpoints with a positive step");
        return first;
    }

    /// <summary>
    /// The runs of a sweep output folder: every DIR/&lt;run&gt;/surprisal.npy, in ordinal name order, with the folder's
    /// steps.npy. Where DIR/&lt;run&gt;/manifest.json exists and has a "rows" array, every row's "status" must be
    /// "done"; the error lists the rows that are not.
    /// </summary>
    public static IReadOnlyList<(string Name, string Curves, string Steps)> SweepRuns(string dir)
    {
        ArgumentNullException.ThrowIfNull(dir);
        if (!Directory.Exists(dir)) throw UserError.InFile(dir, "no such folder");
        var runs = Directory.GetDirectories(dir)
            .Where(d => File.Exists(Path.Combine(d, "surprisal.npy")))
            .Order(StringComparer.Ordinal)
            .ToList();
        if (runs.Count == 0) throw UserError.InFile(dir, "no run folders with surprisal.npy");
        var result = new List<(string, string, string)>();
        foreach (var run in runs)
        {
            string steps = Path.Combine(run, "steps.npy");
            if (!File.Exists(steps)) throw UserError.InFile(run, "has surprisal.npy but no steps.npy");
            CheckManifest(Path.Combine(run, "manifest.json"));
            result.Add((Path.GetFileName(run), Path.Combine(run, "surprisal.npy"), steps));
        }
        return result;
    }

    private static void CheckManifest(string path)
    {
        if (!File.Exists(path)) return;
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(File.ReadAllText(path));
        }
        catch (JsonException e)
        {
            throw UserError.InFile(path, $"invalid JSON ({e.Message})");
        }
        if (root is not JsonObject obj || obj["rows"] is not JsonArray rows) return;
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

    /// <summary>
    /// The checkpoint rows to use from a sweep's runs: all, or (<paramref name="keepDuplicates"/> false) all but the rows
    /// any run's manifest marks <c>"duplicate_of"</c> (a checkpoint serving a later step's weights; see the sweep). The
    /// same rows are left out of every run so the runs keep one step axis. <paramref name="note"/> says what was left
    /// out, or is null when nothing was.
    /// </summary>
    public static int[] KeptCheckpoints(IReadOnlyList<(string Name, string Curves, string Steps)> runs, long[] steps, bool keepDuplicates, out string? note)
    {
        ArgumentNullException.ThrowIfNull(runs);
        ArgumentNullException.ThrowIfNull(steps);
        note = null;
        var dropped = new SortedDictionary<int, List<string>>();
        foreach (var run in runs)
        {
            string path = Path.Combine(Path.GetDirectoryName(run.Curves)!, "manifest.json");
            if (!File.Exists(path)) continue;
            JsonNode? root;
            try
            {
                root = JsonNode.Parse(File.ReadAllText(path));
            }
            catch (JsonException e)
            {
                throw UserError.InFile(path, $"invalid JSON ({e.Message})");
            }
            if (root is not JsonObject obj || obj["rows"] is not JsonArray rows) continue;
            for (int i = 0; i < rows.Count && i < steps.Length; i++)
            {
                if (rows[i] is JsonObject row && row["duplicate_of"] is JsonValue d && d.TryGetValue(out long of))
                {
                    if (!dropped.TryGetValue(i, out var l)) dropped[i] = l = new List<string>();
                    l.Add(string.Create(CultureInfo.InvariantCulture, $"{run.Name}: step {steps[i]} = step {of}"));
                }
            }
        }
        if (dropped.Count == 0) return Enumerable.Range(0, steps.Length).ToArray();
        var what = string.Join("; ", dropped.Values.SelectMany(v => v).Take(12)) + (dropped.Values.Sum(v => v.Count) > 12 ? "; ..." : "");
        if (keepDuplicates)
        {
            note = $"{dropped.Count} checkpoint row(s) serve another step's weights ({what}) and were kept (--keep-duplicates)";
            return Enumerable.Range(0, steps.Length).ToArray();
        }
        note = $"{dropped.Count} duplicate checkpoint row(s) left out ({what}): they serve a later step's weights; --keep-duplicates keeps them";
        return Enumerable.Range(0, steps.Length).Where(i => !dropped.ContainsKey(i)).ToArray();
    }
}

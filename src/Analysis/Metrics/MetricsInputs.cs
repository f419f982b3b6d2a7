using System.Globalization;
using LearningCurves.Formats;
using LearningCurves.Formats.IO;
using LearningCurves.Formats.Runs;

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
        foreach (var (lineNo, t) in ListFile.Entries(path))
        {
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
    /// The checkpoint rows to use from a sweep's runs: all, or (<paramref name="keepDuplicates"/> false) all but the rows
    /// any run's manifest marks <c>"duplicate_of"</c> (a checkpoint serving a later step's weights; see the sweep). The
    /// same rows are left out of every run so the runs keep one step axis. <paramref name="note"/> says what was left
    /// out, or is null when nothing was.
    /// </summary>
    public static int[] KeptCheckpoints(IReadOnlyList<SweepRun> runs, long[] steps, bool keepDuplicates, out string? note)
    {
        ArgumentNullException.ThrowIfNull(runs);
        ArgumentNullException.ThrowIfNull(steps);
        note = null;
        var dropped = new SortedDictionary<int, List<string>>();
        foreach (var run in runs)
        {
            if (RunManifest.Read(run.Manifest)?.Rows is not { } rows) continue;
            for (int i = 0; i < rows.Count && i < steps.Length; i++)
            {
                if (rows[i].DuplicateOf is long of)
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

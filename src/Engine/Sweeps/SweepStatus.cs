using System.Text.Json.Nodes;
using LearningCurves.Formats;
using LearningCurves.Formats.Runs;

namespace LearningCurves.Engine.Sweeps;

/// <summary>The state of one run of a sweep, merged from its manifest and row records.</summary>
public sealed record RunStatus(string Run, int Total, int Done, int Failed, int Pending, IReadOnlyList<RowRecord> Failures,
    IReadOnlyList<RowRecord> Duplicates)
{
    public JsonObject ToJson() => new()
    {
        ["run"] = Run,
        ["total"] = Total,
        ["done"] = Done,
        ["failed"] = Failed,
        ["pending"] = Pending,
        ["failures"] = new JsonArray(Failures.Select(f => (JsonNode)f.ToJson()).ToArray()),
        ["duplicates"] = new JsonArray(Duplicates.Select(f => (JsonNode)f.ToJson()).ToArray()),
    };
}

/// <summary>Reads the status of every run in a sweep's output folder.</summary>
public static class SweepStatus
{
    public static IReadOnlyList<RunStatus> Read(string outDir)
    {
        if (!Directory.Exists(outDir)) throw UserError.InFile(outDir, "folder not found");
        var result = new List<RunStatus>();
        foreach (var dir in Directory.EnumerateDirectories(outDir).Order(StringComparer.Ordinal))
        {
            var store = new RunStore(dir);
            if (!store.Exists) continue;
            var rows = store.ReadRows();
            var failures = rows.Where(r => r.Status == RowStatus.Failed).ToList();
            int done = rows.Count(r => r.Status == RowStatus.Done);
            var duplicates = rows.Where(r => r.DuplicateOf is not null).ToList();
            result.Add(new RunStatus(Path.GetFileName(dir), rows.Length, done, failures.Count, rows.Length - done - failures.Count, failures, duplicates));
        }
        if (result.Count == 0) throw UserError.InFile(outDir, $"no sweep runs here (no */{RunStore.ManifestFile})");
        return result;
    }
}

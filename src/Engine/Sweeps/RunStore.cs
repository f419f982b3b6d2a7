using System.Globalization;
using LearningCurves.Formats;
using LearningCurves.Formats.IO;
using LearningCurves.Formats.Curves;
using LearningCurves.Formats.Runs;

namespace LearningCurves.Engine.Sweeps;

/// <summary>
/// One run's output folder: <c>surprisal.npy</c> float32 (checkpoints, examples), <c>steps.npy</c> int64
/// (checkpoints), <c>manifest.json</c>, and <c>rows/NNNNNN.json</c>.
///
/// Concurrency (sharding): each row belongs to exactly one process, which writes that row's bytes and then its own
/// record file <c>rows/NNNNNN.json</c> (write temp, fsync, rename, fsync folder). Those record files are the source of
/// truth. <c>manifest.json</c> is the merged view: after recording a row, a process takes an exclusive lock on
/// <c>.lock</c>, merges every record file into the manifest's row list and replaces the manifest atomically. Because
/// each process writes its record before it merges, the last merge sees every record, so the manifest is complete when
/// all processes have finished; readers (resume, status) still merge the record files themselves, so a manifest left
/// one row behind by a kill between the two steps is harmless and repaired by the next run. Creating the files also
/// happens under the lock, so N shards starting together create them once.
/// </summary>
public sealed class RunStore
{
    public const string SurprisalFile = SweepFolder.SurprisalFile;
    public const string StepsFile = SweepFolder.StepsFile;
    public const string ManifestFile = SweepFolder.ManifestFile;
    public const string RowsDir = "rows";
    private const string LockFile = ".lock";

    public RunStore(string dir)
    {
        Dir = Path.GetFullPath(dir);
    }

    public string Dir { get; }

    public string ManifestPath => Path.Combine(Dir, ManifestFile);

    public string SurprisalPath => Path.Combine(Dir, SurprisalFile);

    public string RowPath(int row) => Path.Combine(Dir, RowsDir, row.ToString("D6", CultureInfo.InvariantCulture) + ".json");

    public bool Exists => File.Exists(ManifestPath);

    /// <summary>
    /// Creates the run's files when absent (every row pending, the curve file NaN), or checks that the existing ones
    /// were started for the same eval set, checkpoints, backend and precision (refused otherwise, before any work).
    /// <paramref name="header"/> is the manifest without its "rows".
    /// </summary>
    public void Prepare(RunManifest header, IReadOnlyList<Checkpoint> checkpoints, int examples)
    {
        ArgumentNullException.ThrowIfNull(header);
        ArgumentNullException.ThrowIfNull(checkpoints);
        Directory.CreateDirectory(Path.Combine(Dir, RowsDir));
        using var _ = FileLock.Acquire(Path.Combine(Dir, LockFile));
        if (File.Exists(ManifestPath))
        {
            CheckCompatible(ReadManifest(), header, checkpoints);
            // Manifests are only written under this lock, so any temporary one left here is from a killed process.
            foreach (var f in Directory.EnumerateFiles(Dir, $".{ManifestFile}.*.tmp")) File.Delete(f);
            // A process killed between a row's record and the manifest update left the manifest behind its records:
            // bring the merged view up to date now, even when no row is left to compute.
            RefreshManifestLocked();
            return;
        }
        // No manifest: nothing was ever recorded as done here (the manifest is written before any row), so start over.
        foreach (var f in Directory.EnumerateFiles(Path.Combine(Dir, RowsDir))) File.Delete(f);
        foreach (var f in Directory.EnumerateFiles(Dir, ".*.tmp")) File.Delete(f);
        File.Delete(SurprisalPath);
        CurveFileWriter.Create(SurprisalPath, checkpoints.Count, examples);
        Npy.Write<long>(Path.Combine(Dir, StepsFile), checkpoints.Select(c => c.Step).ToArray(), checkpoints.Count);
        Durable.SyncDirectory(Dir);
        var m = header with { Rows = [.. checkpoints.Select((c, i) => new RowRecord(i, c.Step, c.Path, RowStatus.Pending))] };
        Durable.ReplaceFile(ManifestPath, m.ToFileText());
    }

    private void CheckCompatible(RunManifest old, RunManifest now, IReadOnlyList<Checkpoint> checkpoints)
    {
        string? oldHash = old.EvalSet?.Hash;
        string? newHash = now.EvalSet?.Hash;
        if (oldHash != newHash)
            throw UserError.InFile(ManifestPath, $"the eval set changed since these curve files were started ({oldHash} then, {newHash} now); use the original eval set or a new --out");
        var oldRows = old.Rows ?? throw UserError.InFile(ManifestPath, "lacks 'rows'");
        var oldCps = oldRows.Select(r => (r.Step, r.Path)).ToList();
        if (oldCps.Count != checkpoints.Count || !oldCps.SequenceEqual(checkpoints.Select(c => (c.Step, c.Path))))
        {
            int i = 0;
            while (i < Math.Min(oldCps.Count, checkpoints.Count) && oldCps[i] == (checkpoints[i].Step, checkpoints[i].Path)) i++;
            string diff = i < oldCps.Count && i < checkpoints.Count
                ? $"row {i} was step {oldCps[i].Item1} at {oldCps[i].Item2}, now step {checkpoints[i].Step} at {checkpoints[i].Path}"
                : $"{oldCps.Count} checkpoints then, {checkpoints.Count} now";
            throw UserError.InFile(ManifestPath, $"the run's checkpoints changed since these curve files were started ({diff}); use a new --out");
        }
        foreach (var (key, a, b) in new[] { ("backend", old.Backend, now.Backend), ("precision", old.Precision, now.Precision) })
        {
            if (a != b)
                throw UserError.InFile(ManifestPath, $"these curve files were started with {key} {a}; this run asks for {b} (mixing them in one file is refused; use a new --out)");
        }
    }

    public RunManifest ReadManifest() => RunManifest.ReadStrict(ManifestPath);

    /// <summary>Every row's current record: the manifest's row list overlaid with the record files (the source of truth).</summary>
    public RowRecord[] ReadRows()
    {
        var rows = (ReadManifest().Rows ?? throw UserError.InFile(ManifestPath, "lacks 'rows'")).ToArray();
        for (int i = 0; i < rows.Length; i++)
        {
            if (rows[i].Row != i) throw UserError.InFile(ManifestPath, $"rows[{i}] says row {rows[i].Row}");
            string p = RowPath(i);
            if (!File.Exists(p)) continue;
            var r = RowRecord.Read(p);
            if (r.Row != i || r.Step != rows[i].Step) throw UserError.InFile(p, $"record is for row {r.Row} step {r.Step}, expected row {i} step {rows[i].Step}");
            rows[i] = r;
        }
        return MarkDuplicates(rows);
    }

    /// <summary>
    /// Rows whose weights hash alike form a group; every member but the one with the largest step gets
    /// <c>duplicate_of</c> = that step (the known failure is an earlier branch serving a later step's weights). Derived
    /// from the hashes each time, so it is the same whichever process recorded which row.
    /// </summary>
    public static RowRecord[] MarkDuplicates(RowRecord[] rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var largest = rows.Where(r => r.WeightsHash is not null && r.Status == RowStatus.Done)
            .GroupBy(r => r.WeightsHash!, StringComparer.Ordinal)
            .Where(g => g.Count() > 1)
            .ToDictionary(g => g.Key, g => g.Max(r => r.Step), StringComparer.Ordinal);
        return rows.Select(r => r with
        {
            DuplicateOf = r.Status == RowStatus.Done && r.WeightsHash is not null && largest.TryGetValue(r.WeightsHash, out long top) && top != r.Step ? top : null,
        }).ToArray();
    }

    /// <summary>
    /// Records one row durably (its record file), then merges all records into manifest.json under the lock. Call only
    /// after the row's bytes are durable.
    /// </summary>
    public void Record(RowRecord r, Action? betweenSteps = null)
    {
        ArgumentNullException.ThrowIfNull(r);
        Durable.ReplaceFile(RowPath(r.Row), r.ToFileText());
        betweenSteps?.Invoke();
        RefreshManifest();
    }

    /// <summary>Rewrites manifest.json with every record file merged in (under the lock).</summary>
    public void RefreshManifest()
    {
        using var _ = FileLock.Acquire(Path.Combine(Dir, LockFile));
        RefreshManifestLocked();
    }

    private void RefreshManifestLocked()
    {
        var m = ReadManifest() with { Rows = ReadRows() };
        string text = m.ToFileText();
        if (File.ReadAllText(ManifestPath) == text) return;
        Durable.ReplaceFile(ManifestPath, text);
    }

    /// <summary>Removes temporary files a killed earlier process left for <paramref name="row"/>.</summary>
    public void CleanStaleTemps(int row)
    {
        string rowsDir = Path.Combine(Dir, RowsDir);
        foreach (var f in Directory.EnumerateFiles(rowsDir, $".{Path.GetFileName(RowPath(row))}.*.tmp")) File.Delete(f);
    }
}

using System.Text;

namespace LearningCurves.Formats.IO;

/// <summary>
/// Files that appear only when complete: written under a unique temporary name beside the target (so two processes
/// never share one), fsynced, then renamed over it; on failure the temporary file is removed and nothing appears. The
/// one way the project writes an output file whole: <see cref="Write"/> for a file written in one go,
/// <see cref="StagedFile"/> for one filled piece by piece or committed together with others,
/// <see cref="WriteDirectory"/> for a folder.
/// </summary>
public static class AtomicFile
{
    /// <summary>
    /// The length of the file <paramref name="path"/> names, following symbolic links (a Hugging Face hub cache snapshot
    /// is all links into blobs/, and FileInfo.Length gives the length of the link itself).
    /// </summary>
    public static long LengthFollowingLinks(string path)
    {
        var info = new FileInfo(path);
        if (info.LinkTarget is not null && info.ResolveLinkTarget(returnFinalTarget: true) is FileInfo target) info = target;
        return info.Exists ? info.Length : throw UserError.InFile(path, "file not found (a broken link?)");
    }

    /// <summary>A temporary path in the same folder as <paramref name="path"/> (so the rename stays on one file system).</summary>
    public static string TempPathFor(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var full = Path.GetFullPath(path);
        return Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
    }

    /// <summary>Runs <paramref name="write"/> on a stream over a temporary file, then renames it to <paramref name="path"/>;
    /// on any exception the temporary file is removed and nothing appears at <paramref name="path"/>.</summary>
    public static void Write(string path, Action<Stream> write)
    {
        ArgumentNullException.ThrowIfNull(write);
        var tmp = TempPathFor(path);
        var dir = Path.GetDirectoryName(tmp)!;
        Directory.CreateDirectory(dir);
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(fs);
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, Path.GetFullPath(path), overwrite: true);
        }
        catch
        {
            File.Delete(tmp);
            throw;
        }
    }

    public static void WriteAllText(string path, string text) =>
        Write(path, s => s.Write(new UTF8Encoding(false).GetBytes(text)));

    public static void WriteAllBytes(string path, byte[] bytes)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        Write(path, s => s.Write(bytes));
    }

    /// <summary>
    /// Builds the folder <paramref name="path"/> under a temporary name beside it (<paramref name="fill"/> gets that
    /// name), fsyncs every file in it, replaces an existing folder of that name and renames it into place, so a folder
    /// that exists is complete. Temporary folders an interrupted earlier call left for the same target are removed first.
    /// </summary>
    public static void WriteDirectory(string path, Action<string> fill)
    {
        ArgumentNullException.ThrowIfNull(fill);
        var full = Path.GetFullPath(path);
        var parent = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(parent);
        foreach (var stale in Directory.EnumerateDirectories(parent, $".{Path.GetFileName(full)}.*.tmp")) Directory.Delete(stale, recursive: true);
        var tmp = TempPathFor(full);
        try
        {
            Directory.CreateDirectory(tmp);
            fill(tmp);
            foreach (var f in Directory.EnumerateFiles(tmp, "*", SearchOption.AllDirectories)) SyncFile(f);
            if (Directory.Exists(full)) Directory.Delete(full, recursive: true);
            Directory.Move(tmp, full);
        }
        catch
        {
            if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true);
            throw;
        }
    }

    /// <summary>Forces a closed file's data to stable storage (an fsync through a fresh handle).</summary>
    internal static void SyncFile(string path)
    {
        using var h = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
        Durable.Sync(h, path);
    }
}

/// <summary>
/// One output file under construction: written at <see cref="TempPath"/> (a unique name beside <see cref="Path"/>) by
/// whatever writer the caller uses, then <see cref="Commit"/> fsyncs it and renames it into place. Disposed without a
/// commit, the temporary file is removed, so nothing that looks complete is left. Several staged files committed one
/// after another (<see cref="CommitAll"/>) appear only once all of them are written.
/// </summary>
public sealed class StagedFile : IDisposable
{
    private bool _committed;

    public StagedFile(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        Path = System.IO.Path.GetFullPath(path);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(Path)!);
        TempPath = AtomicFile.TempPathFor(Path);
    }

    /// <summary>The file's real name.</summary>
    public string Path { get; }

    /// <summary>Where the file is written until the commit.</summary>
    public string TempPath { get; }

    /// <summary>Makes the written file durable and visible under <see cref="Path"/> (the writer must be closed);
    /// <paramref name="overwrite"/> false: an <see cref="IOException"/> where a file of that name exists.</summary>
    public void Commit(bool overwrite = true)
    {
        if (_committed) return;
        AtomicFile.SyncFile(TempPath);
        File.Move(TempPath, Path, overwrite);
        _committed = true;
    }

    /// <summary>Commits every file, in order, once all of them are written.</summary>
    public static void CommitAll(params StagedFile[] files)
    {
        ArgumentNullException.ThrowIfNull(files);
        foreach (var f in files) f.Commit();
    }

    public void Dispose()
    {
        if (!_committed && File.Exists(TempPath)) File.Delete(TempPath);
    }
}

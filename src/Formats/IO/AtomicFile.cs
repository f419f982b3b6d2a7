using System.Text;

namespace LearningCurves.Formats.IO;

/// <summary>Files that appear only when complete: written under a temporary name beside the target, then renamed.</summary>
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
}

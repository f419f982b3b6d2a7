using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace LearningCurves.Formats.IO;

/// <summary>
/// The few POSIX durability steps the sweep relies on: fsync of a file, fsync of a directory (so a rename inside it
/// survives power loss), atomic replacement of a small file, and positioned writes. On systems without POSIX calls
/// the directory sync is skipped.
/// </summary>
public static partial class Durable
{
    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int FsyncNative(SafeFileHandle fd);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int OpenNative(string path, int flags);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int CloseNative(nint fd);

    private static bool Posix => OperatingSystem.IsLinux() || OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD();

    /// <summary>Forces the file's data and metadata to stable storage.</summary>
    public static void Sync(SafeFileHandle handle, string path)
    {
        ArgumentNullException.ThrowIfNull(handle);
        if (!Posix)
        {
            using var fs = new FileStream(handle, FileAccess.ReadWrite);
            fs.Flush(flushToDisk: true);
            return;
        }
        if (FsyncNative(handle) != 0)
            throw new IOException($"{path}: fsync failed (errno {Marshal.GetLastPInvokeError()})");
    }

    /// <summary>Makes the entries of a directory (renames, new files) durable.</summary>
    public static void SyncDirectory(string dir)
    {
        if (!Posix) return;
        const int ORdOnly = 0;
        int fd = OpenNative(dir, ORdOnly);
        if (fd < 0) throw new IOException($"{dir}: cannot open the folder to sync it (errno {Marshal.GetLastPInvokeError()})");
        using var handle = new SafeFileHandle(fd, ownsHandle: true);
        // Some file systems refuse fsync on a directory (EINVAL); the rename is then as durable as they allow.
        _ = FsyncNative(handle);
    }

    /// <summary>
    /// Replaces <paramref name="path"/> with <paramref name="bytes"/> so that a reader sees the old or the new content,
    /// never a mix: write a unique temporary file beside it, fsync, rename over, fsync the folder.
    /// </summary>
    public static void ReplaceFile(string path, ReadOnlySpan<byte> bytes)
    {
        var copy = bytes.ToArray(); // manifests and row records: small
        AtomicFile.Write(path, s => s.Write(copy));
        SyncDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
    }

    /// <summary>True when <paramref name="e"/> says the disk is full (ENOSPC, or Windows' ERROR_DISK_FULL /
    /// ERROR_HANDLE_DISK_FULL).</summary>
    public static bool IsDiskFull(IOException e)
    {
        ArgumentNullException.ThrowIfNull(e);
        const int Enospc = 28;
        return e.HResult is Enospc or unchecked((int)0x80070070) or unchecked((int)0x80070027)
            || e.Message.Contains("No space left on device", StringComparison.Ordinal);
    }

    /// <summary><see cref="ReplaceFile(string, ReadOnlySpan{byte})"/> for UTF-8 text.</summary>
    public static void ReplaceFile(string path, string text) => ReplaceFile(path, Encoding.UTF8.GetBytes(text));
}

using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace LearningCurves.Engine.Sweeps;

/// <summary>
/// An exclusive advisory lock on a file (flock), held until disposed, waiting as long as another process holds it.
/// The kernel drops it when the holder dies, so a killed process never leaves it stuck. On NFS, Linux maps flock to
/// NLM byte-range locks, which work across machines. Where flock is not available the lock falls back to an
/// exclusive open retried until it succeeds.
/// </summary>
public sealed partial class FileLock : IDisposable
{
    private const int LockEx = 2;
    private const int LockUn = 8;

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int OpenNative(string path, int flags, int mode);

    [LibraryImport("libc", EntryPoint = "flock", SetLastError = true)]
    private static partial int FlockNative(SafeFileHandle fd, int operation);

    private readonly SafeFileHandle _handle;

    private FileLock(SafeFileHandle handle) => _handle = handle;

    public static FileLock Acquire(string path)
    {
        if (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS())
        {
            // Opened through libc rather than File.Open: .NET takes its own non-blocking flock on files it opens,
            // which would make a second process's open fail while the lock is held instead of waiting.
            int oRdWr = 2, oCreat = OperatingSystem.IsMacOS() ? 0x200 : 0x40, oCloExec = OperatingSystem.IsMacOS() ? 0x1000000 : 0x80000;
            int fd = OpenNative(path, oRdWr | oCreat | oCloExec, Convert.ToInt32("644", 8));
            if (fd < 0) throw new IOException($"{path}: cannot open the lock file (errno {Marshal.GetLastPInvokeError()})");
            var handle = new SafeFileHandle(fd, ownsHandle: true);
            while (FlockNative(handle, LockEx) != 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                const int eintr = 4;
                if (errno == eintr) continue;
                handle.Dispose();
                throw new IOException($"{path}: cannot lock (errno {errno})");
            }
            return new FileLock(handle);
        }
        var deadline = DateTime.UtcNow.AddMinutes(10);
        while (true)
        {
            try
            {
                return new FileLock(File.OpenHandle(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None));
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                Thread.Sleep(Random.Shared.Next(5, 25));
            }
        }
    }

    public void Dispose()
    {
        if (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS()) _ = FlockNative(_handle, LockUn);
        _handle.Dispose();
    }
}

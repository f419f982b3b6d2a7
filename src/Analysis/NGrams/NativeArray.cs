using System.Runtime.InteropServices;

namespace LearningCurves.Analysis.NGrams;

/// <summary>
/// A fixed-length array of unmanaged values in native memory, 2 MB aligned and (on Linux, from 2 MB up) advised for
/// transparent huge pages. Why not a managed array: n-gram counting streams through gigabytes of fresh buffers, and
/// on the virtual machines this runs on, faulting memory in 4 KB pages (what the GC heap gets) costs about 1 ns per
/// byte, 2-5 times what 2 MB pages cost; huge pages also spare a TLB miss per random lookup in the built model.
/// Freed by Dispose or the finalizer; the GC is told of its size so large arrays count toward collection pressure.
/// </summary>
internal sealed unsafe class NativeArray<T> : SafeHandle where T : unmanaged
{
    private const nuint HugePage = 2 << 20;
    private readonly long _bytes;

    public NativeArray(int length) : base(IntPtr.Zero, ownsHandle: true)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        Length = length;
        _bytes = (long)length * sizeof(T);
        if (length == 0) return; // nothing to allocate: the handle stays invalid, so there is nothing to free
        void* p = NativeMemory.AlignedAlloc((nuint)_bytes, (nuint)_bytes >= HugePage ? HugePage : 64);
        SetHandle((IntPtr)p);
        GC.AddMemoryPressure(_bytes);
        // Advice only: where it fails (no THP, another OS) the memory works the same, with more page faults.
        if (OperatingSystem.IsLinux() && (nuint)_bytes >= HugePage) _ = LinuxMemory.AdviseHugePages(p, (nuint)_bytes);
    }

    /// <summary>A new zero-length array (it holds no memory; each caller gets its own, so disposing one is harmless).</summary>
    public static NativeArray<T> Empty => new(0);

    public int Length { get; }

    public long Bytes => (long)Length * sizeof(T);

    public Span<T> Span
    {
        get
        {
            ObjectDisposedException.ThrowIf(IsClosed, this);
            return new((void*)handle, Length);
        }
    }

    /// <summary>A copy of the first <paramref name="length"/> values.</summary>
    public NativeArray<T> Copy(int length)
    {
        var copy = new NativeArray<T>(length);
        Span[..length].CopyTo(copy.Span);
        return copy;
    }

    public override bool IsInvalid => handle == IntPtr.Zero;

    protected override bool ReleaseHandle()
    {
        NativeMemory.AlignedFree((void*)handle);
        GC.RemoveMemoryPressure(_bytes);
        return true;
    }
}

internal static unsafe partial class LinuxMemory
{
    private const int MadvHugePage = 14; // MADV_HUGEPAGE

    public static int AdviseHugePages(void* address, nuint length) => Madvise(address, length, MadvHugePage);

    [LibraryImport("libc", EntryPoint = "madvise")]
    private static partial int Madvise(void* address, nuint length, int advice);
}

using System.IO.MemoryMappedFiles;
using LearningCurves.Formats;
using LearningCurves.Formats.IO;

namespace LearningCurves.Engine.Checkpoints;

/// <summary>
/// A whole file mapped read-only, its bytes at <see cref="Base"/> until disposed: the mapping, the view and the acquired
/// pointer of the checkpoint readers that read in place (<see cref="SafeTensorsFile"/>, <see cref="StoredZip"/>),
/// released in one place, also when opening fails half-way.
/// </summary>
internal sealed unsafe class MappedFile : IDisposable
{
    private readonly MemoryMappedFile _map;
    private readonly MemoryMappedViewAccessor _view;
    private bool _disposed;

    private MappedFile(MemoryMappedFile map, MemoryMappedViewAccessor view, byte* basePtr, long length)
    {
        _map = map;
        _view = view;
        Base = basePtr;
        Length = length;
    }

    /// <summary>The first byte of the file.</summary>
    public byte* Base { get; }

    public long Length { get; }

    /// <summary>Maps the whole of <paramref name="path"/> (links followed); a missing file, or one shorter than
    /// <paramref name="minLength"/> bytes, is a <see cref="UserError"/> naming it: "<paramref name="notA"/>: N bytes,
    /// shorter than <paramref name="shorterThan"/>".</summary>
    public static MappedFile Open(string path, long minLength, string notA, string shorterThan)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path)) throw UserError.InFile(path, "file not found");
        long length = AtomicFile.LengthFollowingLinks(path);
        if (length < minLength) throw UserError.InFile(path, $"{notA}: {length} bytes, shorter than {shorterThan}");
        var map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        MemoryMappedViewAccessor? view = null;
        bool acquired = false;
        try
        {
            view = map.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
            byte* p = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
            acquired = true;
            return new MappedFile(map, view, p + view.PointerOffset, length);
        }
        catch
        {
            if (acquired) view!.SafeMemoryMappedViewHandle.ReleasePointer();
            view?.Dispose();
            map.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _map.Dispose();
    }
}

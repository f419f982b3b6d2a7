using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Microsoft.Win32.SafeHandles;
using LearningCurves.Formats.IO;

namespace LearningCurves.Formats.Curves;

/// <summary>
/// A float32 (rows, cols) C-order .npy file filled one row at a time in place: created whole (header + NaN rows), then
/// each row written at its own offset with a positioned write and fsync. Rows are disjoint byte ranges, so several
/// processes may fill different rows of the same file at once. numpy.load(path, mmap_mode='r') reads it at any time.
/// The sweep writes with it; <see cref="CurveFileReader"/> reads the finished file.
/// </summary>
public sealed class CurveFileWriter : IDisposable
{
    private readonly SafeFileHandle _handle;

    private CurveFileWriter(string path, SafeFileHandle handle, int rows, int cols, long dataOffset)
    {
        Path = path;
        _handle = handle;
        Rows = rows;
        Cols = cols;
        DataOffset = dataOffset;
    }

    public string Path { get; }

    public int Rows { get; }

    public int Cols { get; }

    /// <summary>Byte offset of row 0.</summary>
    public long DataOffset { get; }

    public long RowBytes => (long)Cols * sizeof(float);

    /// <summary>
    /// Creates the whole file (header, then every row NaN) under a temporary name, fsyncs it and renames it into place,
    /// so <paramref name="path"/> either does not exist or is complete.
    /// </summary>
    public static void Create(string path, int rows, int cols)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfNegative(cols);
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("curve files are little-endian");
        var header = Npy.BuildHeader(NpyDType.Float32, [rows, cols]);
        using var file = new StagedFile(path);
        using (var h = File.OpenHandle(file.TempPath, FileMode.CreateNew, FileAccess.Write, FileShare.None))
        {
            RandomAccess.Write(h, header, 0);
            long total = (long)rows * cols * sizeof(float);
            var nan = new float[Math.Min(1 << 18, Math.Max(1, (long)rows * cols))];
            nan.AsSpan().Fill(float.NaN);
            var nanBytes = MemoryMarshal.AsBytes(nan.AsSpan());
            for (long at = 0; at < total; at += nanBytes.Length)
                RandomAccess.Write(h, nanBytes[..(int)Math.Min(nanBytes.Length, total - at)], header.Length + at);
        }
        file.Commit(overwrite: false); // never replaces a curve file in place
        Durable.SyncDirectory(System.IO.Path.GetDirectoryName(file.Path)!);
    }

    /// <summary>Opens an existing curve file for reading and writing rows; refuses one whose header is not float32 (rows, cols) C order.</summary>
    public static CurveFileWriter Open(string path, int rows, int cols)
    {
        NpyHeader h;
        using (var s = File.OpenRead(path)) h = Npy.ReadHeader(s, path);
        if (h.DType != NpyDType.Float32 || h.FortranOrder || h.Shape.Length != 2 || h.Shape[0] != rows || h.Shape[1] != cols)
            throw UserError.InFile(path, $"expected a float32 C-order ({rows}, {cols}) array, found {Npy.Descr(h.DType)} ({string.Join(", ", h.Shape)}){(h.FortranOrder ? " Fortran order" : "")}");
        // FileShare.ReadWrite: other shards write other rows of this file at the same time.
        var handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
        return new CurveFileWriter(System.IO.Path.GetFullPath(path), handle, rows, cols, h.DataOffset);
    }

    /// <summary>Writes row <paramref name="row"/> at its offset and fsyncs.</summary>
    public void WriteRow(int row, ReadOnlySpan<float> values)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(row);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(row, Rows);
        if (values.Length != Cols) throw new ArgumentException($"row has {values.Length} values, the file has {Cols} columns");
        RandomAccess.Write(_handle, MemoryMarshal.AsBytes(values), DataOffset + row * RowBytes);
        Durable.Sync(_handle, Path);
    }

    /// <summary>Reads row <paramref name="row"/> into <paramref name="dst"/> (Cols values).</summary>
    public void ReadRow(int row, Span<float> dst)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(row);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(row, Rows);
        if (dst.Length != Cols) throw new ArgumentException($"buffer has {dst.Length} values, the file has {Cols} columns");
        var bytes = MemoryMarshal.AsBytes(dst);
        long offset = DataOffset + row * RowBytes;
        int done = 0;
        while (done < bytes.Length)
        {
            int n = RandomAccess.Read(_handle, bytes[done..], offset + done);
            if (n == 0) throw UserError.InFile(Path, $"truncated: row {row} ends past the end of the file");
            done += n;
        }
    }

    /// <summary>"sha256:HEX" of a row's little-endian float32 bytes.</summary>
    public static string Checksum(ReadOnlySpan<float> row) =>
        "sha256:" + Convert.ToHexStringLower(SHA256.HashData(MemoryMarshal.AsBytes(row)));

    public void Dispose() => _handle.Dispose();
}

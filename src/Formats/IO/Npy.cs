using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;

namespace LearningCurves.Formats.IO;

/// <summary>Element types the engine reads and writes in .npy files (little-endian only).</summary>
public enum NpyDType
{
    Float32,
    Float64,
    Int32,
    Int64,
}

/// <summary>A parsed .npy header: dtype, shape, order, and where the data starts.</summary>
public sealed record NpyHeader(NpyDType DType, long[] Shape, bool FortranOrder, long DataOffset)
{
    public long Count => Shape.Aggregate(1L, (a, b) => checked(a * b));

    public int ItemSize => Npy.ItemSize(DType);

    public long DataBytes => checked(Count * ItemSize);
}

/// <summary>
/// The NumPy .npy format, versions 1.0 to 3.0, written from the format's specification: magic "\x93NUMPY", two version
/// bytes, a little-endian header length (2 bytes in 1.0, 4 in 2.0/3.0), then an ASCII Python dict literal with
/// 'descr', 'fortran_order' and 'shape', padded with spaces and a newline so the data starts on a 64-byte boundary.
/// </summary>
public static class Npy
{
    private static readonly byte[] Magic = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    public static int ItemSize(NpyDType t) => t switch
    {
        NpyDType.Float32 or NpyDType.Int32 => 4,
        _ => 8,
    };

    public static string Descr(NpyDType t) => t switch
    {
        NpyDType.Float32 => "<f4",
        NpyDType.Float64 => "<f8",
        NpyDType.Int32 => "<i4",
        NpyDType.Int64 => "<i8",
        _ => throw new ArgumentOutOfRangeException(nameof(t)),
    };

    /// <summary>The header bytes (magic, version 1.0 or 2.0 as needed, dict, padding) for an array in C order.</summary>
    public static byte[] BuildHeader(NpyDType dtype, ReadOnlySpan<long> shape)
    {
        var sb = new StringBuilder();
        sb.Append("{'descr': '").Append(Descr(dtype)).Append("', 'fortran_order': False, 'shape': (");
        for (int i = 0; i < shape.Length; i++)
        {
            if (shape[i] < 0) throw new ArgumentOutOfRangeException(nameof(shape), "negative dimension");
            sb.Append(shape[i].ToString(CultureInfo.InvariantCulture));
            if (shape.Length == 1 || i < shape.Length - 1) sb.Append(i < shape.Length - 1 ? ", " : ",");
        }
        sb.Append("), }");
        string dict = sb.ToString();
        // Version 1.0 holds a header up to 65535 bytes; longer ones need 2.0.
        int prefix1 = Magic.Length + 2 + 2;
        int total1 = RoundUp(prefix1 + dict.Length + 1, 64);
        bool v2 = total1 - prefix1 > ushort.MaxValue;
        int prefix = v2 ? Magic.Length + 2 + 4 : prefix1;
        int total = RoundUp(prefix + dict.Length + 1, 64);
        int headerLen = total - prefix;
        var bytes = new byte[total];
        Magic.CopyTo(bytes, 0);
        bytes[6] = (byte)(v2 ? 2 : 1);
        bytes[7] = 0;
        if (v2) BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(8), (uint)headerLen);
        else BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(8), (ushort)headerLen);
        Encoding.ASCII.GetBytes(dict, bytes.AsSpan(prefix));
        bytes.AsSpan(prefix + dict.Length, headerLen - dict.Length - 1).Fill((byte)' ');
        bytes[^1] = (byte)'\n';
        return bytes;
    }

    private static int RoundUp(int n, int m) => (n + m - 1) / m * m;

    /// <summary>Reads and checks the header of an open stream positioned at 0. <paramref name="path"/> is for messages.</summary>
    public static NpyHeader ReadHeader(Stream s, string path)
    {
        ArgumentNullException.ThrowIfNull(s);
        Span<byte> pre = stackalloc byte[10];
        if (ReadFully(s, pre) < 10 || !pre[..6].SequenceEqual(Magic))
            throw UserError.InFile(path, "not a .npy file (bad magic)");
        int major = pre[6];
        long headerLen;
        int prefix;
        if (major == 1)
        {
            headerLen = BinaryPrimitives.ReadUInt16LittleEndian(pre[8..]);
            prefix = 10;
        }
        else if (major is 2 or 3)
        {
            Span<byte> two = stackalloc byte[2];
            if (ReadFully(s, two) < 2) throw UserError.InFile(path, "truncated .npy header");
            Span<byte> four = stackalloc byte[4];
            pre[8..].CopyTo(four);
            two.CopyTo(four[2..]);
            headerLen = BinaryPrimitives.ReadUInt32LittleEndian(four);
            prefix = 12;
        }
        else
        {
            throw UserError.InFile(path, $".npy version {major}.{pre[7]} is not supported");
        }
        if (headerLen > 1 << 24 || s.CanSeek && prefix + headerLen > s.Length)
            throw UserError.InFile(path, "truncated .npy header");
        var dictBytes = new byte[headerLen];
        if (ReadFully(s, dictBytes) < headerLen) throw UserError.InFile(path, "truncated .npy header");
        string dict = (major == 3 ? Encoding.UTF8 : Encoding.Latin1).GetString(dictBytes).Trim();
        var h = ParseDict(dict, path) with { DataOffset = prefix + headerLen };
        if (s.CanSeek && h.DataOffset + h.DataBytes > s.Length)
            throw UserError.InFile(path, $"truncated: the header promises {h.DataBytes} data bytes, the file has {s.Length - h.DataOffset}");
        return h;
    }

    private static int ReadFully(Stream s, Span<byte> buf)
    {
        int n = 0;
        while (n < buf.Length)
        {
            int r = s.Read(buf[n..]);
            if (r == 0) break;
            n += r;
        }
        return n;
    }

    private static NpyHeader ParseDict(string dict, string path)
    {
        string Value(string key)
        {
            int k = dict.IndexOf($"'{key}'", StringComparison.Ordinal);
            if (k < 0) throw UserError.InFile(path, $".npy header lacks '{key}'");
            int colon = dict.IndexOf(':', k);
            if (colon < 0) throw UserError.InFile(path, $".npy header: bad '{key}'");
            return dict[(colon + 1)..].TrimStart();
        }
        string descrRaw = Value("descr");
        if (descrRaw.Length < 2 || descrRaw[0] is not ('\'' or '"')) throw UserError.InFile(path, ".npy header: bad 'descr'");
        string descr = descrRaw[1..descrRaw.IndexOf(descrRaw[0], 1)];
        NpyDType dtype = descr switch
        {
            "<f4" or "f4" or "float32" => NpyDType.Float32,
            "<f8" or "f8" or "float64" => NpyDType.Float64,
            "<i4" or "i4" or "int32" => NpyDType.Int32,
            "<i8" or "i8" or "int64" => NpyDType.Int64,
            _ => throw UserError.InFile(path, $".npy dtype '{descr}' is not supported (float32, float64, int32, int64 little-endian)"),
        };
        bool fortran = Value("fortran_order").StartsWith("True", StringComparison.Ordinal);
        string shapeRaw = Value("shape");
        int open = shapeRaw.IndexOf('('), close = shapeRaw.IndexOf(')');
        if (open != 0 || close < 0) throw UserError.InFile(path, ".npy header: bad 'shape'");
        var dims = shapeRaw[1..close].Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(d => long.TryParse(d.TrimEnd('L'), NumberStyles.None, CultureInfo.InvariantCulture, out long v)
                ? v : throw UserError.InFile(path, $".npy header: bad dimension '{d}'"))
            .ToArray();
        return new NpyHeader(dtype, dims, fortran, 0);
    }

    public static NpyHeader ReadHeader(string path)
    {
        using var s = File.OpenRead(path);
        return ReadHeader(s, path);
    }

    /// <summary>Reads a whole array converted to double, with its shape (C order; Fortran-order files are transposed to C order).</summary>
    public static (double[] Data, long[] Shape) ReadDoubles(string path)
    {
        using var s = File.OpenRead(path);
        var h = ReadHeader(s, path);
        var data = new double[h.Count];
        var raw = new byte[h.DataBytes];
        if (ReadFully(s, raw) < raw.Length) throw UserError.InFile(path, "truncated data");
        switch (h.DType)
        {
            case NpyDType.Float64: MemoryMarshal.Cast<byte, double>(raw).CopyTo(data); break;
            case NpyDType.Float32:
                var f = MemoryMarshal.Cast<byte, float>(raw);
                for (int i = 0; i < f.Length; i++) data[i] = f[i];
                break;
            case NpyDType.Int32:
                var i32 = MemoryMarshal.Cast<byte, int>(raw);
                for (int i = 0; i < i32.Length; i++) data[i] = i32[i];
                break;
            case NpyDType.Int64:
                var i64 = MemoryMarshal.Cast<byte, long>(raw);
                for (int i = 0; i < i64.Length; i++) data[i] = i64[i];
                break;
        }
        if (h.FortranOrder && h.Shape.Length > 1) data = FortranToC(data, h.Shape);
        return (data, h.Shape);
    }

    /// <summary>Reads a whole array as float32 (converting), with its shape.</summary>
    public static (float[] Data, long[] Shape) ReadFloats(string path)
    {
        var (d, shape) = ReadDoubles(path);
        return (Array.ConvertAll(d, x => (float)x), shape);
    }

    /// <summary>Reads an integer array (int32 or int64 stored) as long, with its shape.</summary>
    public static (long[] Data, long[] Shape) ReadInt64(string path)
    {
        var h = ReadHeader(path);
        if (h.DType is not (NpyDType.Int32 or NpyDType.Int64))
            throw UserError.InFile(path, $"expected an integer array, found {Descr(h.DType)}");
        var (d, shape) = ReadDoubles(path);
        return (Array.ConvertAll(d, x => (long)x), shape);
    }

    /// <summary>Reads an integer array as int32 (values must fit), with its shape.</summary>
    public static (int[] Data, long[] Shape) ReadInt32(string path)
    {
        var (d, shape) = ReadInt64(path);
        return (Array.ConvertAll(d, x => x is >= int.MinValue and <= int.MaxValue ? (int)x
            : throw UserError.InFile(path, $"value {x} does not fit in int32")), shape);
    }

    private static double[] FortranToC(double[] f, long[] shape)
    {
        int nd = shape.Length;
        var c = new double[f.Length];
        var idx = new long[nd];
        for (long lin = 0; lin < f.Length; lin++)
        {
            // lin is the C-order index; compute its Fortran offset.
            long rem = lin, off = 0, stride = 1;
            for (int d = nd - 1; d >= 0; d--) { idx[d] = rem % shape[d]; rem /= shape[d]; }
            for (int d = 0; d < nd; d++) { off += idx[d] * stride; stride *= shape[d]; }
            c[lin] = f[off];
        }
        return c;
    }

    /// <summary>Writes an array atomically (<see cref="Checkpoints.AtomicFile"/>: a temporary file beside it, flushed, renamed).</summary>
    public static void Write<T>(string path, ReadOnlySpan<T> data, params long[] shape) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(shape);
        var dtype = typeof(T) == typeof(float) ? NpyDType.Float32
            : typeof(T) == typeof(double) ? NpyDType.Float64
            : typeof(T) == typeof(int) ? NpyDType.Int32
            : typeof(T) == typeof(long) ? NpyDType.Int64
            : throw new ArgumentException($"unsupported element type {typeof(T).Name}");
        if (shape.Length == 0) shape = [data.Length];
        long count = shape.Aggregate(1L, (a, b) => checked(a * b));
        if (count != data.Length) throw new ArgumentException($"shape holds {count} elements, data has {data.Length}");
        var header = BuildHeader(dtype, shape);
        int byteCount = checked(data.Length * Unsafe.SizeOf<T>());
        unsafe
        {
            // The data stays pinned for the synchronous write; the lambda gets its address, not a copy.
            fixed (T* p = data)
            {
                nint address = (nint)p;
                AtomicFile.Write(path, fs =>
                {
                    fs.Write(header);
                    fs.Write(new ReadOnlySpan<byte>((void*)address, byteCount));
                });
            }
        }
    }
}

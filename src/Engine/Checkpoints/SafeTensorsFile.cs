using System.Buffers.Binary;
using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using LearningCurves.Formats.IO;
using LearningCurves.Formats;

namespace LearningCurves.Engine.Checkpoints;

/// <summary>The element types of the safetensors format (names as written in headers).</summary>
public enum SafeTensorsDType
{
    BOOL,
    U8,
    I8,
    F8_E5M2,
    F8_E4M3,
    I16,
    U16,
    F16,
    BF16,
    I32,
    U32,
    F32,
    F64,
    I64,
    U64,
}

/// <summary>One tensor's header entry: dtype, shape, and its byte range [Begin, End) within the data section.</summary>
public sealed record SafeTensorInfo(string Name, SafeTensorsDType DType, long[] Shape, long Begin, long End)
{
    public long ElementCount => Shape.Aggregate(1L, (a, b) => checked(a * b));

    public long ByteLength => End - Begin;

    public string ShapeText => "[" + string.Join(", ", Shape) + "]";
}

/// <summary>
/// A memory-mapped .safetensors file, validated as strictly as the format's reference reader: an 8-byte little-endian
/// header length (at most 100 MB, within the file), a UTF-8 JSON object starting with '{' mapping tensor names to
/// {dtype, shape, data_offsets} plus an optional "__metadata__" string map, data offsets contiguous from 0 without
/// overlap or hole, each byte size equal to element count x dtype size, and no bytes after the last tensor.
/// Every rejection is a <see cref="UserError"/> naming the file and the rule.
/// </summary>
public sealed unsafe class SafeTensorsFile : IDisposable
{
    /// <summary>The reference reader's limit on the JSON header.</summary>
    public const long MaxHeaderBytes = 100_000_000;

    private readonly MappedFile _file;
    private readonly long _dataStart;   // 8 + header length
    private readonly Dictionary<string, SafeTensorInfo> _tensors;
    private bool _disposed;

    private SafeTensorsFile(string path, MappedFile file, long dataStart,
        Dictionary<string, SafeTensorInfo> tensors, Dictionary<string, string> metadata)
    {
        Path = path;
        _file = file;
        FileLength = file.Length;
        _dataStart = dataStart;
        _tensors = tensors;
        Metadata = metadata;
    }

    public string Path { get; }

    public long FileLength { get; }

    /// <summary>Byte offset in the file where the data section starts (8 + header length).</summary>
    public long DataStart => _dataStart;

    /// <summary>The "__metadata__" map (empty when absent).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Tensors in data order.</summary>
    public IReadOnlyList<SafeTensorInfo> Tensors => _tensors.Values.OrderBy(t => t.Begin).ThenBy(t => t.End).ToArray();

    public IEnumerable<string> Names => _tensors.Keys;

    public bool Contains(string name) => _tensors.ContainsKey(name);

    public SafeTensorInfo Info(string name) =>
        _tensors.TryGetValue(name, out var t) ? t : throw UserError.InFile(Path, $"no tensor named '{name}'");

    private static readonly Dictionary<string, SafeTensorsDType> DTypeNames =
        Enum.GetValues<SafeTensorsDType>().ToDictionary(d => d.ToString(), StringComparer.Ordinal);

    public static int DTypeSize(SafeTensorsDType t) => t switch
    {
        SafeTensorsDType.BOOL or SafeTensorsDType.U8 or SafeTensorsDType.I8 or SafeTensorsDType.F8_E5M2 or SafeTensorsDType.F8_E4M3 => 1,
        SafeTensorsDType.I16 or SafeTensorsDType.U16 or SafeTensorsDType.F16 or SafeTensorsDType.BF16 => 2,
        SafeTensorsDType.I32 or SafeTensorsDType.U32 or SafeTensorsDType.F32 => 4,
        SafeTensorsDType.F64 or SafeTensorsDType.I64 or SafeTensorsDType.U64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(t)),
    };

    /// <summary>Opens and validates <paramref name="path"/>; throws <see cref="UserError"/> on any broken rule.</summary>
    public static SafeTensorsFile Open(string path)
    {
        var file = MappedFile.Open(path, 8, "not a safetensors file", "the 8-byte header length");
        long length = file.Length;
        try
        {
            var (dataStart, tensors, metadata) = Parse(path, new ReadOnlySpan<byte>(file.Base, (int)Math.Min(length, int.MaxValue)), length);
            return new SafeTensorsFile(path, file, dataStart, tensors, metadata);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>Validates the header of a file whose first bytes are <paramref name="head"/> and whose length is
    /// <paramref name="fileLength"/>; returns the data start, the tensors and the metadata.</summary>
    private static (long DataStart, Dictionary<string, SafeTensorInfo> Tensors, Dictionary<string, string> Metadata) Parse(
        string path, ReadOnlySpan<byte> head, long fileLength)
    {
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(head);
        if (n > MaxHeaderBytes) throw UserError.InFile(path, $"header length {n} is larger than the 100 MB limit");
        if (8 + (long)n > fileLength)
            throw UserError.InFile(path, $"header length {n} exceeds the file size ({fileLength} bytes, {fileLength - 8} after the 8-byte length): truncated or not safetensors");
        if (n < 2) throw UserError.InFile(path, $"header length {n} is too small to hold a JSON object");
        var json = head.Slice(8, (int)n);
        if (json[0] != (byte)'{') throw UserError.InFile(path, "header does not start with '{'");
        try
        {
            _ = new UTF8Encoding(false, true).GetCharCount(json);
        }
        catch (DecoderFallbackException)
        {
            throw UserError.InFile(path, "header is not valid UTF-8");
        }

        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json.ToArray(), new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException e)
        {
            throw UserError.InFile(path, $"header is not valid JSON ({e.Message.ReplaceLineEndings(" ")})");
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw UserError.InFile(path, "header is not a JSON object");
            var tensors = new Dictionary<string, SafeTensorInfo>(StringComparer.Ordinal);
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            bool sawMetadata = false;
            foreach (var prop in root.EnumerateObject())
            {
                if (prop.Name == "__metadata__")
                {
                    if (sawMetadata) throw UserError.InFile(path, "duplicate entry '__metadata__' in the header");
                    sawMetadata = true;
                    ReadMetadata(path, prop.Value, metadata);
                    continue;
                }
                if (tensors.ContainsKey(prop.Name)) throw UserError.InFile(path, $"duplicate tensor name '{prop.Name}' in the header");
                tensors.Add(prop.Name, ReadInfo(path, prop.Name, prop.Value));
            }

            // Offsets must tile the data section exactly: sorted by (begin, end), each starts where the previous ended.
            long dataLength = fileLength - 8 - (long)n;
            long expected = 0;
            foreach (var t in tensors.Values.OrderBy(t => t.Begin).ThenBy(t => t.End))
            {
                if (t.Begin != expected)
                {
                    throw UserError.InFile(path, t.Begin < expected
                        ? $"tensor '{t.Name}' data_offsets [{t.Begin}, {t.End}] overlap the previous tensor (which ends at {expected})"
                        : $"tensor '{t.Name}' data_offsets [{t.Begin}, {t.End}] leave a hole after byte {expected}: offsets must be contiguous from 0");
                }
                long bytes;
                try
                {
                    bytes = checked(t.ElementCount * DTypeSize(t.DType));
                }
                catch (OverflowException)
                {
                    throw UserError.InFile(path, $"tensor '{t.Name}' shape {t.ShapeText} overflows the byte size");
                }
                if (bytes != t.End - t.Begin)
                {
                    throw UserError.InFile(path,
                        $"tensor '{t.Name}' {t.DType} {t.ShapeText} needs {bytes} bytes but data_offsets [{t.Begin}, {t.End}] span {t.End - t.Begin}");
                }
                expected = t.End;
            }
            if (expected > dataLength)
                throw UserError.InFile(path, $"tensors need {expected} data bytes but the file holds {dataLength}: truncated");
            if (expected < dataLength)
                throw UserError.InFile(path, $"{dataLength - expected} trailing bytes after the last tensor (data ends at {expected} of {dataLength})");
            return (8 + (long)n, tensors, metadata);
        }
    }

    private static void ReadMetadata(string path, JsonElement e, Dictionary<string, string> metadata)
    {
        if (e.ValueKind != JsonValueKind.Object) throw UserError.InFile(path, "__metadata__ must be a map of strings to strings");
        foreach (var m in e.EnumerateObject())
        {
            if (m.Value.ValueKind != JsonValueKind.String)
                throw UserError.InFile(path, $"__metadata__ value '{m.Name}' is not a string: __metadata__ must be a map of strings to strings");
            if (!metadata.TryAdd(m.Name, m.Value.GetString()!))
                throw UserError.InFile(path, $"duplicate key '{m.Name}' in __metadata__");
        }
    }

    private static SafeTensorInfo ReadInfo(string path, string name, JsonElement e)
    {
        UserError Bad(string what) => UserError.InFile(path, $"tensor '{name}': {what}");
        if (e.ValueKind != JsonValueKind.Object) throw Bad("entry is not an object with dtype, shape and data_offsets");
        JsonElement? dtype = null, shape = null, offsets = null;
        foreach (var f in e.EnumerateObject())
        {
            // Fields beyond these three are ignored, as the reference reader does.
            ref JsonElement? slot = ref dtype;
            if (f.Name == "dtype") slot = ref dtype;
            else if (f.Name == "shape") slot = ref shape;
            else if (f.Name == "data_offsets") slot = ref offsets;
            else continue;
            if (slot is not null) throw Bad($"field '{f.Name}' given twice");
            slot = f.Value;
        }
        if (dtype is null) throw Bad("missing 'dtype'");
        if (shape is null) throw Bad("missing 'shape'");
        if (offsets is null) throw Bad("missing 'data_offsets'");

        // Exact names only (Enum.TryParse would also take numbers and comma lists).
        if (dtype.Value.ValueKind != JsonValueKind.String || !DTypeNames.TryGetValue(dtype.Value.GetString()!, out var dt))
            throw Bad($"unknown dtype {dtype.Value.GetRawText()}");

        if (shape.Value.ValueKind != JsonValueKind.Array) throw Bad("shape is not an array");
        var dims = new List<long>();
        foreach (var d in shape.Value.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out long v) || v < 0)
                throw Bad($"shape entry {d.GetRawText()} is not a non-negative integer");
            dims.Add(v);
        }

        if (offsets.Value.ValueKind != JsonValueKind.Array || offsets.Value.GetArrayLength() != 2)
            throw Bad("data_offsets must be an array [begin, end]");
        var o = offsets.Value.EnumerateArray().ToArray();
        // TryGetInt64 throws on a non-number (a string, null), so the kinds are checked first.
        if (o[0].ValueKind != JsonValueKind.Number || o[1].ValueKind != JsonValueKind.Number
            || !o[0].TryGetInt64(out long begin) || !o[1].TryGetInt64(out long end) || begin < 0 || end < 0)
            throw Bad($"data_offsets {offsets.Value.GetRawText()} are not non-negative integers");
        if (end < begin) throw Bad($"data_offsets [{begin}, {end}] end before they begin");
        return new SafeTensorInfo(name, dt, dims.ToArray(), begin, end);
    }

    /// <summary>The raw bytes of a tensor, straight from the mapping (valid until this file is disposed).</summary>
    public ReadOnlySpan<byte> Bytes(string name) => Bytes(Info(name));

    public ReadOnlySpan<byte> Bytes(SafeTensorInfo t)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(t);
        if (t.ByteLength > int.MaxValue) throw UserError.InFile(Path, $"tensor '{t.Name}' is larger than 2 GB; not supported");
        return new ReadOnlySpan<byte>(_file.Base + _dataStart + t.Begin, (int)t.ByteLength);
    }

    /// <summary>
    /// Drops this process's mapping of a tensor's pages once its bytes have been used (Linux: madvise MADV_DONTNEED
    /// on the whole pages inside the tensor; elsewhere nothing). The file's pages stay in the page cache and a later
    /// read maps them again, so nothing changes but the resident set: a streamed load holds about one tensor of the
    /// file at a time instead of every page it has read.
    /// </summary>
    public void ReleasePages(SafeTensorInfo t)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(t);
        if (!OperatingSystem.IsLinux()) return;
        long page = Environment.SystemPageSize;
        nint start = (nint)(_file.Base + _dataStart + t.Begin), end = (nint)(_file.Base + _dataStart + t.End);
        nint first = (nint)(((long)start + page - 1) / page * page), last = (nint)((long)end / page * page);
        if (last > first) _ = NativeMemory.Madvise(first, (nuint)(last - first), NativeMemory.DontNeed);
    }

    /// <summary>An F32 tensor as floats without copying, when its bytes are 4-byte aligned in memory; false otherwise
    /// (another dtype, or misaligned).</summary>
    public bool TryGetFloatSpan(string name, out ReadOnlySpan<float> data)
    {
        var t = Info(name);
        var bytes = Bytes(t);
        data = default;
        if (t.DType != SafeTensorsDType.F32 || !BitConverter.IsLittleEndian) return false;
        fixed (byte* p = bytes)
        {
            if (((nint)p & 3) != 0) return false;
        }
        data = MemoryMarshal.Cast<byte, float>(bytes);
        return true;
    }

    /// <summary>A tensor widened to float32 (F32 copied; F16 and BF16 widened). Other dtypes are an error.</summary>
    public float[] ReadFloats(string name)
    {
        var t = Info(name);
        var result = new float[t.ElementCount];
        ReadFloats(t, result);
        return result;
    }

    /// <summary>Writes tensor <paramref name="t"/> widened to float32 into <paramref name="dst"/> (ElementCount long).</summary>
    public void ReadFloats(SafeTensorInfo t, Span<float> dst)
    {
        ArgumentNullException.ThrowIfNull(t);
        if (dst.Length != t.ElementCount) throw new ArgumentException($"destination holds {dst.Length} floats, tensor has {t.ElementCount}");
        var bytes = Bytes(t);
        switch (t.DType)
        {
            case SafeTensorsDType.F32:
                // Byte copy: works whatever the alignment of the mapped data.
                bytes.CopyTo(MemoryMarshal.AsBytes(dst));
                break;
            case SafeTensorsDType.F16:
                WidenF16(bytes, dst);
                break;
            case SafeTensorsDType.BF16:
                WidenBf16(bytes, dst);
                break;
            default:
                throw UserError.InFile(Path, $"tensor '{t.Name}' has dtype {t.DType}; only F32, F16 and BF16 weights are supported");
        }
    }

    /// <summary>IEEE half (little-endian bytes) to float.</summary>
    public static void WidenF16(ReadOnlySpan<byte> src, Span<float> dst)
    {
        if (src.Length != dst.Length * 2) throw new ArgumentException("F16 source must hold 2 bytes per destination float");
        TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<byte, Half>(src), dst);
    }

    /// <summary>bfloat16 (little-endian bytes) to float: the 16 bits are the high half of the float's bits.</summary>
    public static void WidenBf16(ReadOnlySpan<byte> src, Span<float> dst)
    {
        if (src.Length != dst.Length * 2) throw new ArgumentException("BF16 source must hold 2 bytes per destination float");
        var u = MemoryMarshal.Cast<byte, ushort>(src);
        var outBits = MemoryMarshal.Cast<float, uint>(dst);
        int i = 0;
        int w = Vector<ushort>.Count;
        for (; i + w <= u.Length; i += w)
        {
            Vector.Widen(new Vector<ushort>(u.Slice(i, w)), out var lo, out var hi);
            (lo << 16).CopyTo(outBits.Slice(i, w / 2));
            (hi << 16).CopyTo(outBits.Slice(i + w / 2, w / 2));
        }
        for (; i < u.Length; i++) outBits[i] = (uint)u[i] << 16;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _file.Dispose();
    }
}

/// <summary>libc's madvise, for <see cref="SafeTensorsFile.ReleasePages"/>.</summary>
internal static partial class NativeMemory
{
    public const int DontNeed = 4; // MADV_DONTNEED

    [LibraryImport("libc", EntryPoint = "madvise")]
    public static partial int Madvise(nint addr, nuint length, int advice);
}

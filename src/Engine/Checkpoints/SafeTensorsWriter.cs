using System.Buffers.Binary;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using LearningCurves.Formats.IO;

namespace LearningCurves.Engine.Checkpoints;

/// <summary>The floating-point types checkpoints are written in.</summary>
public enum StoreDType
{
    F32,
    F16,
    BF16,
}

/// <summary>
/// Writes a .safetensors file from float32 arrays, each stored as F32, F16 or BF16 (rounded to nearest even), with an
/// optional "__metadata__" string map. The header is padded with spaces to a multiple of 8 bytes, as the reference
/// writer does, so the data section starts 8-byte aligned. Tensors are kept by reference and converted while writing;
/// the file appears only when complete (written to a temporary name beside it, then renamed).
/// </summary>
public sealed class SafeTensorsWriter
{
    private readonly List<(string Name, StoreDType DType, long[] Shape, ReadOnlyMemory<float> Data)> _tensors = new();
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);

    /// <summary>Written as "__metadata__" when not empty.</summary>
    public Dictionary<string, string> Metadata { get; } = new(StringComparer.Ordinal);

    public int Count => _tensors.Count;

    /// <summary>Adds a tensor; <paramref name="data"/> is read when <see cref="Save"/> runs, so keep it unchanged until then.</summary>
    public SafeTensorsWriter Add(string name, ReadOnlyMemory<float> data, StoreDType dtype, params long[] shape)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(shape);
        if (name == "__metadata__") throw new ArgumentException("'__metadata__' is reserved", nameof(name));
        if (!_names.Add(name)) throw new ArgumentException($"tensor '{name}' added twice", nameof(name));
        long count = 1;
        foreach (long d in shape)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(d, nameof(shape));
            count = checked(count * d);
        }
        if (count != data.Length) throw new ArgumentException($"tensor '{name}': shape [{string.Join(", ", shape)}] holds {count} elements but data has {data.Length}");
        _tensors.Add((name, dtype, (long[])shape.Clone(), data));
        return this;
    }

    public static int Size(StoreDType t) => t == StoreDType.F32 ? 4 : 2;

    /// <summary>The header bytes (length prefix included) for the tensors added so far.</summary>
    public byte[] BuildHeader()
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            if (Metadata.Count > 0)
            {
                w.WriteStartObject("__metadata__");
                foreach (var (k, v) in Metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal)) w.WriteString(k, v);
                w.WriteEndObject();
            }
            long offset = 0;
            foreach (var t in _tensors)
            {
                long bytes = checked((long)t.Data.Length * Size(t.DType));
                w.WriteStartObject(t.Name);
                w.WriteString("dtype", t.DType.ToString());
                w.WriteStartArray("shape");
                foreach (long d in t.Shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                w.WriteNumberValue(offset + bytes);
                w.WriteEndArray();
                w.WriteEndObject();
                offset += bytes;
            }
            w.WriteEndObject();
        }
        var json = ms.ToArray();
        int padded = (json.Length + 7) / 8 * 8;
        var header = new byte[8 + padded];
        BinaryPrimitives.WriteUInt64LittleEndian(header, (ulong)padded);
        json.CopyTo(header, 8);
        header.AsSpan(8 + json.Length).Fill((byte)' ');
        return header;
    }

    /// <summary>Writes the file atomically: a temporary file beside <paramref name="path"/>, then a rename.</summary>
    public void Save(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        AtomicFile.Write(path, fs =>
        {
            fs.Write(BuildHeader());
            var buf = new byte[1 << 20];
            foreach (var t in _tensors) WriteData(fs, t.Data.Span, t.DType, buf);
        });
    }

    private static void WriteData(Stream s, ReadOnlySpan<float> data, StoreDType dtype, byte[] buf)
    {
        if (dtype == StoreDType.F32 && BitConverter.IsLittleEndian)
        {
            s.Write(MemoryMarshal.AsBytes(data));
            return;
        }
        int per = buf.Length / 2;
        for (int i = 0; i < data.Length; i += per)
        {
            var chunk = data.Slice(i, Math.Min(per, data.Length - i));
            var dst = MemoryMarshal.Cast<byte, ushort>(buf.AsSpan(0, chunk.Length * 2));
            if (dtype == StoreDType.F16) NarrowF16(chunk, dst);
            else if (dtype == StoreDType.BF16) NarrowBf16(chunk, dst);
            else throw new ArgumentOutOfRangeException(nameof(dtype));
            s.Write(buf, 0, chunk.Length * 2);
        }
    }

    /// <summary>float to IEEE half bits, round to nearest even.</summary>
    public static void NarrowF16(ReadOnlySpan<float> src, Span<ushort> dst)
    {
        if (src.Length != dst.Length) throw new ArgumentException("source and destination lengths differ");
        TensorPrimitives.ConvertToHalf(src, MemoryMarshal.Cast<ushort, Half>(dst));
    }

    /// <summary>float to bfloat16 bits, round to nearest even (NaN stays a quiet NaN), as torch converts.</summary>
    public static void NarrowBf16(ReadOnlySpan<float> src, Span<ushort> dst)
    {
        if (src.Length != dst.Length) throw new ArgumentException("source and destination lengths differ");
        for (int i = 0; i < src.Length; i++) dst[i] = ToBf16(src[i]);
    }

    public static ushort ToBf16(float f)
    {
        uint bits = BitConverter.SingleToUInt32Bits(f);
        if (float.IsNaN(f)) return (ushort)((bits >> 16) | 0x40);
        uint rounding = 0x7FFF + ((bits >> 16) & 1);
        return (ushort)((bits + rounding) >> 16);
    }

    /// <summary>For tests and tools: the UTF-8 JSON text of a header built by <see cref="BuildHeader"/>.</summary>
    public static string HeaderJson(byte[] header)
    {
        ArgumentNullException.ThrowIfNull(header);
        return Encoding.UTF8.GetString(header, 8, header.Length - 8).TrimEnd(' ');
    }
}

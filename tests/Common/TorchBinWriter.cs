using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace LearningCurves.Tests.Common;

/// <summary>
/// Tests only: writes a state dict in torch.save's zip layout, as torch 1.13 writes it (checked against files torch
/// wrote, tests/fixtures/torch-bin): stored zip entries ARCHIVE/data.pkl, ARCHIVE/data/KEY (raw little-endian
/// storage bytes), ARCHIVE/version ("3\n"); the pickle is protocol 2: an OrderedDict built by REDUCE, then MARK, each
/// key and its _rebuild_tensor_v2(persistent storage id, offset, size, stride, False, OrderedDict()) call, SETITEMS,
/// STOP. Lets a test make random .bin checkpoints of shapes, dtypes, strides and sharings that no fixture holds.
/// </summary>
public sealed class TorchBinWriter
{
    public sealed record Storage(string Key, string TypeName, int ElementSize, byte[] Bytes);

    private readonly List<Storage> _storages = new();
    private readonly List<(string Name, Storage S, long Offset, long[] Shape, long[] Stride)> _tensors = new();

    /// <summary>A storage of raw little-endian element bytes; <paramref name="typeName"/> e.g. "FloatStorage".</summary>
    public Storage AddStorage(string typeName, int elementSize, byte[] bytes)
    {
        var s = new Storage(_storages.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), typeName, elementSize, bytes);
        _storages.Add(s);
        return s;
    }

    public void AddTensor(string name, Storage s, long offset, long[] shape, long[] stride) => _tensors.Add((name, s, offset, shape, stride));

    /// <summary>Writes the file; <paramref name="raw"/>, when given, replaces the pickle bytes (for malformed cases).</summary>
    public void Save(string path, byte[]? raw = null)
    {
        string prefix = Path.GetFileNameWithoutExtension(path) + "/";
        using var fs = File.Create(path);
        using var zip = new ZipArchive(fs, ZipArchiveMode.Create);
        void Put(string name, byte[] data)
        {
            var e = zip.CreateEntry(prefix + name, CompressionLevel.NoCompression);
            using var s = e.Open();
            s.Write(data);
        }
        Put("data.pkl", raw ?? Pickle());
        foreach (var s in _storages) Put("data/" + s.Key, s.Bytes);
        Put("version", "3\n"u8.ToArray());
    }

    public byte[] Pickle()
    {
        var p = new List<byte> { 0x80, 2 };
        void Global(string module, string name) => p.AddRange(Encoding.ASCII.GetBytes($"c{module}\n{name}\n"));
        void Str(string s)
        {
            var b = Encoding.UTF8.GetBytes(s);
            p.Add((byte)'X');
            p.AddRange(BitConverter.GetBytes(b.Length));
            p.AddRange(b);
        }
        void Int(long v)
        {
            if (v is >= int.MinValue and <= int.MaxValue)
            {
                p.Add((byte)'J');
                var b = new byte[4];
                BinaryPrimitives.WriteInt32LittleEndian(b, (int)v);
                p.AddRange(b);
            }
            else
            {
                p.Add(0x8a);
                p.Add(8);
                var b = new byte[8];
                BinaryPrimitives.WriteInt64LittleEndian(b, v);
                p.AddRange(b);
            }
        }
        void Tuple(long[] xs)
        {
            p.Add((byte)'(');
            foreach (var x in xs) Int(x);
            p.Add((byte)'t');
        }
        Global("collections", "OrderedDict");
        p.Add((byte)')');
        p.Add((byte)'R');
        p.Add((byte)'(');
        foreach (var (name, s, offset, shape, stride) in _tensors)
        {
            Str(name);
            Global("torch._utils", "_rebuild_tensor_v2");
            p.Add((byte)'(');
            p.Add((byte)'(');
            Str("storage");
            Global("torch", s.TypeName);
            Str(s.Key);
            Str("cpu");
            Int(s.Bytes.Length / s.ElementSize);
            p.Add((byte)'t');
            p.Add((byte)'Q');
            Int(offset);
            Tuple(shape);
            Tuple(stride);
            p.Add(0x89);
            Global("collections", "OrderedDict");
            p.Add((byte)')');
            p.Add((byte)'R');
            p.Add((byte)'t');
            p.Add((byte)'R');
        }
        p.Add((byte)'u');
        p.Add((byte)'.');
        return p.ToArray();
    }
}

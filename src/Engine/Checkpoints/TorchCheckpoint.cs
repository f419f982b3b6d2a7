using System.Runtime.InteropServices;
using System.Text;
using LearningCurves.Formats;

namespace LearningCurves.Engine.Checkpoints;

/// <summary>
/// One file written by torch.save (zip format, torch 1.6 and later): a zip of stored entries
/// <c>ARCHIVE/data.pkl</c> (the pickled state dict), <c>ARCHIVE/data/KEY</c> (one per storage, raw little-endian
/// elements), <c>ARCHIVE/version</c> and, from torch 2.x, <c>ARCHIVE/byteorder</c> and <c>ARCHIVE/.data/serialization_id</c>,
/// where ARCHIVE is the folder of the first entry (torch uses the file's stem). The pickle is read by
/// <see cref="StateDictUnpickler"/>, which refuses anything but a state dict before acting on it. Tensors are views of
/// storages (offset, sizes, strides); several tensors may share one storage (a tied head). Nothing is copied until a
/// tensor is read, straight from the mapping.
/// </summary>
public sealed class TorchFile : IDisposable
{
    private readonly StoredZip _zip;
    private readonly Dictionary<string, (TorchTensorRef Ref, StoredZipEntry Entry)> _tensors;

    private TorchFile(string path, StoredZip zip, Dictionary<string, (TorchTensorRef, StoredZipEntry)> tensors, IReadOnlyList<string> order)
    {
        Path = path;
        _zip = zip;
        _tensors = tensors;
        Names = order;
    }

    public string Path { get; }

    /// <summary>Tensor names in the state dict's order.</summary>
    public IReadOnlyList<string> Names { get; }

    public bool Contains(string name) => _tensors.ContainsKey(name);

    public TorchTensorRef Tensor(string name) =>
        _tensors.TryGetValue(name, out var t) ? t.Ref : throw UserError.InFile(Path, $"no tensor named '{name}'");

    public static TorchFile Open(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path)) throw UserError.InFile(path, "file not found");
        CheckNotLegacy(path);
        var zip = StoredZip.Open(path);
        try
        {
            if (zip.Entries.Count == 0) throw UserError.InFile(path, "the zip archive is empty; torch.save writes ARCHIVE/data.pkl");
            string first = zip.Entries[0].Name;
            int slash = first.IndexOf('/', StringComparison.Ordinal);
            if (slash <= 0) throw UserError.InFile(path, $"entry '{first}' is not inside an archive folder, as torch.save writes them");
            string prefix = first[..(slash + 1)];
            if (!zip.TryGet(prefix + "data.pkl", out var pkl))
                throw UserError.InFile(path, $"no {prefix}data.pkl: a zip archive, but not one written by torch.save");
            if (zip.TryGet(prefix + "byteorder", out var bo))
            {
                var order = Encoding.ASCII.GetString(zip.Bytes(bo)).Trim();
                if (order != "little") throw UserError.InFile(path, $"storages are {order}-endian; only little-endian files are supported");
            }
            var order2 = new List<string>();
            var tensors = new Dictionary<string, (TorchTensorRef, StoredZipEntry)>(StringComparer.Ordinal);
            var entryOf = new Dictionary<string, StoredZipEntry>(StringComparer.Ordinal);
            var unpickler = new StateDictUnpickler($"{path} ({prefix}data.pkl)", s =>
            {
                string entryName = prefix + "data/" + s.Key;
                if (!zip.TryGet(entryName, out var e)) throw UserError.InFile(path, $"storage '{s.Key}' has no entry {entryName}");
                long need = checked(s.Numel * SafeTensorsFile.DTypeSize(s.DType));
                if (e.Length != need)
                    throw UserError.InFile(path, $"storage '{s.Key}' ({s.TypeName}, {s.Numel} elements) needs {need} bytes but {entryName} holds {e.Length}");
                entryOf[s.Key] = e;
                return new TorchStorageRef(s.Key, s.DType, s.TypeName, s.Numel);
            });
            foreach (var (name, t) in unpickler.ReadStateDict(zip.Bytes(pkl)))
            {
                tensors[name] = (t, entryOf[t.Storage.Key]);
                order2.Add(name);
            }
            return new TorchFile(path, zip, tensors, order2);
        }
        catch (OverflowException)
        {
            zip.Dispose();
            throw UserError.InFile(path, "a size or offset in the archive overflows 64 bits: corrupt");
        }
        catch
        {
            zip.Dispose();
            throw;
        }
    }

    /// <summary>Files from before torch 1.6 (a bare pickle stream, or the older tar layout) are refused by name.</summary>
    private static void CheckNotLegacy(string path)
    {
        Span<byte> head = stackalloc byte[512];
        int n;
        using (var fs = File.OpenRead(path))
        {
            n = fs.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        }
        head = head[..n];
        if (StoredZip.LooksLikeZip(head)) return;
        if (n >= 2 && head[0] == 0x80 && head[1] <= 5)
            throw UserError.InFile(path, "is in torch's legacy (pre-1.6) serialization format, which is not supported: re-save it with torch.save from torch 1.6 or later, or convert it to safetensors");
        if (n >= 262 && head.Slice(257, 5).SequenceEqual("ustar"u8))
            throw UserError.InFile(path, "is in torch's legacy tar serialization format, which is not supported: re-save it with a current torch.save, or convert it to safetensors");
        throw UserError.InFile(path, "is not a torch.save zip archive (no zip signature at the start)");
    }

    /// <summary>Tensor <paramref name="name"/> widened to float32, row-major, into <paramref name="dst"/>.</summary>
    public void ReadFloats(string name, Span<float> dst)
    {
        if (!_tensors.TryGetValue(name, out var te)) throw UserError.InFile(Path, $"no tensor named '{name}'");
        var (t, entry) = te;
        long count = t.Shape.Aggregate(1L, (a, b) => a * b);
        if (dst.Length != count) throw new ArgumentException($"destination holds {dst.Length} floats, tensor '{name}' has {count}");
        var dt = t.Storage.DType;
        if (dt is not (SafeTensorsDType.F32 or SafeTensorsDType.F16 or SafeTensorsDType.BF16))
            throw UserError.InFile(Path, $"tensor '{name}' is stored as {t.Storage.TypeName}; only FloatStorage, HalfStorage and BFloat16Storage weights are supported");
        if (count == 0) return;
        int es = SafeTensorsFile.DTypeSize(dt);
        int rank = t.Shape.Length;

        // Row-major contiguous (size-1 dimensions may have any stride): one span of the storage.
        bool contiguous = true;
        long expect = 1;
        for (int d = rank - 1; d >= 0; d--)
        {
            if (t.Shape[d] != 1 && t.Stride[d] != expect) contiguous = false;
            expect *= t.Shape[d];
        }
        if (contiguous)
        {
            Widen(dt, _zip.Bytes(entry, t.Offset * es, count * es), dst);
            return;
        }

        // A strided view (e.g. a transposed weight saved as is): walk the index, last dimension innermost.
        long inner = rank == 0 ? 1 : t.Shape[rank - 1];
        long innerStride = rank == 0 ? 1 : t.Stride[rank - 1];
        var idx = new long[Math.Max(rank - 1, 0)];
        long outer = count / inner;
        Span<float> one = stackalloc float[1];
        for (long o = 0; o < outer; o++)
        {
            long start = t.Offset;
            for (int d = 0; d < idx.Length; d++) start += idx[d] * t.Stride[d];
            var row = dst.Slice((int)(o * inner), (int)inner);
            if (innerStride == 1)
            {
                Widen(dt, _zip.Bytes(entry, start * es, inner * es), row);
            }
            else
            {
                for (long i = 0; i < inner; i++)
                {
                    Widen(dt, _zip.Bytes(entry, (start + i * innerStride) * es, es), one);
                    row[(int)i] = one[0];
                }
            }
            for (int d = idx.Length - 1; d >= 0; d--)
            {
                if (++idx[d] < t.Shape[d]) break;
                idx[d] = 0;
            }
        }
    }

    private static void Widen(SafeTensorsDType dt, ReadOnlySpan<byte> src, Span<float> dst)
    {
        switch (dt)
        {
            case SafeTensorsDType.F32: src.CopyTo(MemoryMarshal.AsBytes(dst)); break;
            case SafeTensorsDType.F16: SafeTensorsFile.WidenF16(src, dst); break;
            default: SafeTensorsFile.WidenBf16(src, dst); break;
        }
    }

    public void Dispose() => _zip.Dispose();
}

/// <summary>
/// The tensors of a model folder saved by torch: one <c>pytorch_model.bin</c>, or shards listed by
/// <c>pytorch_model.bin.index.json</c> (the same {"weight_map": {...}} layout as safetensors shards). Each shard must hold
/// exactly the tensors the index maps to it.
/// </summary>
public sealed class TorchCheckpoint : ShardedCheckpoint<TorchFile>, ITensorSource
{
    public const string SingleFileName = "pytorch_model.bin";
    public const string IndexFileName = "pytorch_model.bin.index.json";

    private TorchCheckpoint((string Source, List<TorchFile> Files, Dictionary<string, TorchFile> Owner) opened)
        : base(opened.Source, opened.Files, opened.Owner)
    {
    }

    public TensorMeta Meta(string name)
    {
        var f = Owner(name);
        var t = f.Tensor(name);
        return new TensorMeta(name, t.Storage.DType, t.Shape, f.Path);
    }

    public void ReadFloats(string name, Span<float> dst) => Owner(name).ReadFloats(name, dst);

    /// <summary>Opens <paramref name="dir"/>/pytorch_model.bin, or the shards of its index when there is no single file.</summary>
    public static TorchCheckpoint Open(string dir) =>
        new(OpenFolder(dir, SingleFileName, IndexFileName, TorchFile.Open, f => f.Names, f => f.Path));
}

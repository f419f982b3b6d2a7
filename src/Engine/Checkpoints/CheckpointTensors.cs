using System.IO.Hashing;
using System.Text;
using LearningCurves.Engine.Backends;
using LearningCurves.Engine.Model;
using LearningCurves.Formats;

namespace LearningCurves.Engine.Checkpoints;

/// <summary>
/// A Hugging Face checkpoint opened and checked against its config from the headers alone (the checks of
/// <see cref="HfCheckpoint.Load(string)"/>: names, shapes, dtypes), whose tensors are then read one at a time as stored:
/// the GPU loading path (<see cref="DecoderModel(IBackend, CheckpointTensors, int)"/>) streams them from the memory-mapped
/// shards into device buffers without widening the model to float32 on the host. Safetensors give their mapped bytes;
/// a torch.save file gives one tensor at a time widened to float32 (so the host holds at most the largest tensor).
/// </summary>
public sealed class CheckpointTensors : IDisposable
{
    private readonly ITensorSource _ck;
    private readonly Dictionary<string, string> _stored;

    private CheckpointTensors(ITensorSource ck, ModelConfig cfg, string source, Dictionary<string, string> stored, bool untied, string headName)
    {
        _ck = ck;
        _stored = stored;
        Config = cfg;
        Source = source;
        Untied = untied;
        HeadName = headName;
        Specs = TensorTable.For(cfg, untied);
    }

    public ModelConfig Config { get; }

    /// <summary>The model folder.</summary>
    public string Source { get; }

    /// <summary>Whether the head is the checkpoint's own (stored and tie_word_embeddings false).</summary>
    public bool Untied { get; }

    /// <summary>The name the head is stored under, when one is.</summary>
    public string HeadName { get; }

    /// <summary>The tensors the model uses, in table order (with the head when untied).</summary>
    public IReadOnlyList<TensorSpec> Specs { get; }

    /// <summary>Opens <paramref name="dir"/> and checks it against its config.json; reads no tensor data except, when a
    /// head is stored beside tie_word_embeddings true, the head and the embedding (to check they are equal, as
    /// <see cref="HfCheckpoint.Load(string)"/> does).</summary>
    public static CheckpointTensors Open(string dir)
    {
        var cfg = HfConfig.LoadFromFolder(dir);
        var ck = TensorSources.Open(dir);
        try
        {
            var (expected, stored, hasHead, headName) = HfCheckpoint.Resolve(ck, cfg, dir);
            var result = new CheckpointTensors(ck, cfg, dir, stored, hasHead && !cfg.TieWordEmbeddings, headName);
            if (hasHead && cfg.TieWordEmbeddings)
            {
                var wte = expected.First(t => t.Role == TensorRole.Wte);
                var head = expected.First(t => t.Role == TensorRole.Head);
                if (!result.SameValues(wte, head))
                    throw UserError.InFile(ck.Meta(headName).File,
                        $"{headName} differs from {wte.Name} but {Path.Combine(dir, HfConfig.FileName)} sets tie_word_embeddings true");
            }
            return result;
        }
        catch
        {
            ck.Dispose();
            throw;
        }
    }

    /// <summary>The stored dtype and shape of <paramref name="s"/>.</summary>
    public TensorMeta Meta(TensorSpec s) => _ck.Meta(_stored[s.Name]);

    /// <summary>The stored values of <paramref name="s"/> (row-major in its stored shape) as bytes of a stored type:
    /// the mapped bytes of a safetensors file (valid while this is open), else the tensor widened to float32 into a new
    /// array. <paramref name="asF32"/> asks for float32 whatever the file holds.</summary>
    public (StoredBytes Bytes, StoredType Type) Stored(TensorSpec s, bool asF32 = false)
    {
        ArgumentNullException.ThrowIfNull(s);
        var name = _stored[s.Name];
        if (!asF32 && _ck is SafeTensorsCheckpoint st)
        {
            var (file, info) = st.Get(name);
            var t = TypeOf(info.DType);
            return (new StoredBytes(file, info), t);
        }
        var values = new float[_ck.Meta(name).ElementCount];
        _ck.ReadFloats(name, values);
        return (new StoredBytes(values), StoredType.F32);
    }

    /// <summary>Lets go of the pages of <paramref name="s"/>'s bytes in a mapped file once they are on the device
    /// (<see cref="SafeTensorsFile.ReleasePages"/>); nothing for other containers.</summary>
    public void Release(TensorSpec s)
    {
        ArgumentNullException.ThrowIfNull(s);
        if (_ck is not SafeTensorsCheckpoint st) return;
        var (file, info) = st.Get(_stored[s.Name]);
        file.ReleasePages(info);
    }

    /// <summary>Elements widened to float32 at a time while hashing (256 KB).</summary>
    private const int HashPiece = 1 << 16;

    /// <summary>
    /// The weights' content hash, equal to the <see cref="ModelWeights.ContentHash"/> that
    /// <see cref="HfCheckpoint.Load(string)"/> gives (XxHash128 of each tensor's name without prefix and its values
    /// widened to float32, in table order, the untied head last under its canonical name), read from the stored bytes a
    /// piece at a time (F32 bytes as they are; F16 and BF16 widened into one small buffer), each tensor's mapped pages
    /// let go once hashed (<see cref="Release"/>): the host never holds the model in float32. Reading every byte also
    /// brings the files into the page cache, from which the upload then reads them.
    /// </summary>
    public string ContentHash()
    {
        var hash = new XxHash128();
        var piece = new float[HashPiece];
        foreach (var s in Specs)
        {
            hash.Append(Encoding.UTF8.GetBytes(s.Name + "\0"));
            var (bytes, t) = Stored(s);
            var span = bytes.Span;
            if (t == StoredType.F32) hash.Append(span);
            else
            {
                int es = t.Size();
                long n = span.Length / es;
                for (long i = 0; i < n; i += HashPiece)
                {
                    int m = (int)Math.Min(HashPiece, n - i);
                    DTypes.Widen(span.Slice((int)(i * es), m * es), t, piece.AsSpan(0, m));
                    hash.Append(System.Runtime.InteropServices.MemoryMarshal.AsBytes(piece.AsSpan(0, m)));
                }
            }
            Release(s);
        }
        return Convert.ToHexStringLower(hash.GetCurrentHash());
    }

    /// <summary>The stored type of a float dtype (the only ones <see cref="HfCheckpoint.Resolve"/> lets through).</summary>
    public static StoredType TypeOf(SafeTensorsDType d) => d switch
    {
        SafeTensorsDType.F32 => StoredType.F32,
        SafeTensorsDType.F16 => StoredType.F16,
        SafeTensorsDType.BF16 => StoredType.Bf16,
        _ => throw new ArgumentOutOfRangeException(nameof(d), d, "not a float dtype"),
    };

    /// <summary>Whether two tensors hold the same values as float32 (compared piece by piece).</summary>
    private bool SameValues(TensorSpec a, TensorSpec b)
    {
        var (x, tx) = Stored(a);
        var (y, ty) = Stored(b);
        var xs = x.Span;
        var ys = y.Span;
        long n = xs.Length / tx.Size();
        if (n != ys.Length / ty.Size()) return false;
        const int Piece = 1 << 16;
        var fx = new float[Piece];
        var fy = new float[Piece];
        for (long i = 0; i < n; i += Piece)
        {
            int m = (int)Math.Min(Piece, n - i);
            DTypes.Widen(xs.Slice((int)(i * tx.Size()), m * tx.Size()), tx, fx.AsSpan(0, m));
            DTypes.Widen(ys.Slice((int)(i * ty.Size()), m * ty.Size()), ty, fy.AsSpan(0, m));
            if (!fx.AsSpan(0, m).SequenceEqual(fy.AsSpan(0, m))) return false;
        }
        return true;
    }

    public void Dispose() => _ck.Dispose();
}

/// <summary>A tensor's stored bytes: a range of a mapped safetensors file, or a float32 array.</summary>
public readonly struct StoredBytes
{
    private readonly SafeTensorsFile? _file;
    private readonly SafeTensorInfo? _info;
    private readonly float[]? _values;

    public StoredBytes(SafeTensorsFile file, SafeTensorInfo info)
    {
        _file = file;
        _info = info;
        _values = null;
    }

    public StoredBytes(float[] values)
    {
        _file = null;
        _info = null;
        _values = values;
    }

    public ReadOnlySpan<byte> Span => _values is not null
        ? System.Runtime.InteropServices.MemoryMarshal.AsBytes(_values.AsSpan())
        : _file!.Bytes(_info!);
}

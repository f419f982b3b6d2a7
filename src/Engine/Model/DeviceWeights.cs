using System.Runtime.InteropServices;
using LearningCurves.Engine.Backends;
using LearningCurves.Engine.Checkpoints;

namespace LearningCurves.Engine.Model;

/// <summary>
/// A model's weights as backend buffers, owned by <see cref="DecoderModel"/>, one per entry of the architecture's
/// tensor table, each as its <see cref="TensorUse"/> says: matrices through UploadWeight (reduced precision where the
/// backend chooses), product biases in the type of the product's output, the rest in full precision. The head is its
/// own copy, on an aligned vocabulary: <see cref="HeadRows"/> rows, V rounded up to a multiple of
/// <c>headRowMultiple</c> (128: 50,257 -> 50,304; 1024: 51,200), the rows past V zero (the products then run on whole
/// tiles with an aligned stride; the log-sum-exp never reads the padding). <see cref="Load(ModelWeights)"/> writes another
/// checkpoint of the same shapes into the same buffers, from float32 weights or streamed from an open checkpoint (a
/// sweep keeps one model, and its captured graphs, for a run).
/// </summary>
internal sealed class DeviceWeights : IDisposable
{
    /// <summary>The head's rows are padded to a multiple of this by default.</summary>
    public const int DefaultHeadRowMultiple = 128;

    private readonly IBackend _be;
    private readonly List<IDeviceBuffer> _all = new();
    private readonly Dictionary<TensorKey, IDeviceBuffer> _byKey = new();
    private readonly bool _headIsWte;
    private readonly IReadOnlyList<DeviceTensor> _plan;

    public DeviceWeights(IBackend be, ModelWeights w, int headRowMultiple = DefaultHeadRowMultiple)
        : this(be, w.Config, w.LmHead is not null, headRowMultiple)
    {
        try
        {
            Load(w);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>The weights of an open checkpoint, streamed tensor by tensor from its stored bytes
    /// (<see cref="StreamIn"/>): the host never holds the model in float32.</summary>
    public DeviceWeights(IBackend be, CheckpointTensors ck, int headRowMultiple = DefaultHeadRowMultiple)
        : this(be, ck.Config, ck.Untied, headRowMultiple)
    {
        try
        {
            StreamIn(ck);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Allocates every buffer of <see cref="Plan"/> (zeroed; the head's padding rows stay zero).</summary>
    private DeviceWeights(IBackend be, ModelConfig cfg, bool untied, int headRowMultiple)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(headRowMultiple, 1);
        _be = be;
        Config = cfg;
        Untied = untied;
        HeadRows = PaddedVocab(cfg.VocabSize, headRowMultiple);
        _plan = Plan(cfg, untied, be.Precision, headRowMultiple);
        try
        {
            foreach (var t in _plan)
            {
                var d = Own(be.Allocate(t.Length, t.Type));
                if (t.IsHead) Head = d;
                else _byKey.Add(t.Key, d);
            }
            _headIsWte = Head is null; // tied fp32 on an aligned vocabulary: wte itself
            Head ??= this[TensorRole.Wte];
            if (Config.Architecture == Architecture.Olmo)
            {
                // OLMo's layer norm has no parameters: weight one, bias zero (exact: x * 1 + 0 = x).
                Ones = Own(be.Upload(Enumerable.Repeat(1f, Config.Embd).ToArray()));
                Zeros = Own(be.Upload(new float[Config.Embd]));
            }
        }
        catch
        {
            Dispose();
            throw;
        }
        Blocks = Enumerable.Range(0, Config.Layers).Select(l => new Block(this, l)).ToArray();
    }

    /// <summary>One device buffer of a model: its key (the head: <see cref="TensorRole.Head"/>), elements, type, and
    /// the stored tensors it is made of, side by side in each row (q | k | v, gate | up) or alone.</summary>
    public sealed record DeviceTensor(TensorKey Key, long Length, DType Type, TensorSpec[] Parts, bool IsHead);

    /// <summary>
    /// The device buffers of a model of <paramref name="cfg"/> in <paramref name="p"/>, each as its
    /// <see cref="TensorUse"/> says: matrices in the products' input type (bf16 in bf16 mode), product biases in the
    /// type of the product's output (the same), the rest F32; the LLaMA family's q | k | v and gate | up fused; the
    /// head its own copy on the padded vocabulary unless it is wte itself (tied, fp32 or tf32, no padding). The weights'
    /// device bytes are the sum of these (<see cref="Bytes"/>).
    /// </summary>
    public static IReadOnlyList<DeviceTensor> Plan(ModelConfig cfg, bool untied, Precision p, int headRowMultiple = DefaultHeadRowMultiple)
    {
        ArgumentNullException.ThrowIfNull(cfg);
        var act = DTypes.GemmInput(p);
        var specs = TensorTable.For(cfg, untied);
        var byKey = specs.ToDictionary(s => s.Key);
        var plan = new List<DeviceTensor>();
        DType TypeOf(TensorUse u) => u == TensorUse.Vector ? DType.F32 : act;
        foreach (var s in specs)
        {
            if (s.Role == TensorRole.Head || FusedPart(s.Role)) continue;
            plan.Add(new DeviceTensor(s.Key, s.ElementCount, TypeOf(s.Use), [s], false));
        }
        if (cfg.IsLlamaFamily)
        {
            for (int l = 0; l < cfg.Layers; l++)
            {
                foreach (var (key, use, roles) in FusionsOf(cfg, l))
                {
                    var parts = roles.Select(r => byKey[new TensorKey(r, l)]).ToArray();
                    plan.Add(new DeviceTensor(key, parts.Sum(x => x.ElementCount), TypeOf(use), parts, false));
                }
            }
        }
        int headRows = PaddedVocab(cfg.VocabSize, headRowMultiple);
        bool headIsWte = headRows == cfg.VocabSize && !untied && p != Precision.Bf16;
        if (!headIsWte)
        {
            var source = untied ? byKey[new TensorKey(TensorRole.Head, -1)] : byKey[new TensorKey(TensorRole.Wte, -1)];
            plan.Add(new DeviceTensor(new TensorKey(TensorRole.Head, -1), (long)headRows * cfg.Embd, act, [source], true));
        }
        return plan;
    }

    /// <summary>Device bytes of the weights of <paramref name="cfg"/> in <paramref name="p"/> (<see cref="Plan"/>;
    /// OLMo's ones and zeros included).</summary>
    public static long Bytes(ModelConfig cfg, bool untied, Precision p, int headRowMultiple = DefaultHeadRowMultiple) =>
        Plan(cfg, untied, p, headRowMultiple).Sum(t => t.Length * t.Type.Size())
        + (cfg.Architecture == Architecture.Olmo ? 2L * cfg.Embd * 4 : 0);

    /// <summary>Stored elements gathered per <see cref="IBackend.WriteStored"/> call while streaming: the host's staging
    /// (4 M elements: 8 MB of bf16, 16 MB of fp32).</summary>
    public const int StreamElements = 1 << 22;

    /// <summary>
    /// Writes every buffer from the checkpoint's stored bytes, a block of engine-layout rows at a time: each block is
    /// gathered in the stored type (bf16 stays bf16; transposes, NeoX's qkv regrouping and the LLaMA fusions done by
    /// the gather) into one bounded staging array and handed to <see cref="IBackend.WriteStored"/>, which converts it to
    /// the buffer's type as <see cref="IBackend.Write(IDeviceBuffer, ReadOnlySpan{float})"/> would the widened values:
    /// the same device bits as the float32 path.
    /// </summary>
    private void StreamIn(CheckpointTensors ck)
    {
        var stage = new byte[StreamElements * 4L];
        foreach (var t in _plan)
        {
            var d = t.IsHead ? Head : _byKey[t.Key];
            var types = t.Parts.Select(s => CheckpointTensors.TypeOf(ck.Meta(s).DType)).Distinct().ToList();
            bool asF32 = types.Count > 1; // parts stored in different types: gathered as float32
            var parts = t.Parts.Select(s => (Spec: s, Bytes: ck.Stored(s, asF32))).ToList();
            var type = parts[0].Bytes.Type;
            int es = type.Size();
            var layouts = t.Parts.Select(s => EngineLayout(s, Config)).ToList();
            int rows = layouts[0].Rows, width = layouts.Sum(x => x.Width);
            if (layouts.Any(x => x.Rows != rows)) throw new InvalidOperationException($"the parts of {t.Key.Role} differ in rows");
            int block = Math.Clamp(StreamElements / Math.Max(width, 1), 1, Math.Max(rows, 1));
            for (int r0 = 0; r0 < rows; r0 += block)
            {
                int m = Math.Min(block, rows - r0);
                var dst = stage.AsSpan(0, m * width * es);
                int off = 0;
                for (int p = 0; p < parts.Count; p++)
                {
                    var src = parts[p].Bytes.Bytes.Span;
                    if (es == 2) Gather(MemoryMarshal.Cast<byte, ushort>(src), MemoryMarshal.Cast<byte, ushort>(dst), layouts[p], r0, m, width, off);
                    else Gather(MemoryMarshal.Cast<byte, uint>(src), MemoryMarshal.Cast<byte, uint>(dst), layouts[p], r0, m, width, off);
                    off += layouts[p].Width;
                }
                _be.WriteStored(d, (long)r0 * width, dst, type);
            }
            // The device buffer has its copy (WriteStored staged every chunk): the mapped pages can go.
            foreach (var part in t.Parts) ck.Release(part);
        }
    }

    /// <summary>How a stored tensor's elements sit in the engine's layout (rows x width): Direct (the same row-major
    /// order), or by columns: engine (r, j) = stored[Map(j) * Rows + r] (a transpose, Map the identity; NeoX's fused
    /// qkv, Map regrouping per-head q | k | v to q | k | v of all heads).</summary>
    private sealed record Layout(int Rows, int Width, bool Direct, int[]? Map);

    private static Layout EngineLayout(TensorSpec s, ModelConfig cfg)
    {
        int c = cfg.Embd;
        int[] QkvMap()
        {
            int hs = cfg.HeadSize;
            var map = new int[3 * c];
            for (int e = 0; e < map.Length; e++)
            {
                int j = e / c, h = e % c / hs, dd = e % hs;
                map[e] = (h * 3 + j) * hs + dd;
            }
            return map;
        }
        return s.Transform switch
        {
            TensorTransform.None => s.Shape.Length == 1 ? new Layout(1, (int)s.Shape[0], true, null) : new Layout((int)s.Shape[0], (int)s.Shape[1], true, null),
            TensorTransform.Transpose => new Layout((int)s.Shape[1], (int)s.Shape[0], false, null),
            TensorTransform.FusedQkvWeight => new Layout(c, 3 * c, false, QkvMap()),
            TensorTransform.FusedQkvBias => new Layout(1, 3 * c, false, QkvMap()),
            _ => throw new ArgumentOutOfRangeException(nameof(s), s.Transform, "unknown tensor transform"),
        };
    }

    /// <summary>Engine rows [r0, r0 + m) of one part into columns [off, off + width of the part) of the staged block
    /// (rows of <paramref name="stride"/> elements).</summary>
    private static void Gather<T>(ReadOnlySpan<T> src, Span<T> dst, Layout l, int r0, int m, int stride, int off)
        where T : unmanaged
    {
        int w = l.Width;
        if (l.Direct)
        {
            for (int r = 0; r < m; r++) src.Slice((r0 + r) * w, w).CopyTo(dst.Slice(r * stride + off, w));
            return;
        }
        for (int j = 0; j < w; j++)
        {
            var column = src.Slice((l.Map is null ? j : l.Map[j]) * l.Rows + r0, m);
            for (int r = 0; r < m; r++) dst[r * stride + off + j] = column[r];
        }
    }

    /// <summary>(C) ones and zeros, the weight and bias of OLMo's non-parametric layer norm; null otherwise.</summary>
    public IDeviceBuffer? Ones { get; }

    public IDeviceBuffer? Zeros { get; }

    /// <summary>Whether a tensor of this role is uploaded only as part of a fused product weight.</summary>
    private static bool FusedPart(TensorRole r) => r is TensorRole.QW or TensorRole.KW or TensorRole.VW or TensorRole.QB
        or TensorRole.KB or TensorRole.VB or TensorRole.GateW or TensorRole.UpW or TensorRole.GateB or TensorRole.UpB;

    /// <summary>The LLaMA family's fused products of layer <paramref name="l"/>: q | k | v into AttnW (C, (NH + 2 NKV) HD)
    /// and its bias, gate | up into FcW (C, 2I) and its bias (the layout <see cref="IBackend.SwiGluFused"/> reads).</summary>
    private static IEnumerable<(TensorKey Key, TensorUse Use, TensorRole[] Parts)> FusionsOf(ModelConfig cfg, int l)
    {
        yield return (new TensorKey(TensorRole.AttnW, l), TensorUse.Matrix, [TensorRole.QW, TensorRole.KW, TensorRole.VW]);
        yield return (new TensorKey(TensorRole.FcW, l), TensorUse.Matrix, [TensorRole.GateW, TensorRole.UpW]);
        if (cfg.QkvBias) yield return (new TensorKey(TensorRole.AttnB, l), TensorUse.ProductBias, [TensorRole.QB, TensorRole.KB, TensorRole.VB]);
        if (cfg.MlpBias) yield return (new TensorKey(TensorRole.FcB, l), TensorUse.ProductBias, [TensorRole.GateB, TensorRole.UpB]);
    }

    /// <summary>The engine-layout tensors of <paramref name="parts"/> side by side: each row of the result is the
    /// parts' rows one after another (all have C rows, or one row for biases).</summary>
    private static float[] Fuse(ModelWeights w, int layer, TensorRole[] parts)
    {
        var arrays = parts.Select(p => w[p, layer]).ToArray();
        int rows = parts[0] is TensorRole.QW or TensorRole.GateW ? w.Config.Embd : 1;
        var widths = arrays.Select(a => a.Length / rows).ToArray();
        int total = widths.Sum();
        var fused = new float[(long)rows * total];
        for (int r = 0; r < rows; r++)
        {
            int at = r * total;
            for (int p = 0; p < arrays.Length; p++)
            {
                arrays[p].AsSpan(r * widths[p], widths[p]).CopyTo(fused.AsSpan(at));
                at += widths[p];
            }
        }
        return fused;
    }

    private IDeviceBuffer Own(IDeviceBuffer d)
    {
        _all.Add(d);
        return d;
    }

    public ModelConfig Config { get; }

    /// <summary>Whether the head is the checkpoint's own (untied).</summary>
    public bool Untied { get; }

    /// <summary>The buffer of a tensor; an error naming it when the model has none.</summary>
    public IDeviceBuffer this[TensorRole role, int layer = -1] =>
        _byKey.TryGetValue(new TensorKey(role, layer), out var d)
            ? d
            : throw new ArgumentException($"a {Config.ModelType} model has no tensor {role}{(layer >= 0 ? $" in layer {layer}" : "")}");

    public IDeviceBuffer Wte => this[TensorRole.Wte];

    /// <summary>Learned positions (GPT-2); null for rotary models.</summary>
    public IDeviceBuffer? Wpe => _byKey.GetValueOrDefault(new TensorKey(TensorRole.Wpe, -1));

    /// <summary>(HeadRows, C): the head, rows V.. zero.</summary>
    public IDeviceBuffer Head { get; } = null!;

    /// <summary>Rows of <see cref="Head"/>: the vocabulary rounded up to the row multiple.</summary>
    public int HeadRows { get; }

    /// <summary><paramref name="v"/> rounded up to a multiple of <paramref name="multiple"/>.</summary>
    public static int PaddedVocab(int v, int multiple) => checked((v + multiple - 1) / multiple * multiple);

    public IDeviceBuffer LnFW => this[TensorRole.LnFW];

    /// <summary>A tensor's buffer, or null when the model has none (an optional bias).</summary>
    public IDeviceBuffer? Find(TensorRole role, int layer = -1) => _byKey.GetValueOrDefault(new TensorKey(role, layer));
    public IDeviceBuffer LnFB => this[TensorRole.LnFB];
    public Block[] Blocks { get; }

    /// <summary>
    /// Writes <paramref name="w"/> into these buffers: same config and head tying (<see cref="Fits"/>; every tensor's
    /// values rounded as at construction: Write rounds to the buffer's type as UploadWeight does). Throws
    /// <see cref="ArgumentException"/> naming the first difference.
    /// </summary>
    public void Load(ModelWeights w)
    {
        ArgumentNullException.ThrowIfNull(w);
        if (!Fits(w)) throw Differs(w.Source, w.Config, w.LmHead is not null);
        foreach (var t in _plan)
        {
            if (t.IsHead) _be.Write(Head, w.Head.AsSpan(0, Config.VocabSize * Config.Embd)); // the padding stays zero
            else if (t.Parts.Length == 1) _be.Write(_byKey[t.Key], w[t.Parts[0]]);
            else _be.Write(_byKey[t.Key], Fuse(w, t.Key.Layer, t.Parts.Select(x => x.Role).ToArray()));
        }
    }

    /// <summary>
    /// Streams the open checkpoint <paramref name="ck"/> into these buffers (<see cref="StreamIn"/>: the same bits as
    /// <see cref="Load(ModelWeights)"/> of its float32 weights, the host holding a bounded staging array, never the
    /// model in float32). Throws <see cref="ArgumentException"/> naming the difference when its config or head tying
    /// differs.
    /// </summary>
    public void Load(CheckpointTensors ck)
    {
        ArgumentNullException.ThrowIfNull(ck);
        if (!Fits(ck.Config, ck.Untied)) throw Differs(ck.Source, ck.Config, ck.Untied);
        StreamIn(ck);
    }

    private ArgumentException Differs(string source, ModelConfig cfg, bool untied) =>
        new($"{source}: its config ({cfg.ModelType}, {cfg.Layers} layers, n_embd {cfg.Embd}, vocab {cfg.VocabSize}, "
            + $"{(untied ? "untied" : "tied")} head) differs from the model's ({Config.ModelType}, {Config.Layers} layers, "
            + $"n_embd {Config.Embd}, vocab {Config.VocabSize}, {(Untied ? "untied" : "tied")} head)");

    /// <summary>Whether <paramref name="w"/> has this config (every hyper-parameter: the forward pass reads them) and
    /// the head tied or untied alike.</summary>
    public bool Fits(ModelWeights w) => Fits(w.Config, w.LmHead is not null);

    /// <summary>Whether weights of <paramref name="cfg"/>, with an untied head or not, fit these buffers.</summary>
    public bool Fits(ModelConfig cfg, bool untied) => cfg == Config && untied == Untied;

    public void Dispose()
    {
        foreach (var d in _all) d.Dispose();
    }

    /// <summary>One block's buffers, by role.</summary>
    public sealed class Block
    {
        private readonly DeviceWeights _w;
        private readonly int _layer;

        internal Block(DeviceWeights w, int layer)
        {
            _w = w;
            _layer = layer;
        }

        public IDeviceBuffer this[TensorRole role] => _w[role, _layer];

        public IDeviceBuffer Ln1W => this[TensorRole.Ln1W];
        public IDeviceBuffer Ln1B => this[TensorRole.Ln1B];
        public IDeviceBuffer AttnW => this[TensorRole.AttnW];
        public IDeviceBuffer AttnB => this[TensorRole.AttnB];
        public IDeviceBuffer AttnProjW => this[TensorRole.AttnProjW];
        public IDeviceBuffer AttnProjB => this[TensorRole.AttnProjB];
        public IDeviceBuffer Ln2W => this[TensorRole.Ln2W];
        public IDeviceBuffer Ln2B => this[TensorRole.Ln2B];
        public IDeviceBuffer FcW => this[TensorRole.FcW];
        public IDeviceBuffer FcB => this[TensorRole.FcB];
        public IDeviceBuffer FcProjW => this[TensorRole.FcProjW];
        public IDeviceBuffer FcProjB => this[TensorRole.FcProjB];
    }
}

using LearningCurves.Engine.Backends;

namespace LearningCurves.Engine.Model;

/// <summary>
/// A model's weights as backend buffers, owned by <see cref="DecoderModel"/>, one per entry of the architecture's
/// tensor table, each as its <see cref="TensorUse"/> says: matrices through UploadWeight (reduced precision where the
/// backend chooses), product biases in the type of the product's output, the rest in full precision. The head is its
/// own copy, on an aligned vocabulary: <see cref="HeadRows"/> rows, V rounded up to a multiple of
/// <c>headRowMultiple</c> (128: 50,257 -> 50,304; 1024: 51,200), the rows past V zero (the products then run on whole
/// tiles with an aligned stride; the log-sum-exp never reads the padding). <see cref="Load"/> writes another
/// checkpoint of the same shapes into the same buffers (a sweep keeps one model, and its captured graphs, for a run).
/// </summary>
internal sealed class DeviceWeights : IDisposable
{
    /// <summary>The head's rows are padded to a multiple of this by default.</summary>
    public const int DefaultHeadRowMultiple = 128;

    private readonly IBackend _be;
    private readonly List<IDeviceBuffer> _all = new();
    private readonly Dictionary<TensorKey, IDeviceBuffer> _byKey = new();
    private readonly bool _headIsWte;

    public DeviceWeights(IBackend be, ModelWeights w, int headRowMultiple = DefaultHeadRowMultiple)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(headRowMultiple, 1);
        _be = be;
        Config = w.Config;
        Untied = w.LmHead is not null;
        // The bias of a product whose output feeds another product (qkv, the MLP's hidden layer) has that output's
        // type: bf16 in bf16 mode (cuBLASLt's epilogues take the bias in the output's type).
        var act = DTypes.GemmInput(be.Precision);
        foreach (var s in w.Specs)
        {
            if (s.Role == TensorRole.Head) continue; // below, padded
            if (FusedPart(s.Role)) continue;         // below, fused
            var values = w[s];
            IDeviceBuffer d = s.Use switch
            {
                TensorUse.Matrix => be.UploadWeight(values),
                TensorUse.ProductBias => be.Allocate(values.Length, act),
                _ => be.Upload(values),
            };
            _all.Add(d);
            if (s.Use == TensorUse.ProductBias) be.Write(d, values);
            _byKey.Add(s.Key, d);
        }
        foreach (var (key, use, parts) in Fusions(w))
        {
            var values = Fuse(w, key.Layer, parts);
            var d = use == TensorUse.Matrix ? be.UploadWeight(values) : be.Allocate(values.Length, act);
            if (use == TensorUse.ProductBias) be.Write(d, values);
            _all.Add(d);
            _byKey.Add(key, d);
        }
        if (Config.Architecture == Architecture.Olmo)
        {
            // OLMo's layer norm has no parameters: weight one, bias zero (exact: x * 1 + 0 = x).
            Ones = Own(be.Upload(Enumerable.Repeat(1f, Config.Embd).ToArray()));
            Zeros = Own(be.Upload(new float[Config.Embd]));
        }
        int v = Config.VocabSize, c = Config.Embd;
        HeadRows = PaddedVocab(v, headRowMultiple);
        _headIsWte = HeadRows == v && !Untied && be.Precision != Precision.Bf16; // tied fp32: wte itself
        if (_headIsWte) Head = Wte;
        else if (HeadRows == v) Head = Own(be.UploadWeight(w.Head));
        else
        {
            var padded = new float[(long)HeadRows * c];
            w.Head.AsSpan(0, v * c).CopyTo(padded);
            Head = Own(be.UploadWeight(padded));
        }
        Blocks = Enumerable.Range(0, Config.Layers).Select(l => new Block(this, l)).ToArray();
    }

    /// <summary>(C) ones and zeros, the weight and bias of OLMo's non-parametric layer norm; null otherwise.</summary>
    public IDeviceBuffer? Ones { get; }

    public IDeviceBuffer? Zeros { get; }

    /// <summary>Whether a tensor of this role is uploaded only as part of a fused product weight.</summary>
    private static bool FusedPart(TensorRole r) => r is TensorRole.QW or TensorRole.KW or TensorRole.VW or TensorRole.QB
        or TensorRole.KB or TensorRole.VB or TensorRole.GateW or TensorRole.UpW or TensorRole.GateB or TensorRole.UpB;

    /// <summary>The LLaMA family's fused products, per layer: q | k | v into AttnW (C, (NH + 2 NKV) HD) and its bias,
    /// gate | up into FcW (C, 2I) and its bias (the layout <see cref="IBackend.SwiGluFused"/> reads).</summary>
    private static IEnumerable<(TensorKey Key, TensorUse Use, TensorRole[] Parts)> Fusions(ModelWeights w)
    {
        if (!w.Config.IsLlamaFamily) yield break;
        for (int l = 0; l < w.Config.Layers; l++)
        {
            yield return (new TensorKey(TensorRole.AttnW, l), TensorUse.Matrix, [TensorRole.QW, TensorRole.KW, TensorRole.VW]);
            yield return (new TensorKey(TensorRole.FcW, l), TensorUse.Matrix, [TensorRole.GateW, TensorRole.UpW]);
            if (w.Config.AttentionBias) yield return (new TensorKey(TensorRole.AttnB, l), TensorUse.ProductBias, [TensorRole.QB, TensorRole.KB, TensorRole.VB]);
            if (w.Config.MlpBias) yield return (new TensorKey(TensorRole.FcB, l), TensorUse.ProductBias, [TensorRole.GateB, TensorRole.UpB]);
        }
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
    public IDeviceBuffer Head { get; }

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
        if (!Fits(w))
        {
            var cfg = w.Config;
            throw new ArgumentException($"{w.Source}: its config ({cfg.ModelType}, {cfg.Layers} layers, n_embd {cfg.Embd}, vocab {cfg.VocabSize}, "
                + $"{(w.LmHead is null ? "tied" : "untied")} head) differs from the model's ({Config.ModelType}, {Config.Layers} layers, "
                + $"n_embd {Config.Embd}, vocab {Config.VocabSize}, {(Untied ? "untied" : "tied")} head)");
        }
        foreach (var s in w.Specs)
        {
            if (s.Role == TensorRole.Head || FusedPart(s.Role)) continue;
            _be.Write(_byKey[s.Key], w[s]);
        }
        foreach (var (key, _, parts) in Fusions(w)) _be.Write(_byKey[key], Fuse(w, key.Layer, parts));
        if (!_headIsWte) _be.Write(Head, w.Head.AsSpan(0, Config.VocabSize * Config.Embd)); // the padding stays zero
    }

    /// <summary>Whether <paramref name="w"/> has this config (every hyper-parameter: the forward pass reads them) and
    /// the head tied or untied alike.</summary>
    public bool Fits(ModelWeights w) => w.Config == Config && (w.LmHead is not null) == Untied;

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

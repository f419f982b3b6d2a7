namespace LearningCurves.Engine.Model;

/// <summary>
/// The engine's slot for a tensor: what the forward pass does with it, whatever the architecture calls it. A new
/// architecture maps its stored names onto these in its <see cref="ArchitectureTable"/>; one whose blocks need a slot
/// the engine does not have yet (RMSNorm weights without bias, a gated MLP's gate/up/down, separate q/k/v, q_norm/k_norm)
/// adds the role here, its entries to its table, and the op that reads it to the forward pass.
/// </summary>
public enum TensorRole
{
    Wte, Wpe, LnFW, LnFB, Head,
    Ln1W, Ln1B, AttnW, AttnB, AttnProjW, AttnProjB, Ln2W, Ln2B, FcW, FcB, FcProjW, FcProjB,

    // The LLaMA family: separate q/k/v and gate/up products (fused on the device into AttnW/AttnB and FcW/FcB as
    // q | k | v and gate | up), OLMo-2's QK-norm and post-norms.
    QW, KW, VW, QB, KB, VB, GateW, UpW, GateB, UpB, QNormW, KNormW, PostAttnNormW, PostMlpNormW,
}

/// <summary>How a stored tensor becomes the engine's layout (GPT-2's: Conv1D [in, out], fused q | k | v each (NH, HS)).</summary>
public enum TensorTransform
{
    /// <summary>Stored as the engine keeps it.</summary>
    None,
    /// <summary>An nn.Linear weight [out, in]: transposed to [in, out].</summary>
    Transpose,
    /// <summary>GPT-NeoX's query_key_value.weight [3C, C] whose outputs are per head q | k | v ([NH, 3, HS]):
    /// transposed and its outputs regrouped to q (all heads) | k | v.</summary>
    FusedQkvWeight,
    /// <summary>The matching bias [3C]: regrouped the same way.</summary>
    FusedQkvBias,
}

/// <summary>How the engine keeps a tensor on the device (<see cref="DeviceWeights"/>).</summary>
public enum TensorUse
{
    /// <summary>F32 in every precision: embeddings, layer norms, the biases the residual adds apply.</summary>
    Vector,
    /// <summary>The right operand of a product (IBackend.UploadWeight: bf16 in bf16 mode).</summary>
    Matrix,
    /// <summary>The bias of a product whose output feeds another product (qkv, the MLP's hidden layer): the type of
    /// that output (bf16 in bf16 mode), as cuBLASLt's epilogues take it.</summary>
    ProductBias,
}

/// <summary>A dimension of a stored shape, resolved against a <see cref="ModelConfig"/>.</summary>
public enum Dim
{
    /// <summary>vocab_size (V).</summary>
    Vocab,
    /// <summary>n_positions (P).</summary>
    Positions,
    /// <summary>n_embd / hidden_size (C).</summary>
    Embd,
    /// <summary>3C: fused q | k | v.</summary>
    Qkv,
    /// <summary>n_inner / intermediate_size (I).</summary>
    Inner,
    /// <summary>The query width, n_head x head size (NH HD; C unless head_dim says otherwise).</summary>
    QWidth,
    /// <summary>The key (and value) width, num_key_value_heads x head size (NKV HD).</summary>
    KvWidth,
}

/// <summary>One row of an architecture's table: the stored name (a layer's with <c>{0}</c> for the layer index, no
/// body prefix), the engine slot, the stored shape, the layout transform and the device use.</summary>
public sealed record TensorEntry(string Name, TensorRole Role, Dim[] Shape, TensorTransform Transform, TensorUse Use)
{
    /// <summary>Present only in configs for which this holds (a bias behind attention_bias); null: always.</summary>
    public Func<ModelConfig, bool>? When { get; init; }
}

/// <summary>One stored tensor of a model: its name without prefix, its stored shape, its role and layer (-1: not in a
/// block), the transform to the engine's layout and its device use.</summary>
public sealed record TensorSpec(string Name, long[] Shape, TensorRole Role, int Layer, TensorTransform Transform, TensorUse Use)
{
    /// <summary>Elements (stored and engine layouts alike).</summary>
    public long ElementCount => Shape.Aggregate(1L, (a, b) => checked(a * b));

    public TensorKey Key => new(Role, Layer);
}

/// <summary>A tensor's place in a model: its role and layer (-1 outside the blocks).</summary>
public readonly record struct TensorKey(TensorRole Role, int Layer);

/// <summary>
/// The stored tensors of one architecture, declared once: loading, saving, the shape checks, the device upload, random
/// initialisation and the trainer's parameter layout all iterate it. <see cref="Before"/> come first, then
/// <see cref="Layer"/> once per block, then <see cref="After"/>, then the <see cref="Head"/> when untied: the order of
/// the content hash and of the trainer's flat vector.
/// </summary>
/// <param name="BodyPrefix">The body's prefix (transformers' base model attribute), which a checkpoint may or may not
/// carry; the head is never prefixed.</param>
/// <param name="BufferSuffixes">Names ending so are stored buffers, not parameters (causal masks, rotary frequencies):
/// ignored when loading, never written.</param>
/// <param name="HeadAliases">Other names the head is stored under (transformers 5 names GPT-NeoX's head
/// <c>lm_head.weight</c>); loading accepts one of them instead of <see cref="Head"/>'s name, saving writes that name.</param>
public sealed record ArchitectureTable(
    Architecture Architecture,
    string BodyPrefix,
    IReadOnlyList<TensorEntry> Before,
    IReadOnlyList<TensorEntry> Layer,
    IReadOnlyList<TensorEntry> After,
    TensorEntry Head,
    IReadOnlyList<string> BufferSuffixes,
    IReadOnlyList<string> HeadAliases)
{
    /// <summary>Every name the head may be stored under, <see cref="Head"/>'s first.</summary>
    public IEnumerable<string> HeadNames => HeadAliases.Prepend(Head.Name);
}

/// <summary>
/// The tables of the architectures the engine runs (transformers' names: GPT2LMHeadModel and GPTNeoXForCausalLM state
/// dicts), and the expansion of a table for one config. Adding an architecture (LLaMA, OLMo, ...) is adding a table
/// here: names, shapes in <see cref="Dim"/>s, transforms and device uses.
/// </summary>
public static class TensorTable
{
    private static TensorEntry Vec(string name, TensorRole role, params Dim[] shape) => new(name, role, shape, TensorTransform.None, TensorUse.Vector);

    private static TensorEntry Mat(string name, TensorRole role, Dim rows, Dim cols, TensorTransform t = TensorTransform.None) =>
        new(name, role, [rows, cols], t, TensorUse.Matrix);

    private static TensorEntry ProductBias(string name, TensorRole role, Dim d, TensorTransform t = TensorTransform.None) =>
        new(name, role, [d], t, TensorUse.ProductBias);

    /// <summary>GPT-2: learned positions, Conv1D weights stored [in, out] as the engine keeps them.</summary>
    public static readonly ArchitectureTable Gpt2 = new(
        Architecture.Gpt2,
        "transformer.",
        [Vec("wte.weight", TensorRole.Wte, Dim.Vocab, Dim.Embd), Vec("wpe.weight", TensorRole.Wpe, Dim.Positions, Dim.Embd)],
        [
            Vec("h.{0}.ln_1.weight", TensorRole.Ln1W, Dim.Embd),
            Vec("h.{0}.ln_1.bias", TensorRole.Ln1B, Dim.Embd),
            Mat("h.{0}.attn.c_attn.weight", TensorRole.AttnW, Dim.Embd, Dim.Qkv),
            ProductBias("h.{0}.attn.c_attn.bias", TensorRole.AttnB, Dim.Qkv),
            Mat("h.{0}.attn.c_proj.weight", TensorRole.AttnProjW, Dim.Embd, Dim.Embd),
            Vec("h.{0}.attn.c_proj.bias", TensorRole.AttnProjB, Dim.Embd),
            Vec("h.{0}.ln_2.weight", TensorRole.Ln2W, Dim.Embd),
            Vec("h.{0}.ln_2.bias", TensorRole.Ln2B, Dim.Embd),
            Mat("h.{0}.mlp.c_fc.weight", TensorRole.FcW, Dim.Embd, Dim.Inner),
            ProductBias("h.{0}.mlp.c_fc.bias", TensorRole.FcB, Dim.Inner),
            Mat("h.{0}.mlp.c_proj.weight", TensorRole.FcProjW, Dim.Inner, Dim.Embd),
            Vec("h.{0}.mlp.c_proj.bias", TensorRole.FcProjB, Dim.Embd),
        ],
        [Vec("ln_f.weight", TensorRole.LnFW, Dim.Embd), Vec("ln_f.bias", TensorRole.LnFB, Dim.Embd)],
        Mat("lm_head.weight", TensorRole.Head, Dim.Vocab, Dim.Embd),
        [".attn.bias", ".attn.masked_bias"],
        []);

    /// <summary>GPT-NeoX (Pythia): nn.Linear weights [out, in], qkv fused per head.</summary>
    public static readonly ArchitectureTable GptNeoX = new(
        Architecture.GptNeoX,
        "gpt_neox.",
        [Vec("embed_in.weight", TensorRole.Wte, Dim.Vocab, Dim.Embd)],
        [
            Vec("layers.{0}.input_layernorm.weight", TensorRole.Ln1W, Dim.Embd),
            Vec("layers.{0}.input_layernorm.bias", TensorRole.Ln1B, Dim.Embd),
            Vec("layers.{0}.post_attention_layernorm.weight", TensorRole.Ln2W, Dim.Embd),
            Vec("layers.{0}.post_attention_layernorm.bias", TensorRole.Ln2B, Dim.Embd),
            Mat("layers.{0}.attention.query_key_value.weight", TensorRole.AttnW, Dim.Qkv, Dim.Embd, TensorTransform.FusedQkvWeight),
            ProductBias("layers.{0}.attention.query_key_value.bias", TensorRole.AttnB, Dim.Qkv, TensorTransform.FusedQkvBias),
            Mat("layers.{0}.attention.dense.weight", TensorRole.AttnProjW, Dim.Embd, Dim.Embd, TensorTransform.Transpose),
            Vec("layers.{0}.attention.dense.bias", TensorRole.AttnProjB, Dim.Embd),
            Mat("layers.{0}.mlp.dense_h_to_4h.weight", TensorRole.FcW, Dim.Inner, Dim.Embd, TensorTransform.Transpose),
            ProductBias("layers.{0}.mlp.dense_h_to_4h.bias", TensorRole.FcB, Dim.Inner),
            Mat("layers.{0}.mlp.dense_4h_to_h.weight", TensorRole.FcProjW, Dim.Embd, Dim.Inner, TensorTransform.Transpose),
            Vec("layers.{0}.mlp.dense_4h_to_h.bias", TensorRole.FcProjB, Dim.Embd),
        ],
        [Vec("final_layer_norm.weight", TensorRole.LnFW, Dim.Embd), Vec("final_layer_norm.bias", TensorRole.LnFB, Dim.Embd)],
        Mat("embed_out.weight", TensorRole.Head, Dim.Vocab, Dim.Embd),
        [".attention.bias", ".attention.masked_bias", ".attention.rotary_emb.inv_freq"],
        ["lm_head.weight"]);

    private static TensorEntry If(this TensorEntry e, Func<ModelConfig, bool> when) => e with { When = when };

    private static bool AttnBias(ModelConfig c) => c.AttentionBias;

    private static bool QkvBias(ModelConfig c) => c.QkvBias;

    private static bool MlpBias(ModelConfig c) => c.MlpBias;

    /// <summary>The attention and MLP of the LLaMA family (nn.Linear weights [out, in], optional biases), in
    /// transformers' names under <c>layers.{0}.</c>; the norms are the architecture's.</summary>
    private static TensorEntry[] LlamaSublayers(params TensorEntry[] norms) =>
    [
        .. norms,
        Mat("layers.{0}.self_attn.q_proj.weight", TensorRole.QW, Dim.QWidth, Dim.Embd, TensorTransform.Transpose),
        Mat("layers.{0}.self_attn.k_proj.weight", TensorRole.KW, Dim.KvWidth, Dim.Embd, TensorTransform.Transpose),
        Mat("layers.{0}.self_attn.v_proj.weight", TensorRole.VW, Dim.KvWidth, Dim.Embd, TensorTransform.Transpose),
        ProductBias("layers.{0}.self_attn.q_proj.bias", TensorRole.QB, Dim.QWidth).If(QkvBias),
        ProductBias("layers.{0}.self_attn.k_proj.bias", TensorRole.KB, Dim.KvWidth).If(QkvBias),
        ProductBias("layers.{0}.self_attn.v_proj.bias", TensorRole.VB, Dim.KvWidth).If(QkvBias),
        Mat("layers.{0}.self_attn.o_proj.weight", TensorRole.AttnProjW, Dim.Embd, Dim.QWidth, TensorTransform.Transpose),
        Vec("layers.{0}.self_attn.o_proj.bias", TensorRole.AttnProjB, Dim.Embd).If(AttnBias),
        Mat("layers.{0}.mlp.gate_proj.weight", TensorRole.GateW, Dim.Inner, Dim.Embd, TensorTransform.Transpose),
        Mat("layers.{0}.mlp.up_proj.weight", TensorRole.UpW, Dim.Inner, Dim.Embd, TensorTransform.Transpose),
        ProductBias("layers.{0}.mlp.gate_proj.bias", TensorRole.GateB, Dim.Inner).If(MlpBias),
        ProductBias("layers.{0}.mlp.up_proj.bias", TensorRole.UpB, Dim.Inner).If(MlpBias),
        Mat("layers.{0}.mlp.down_proj.weight", TensorRole.FcProjW, Dim.Embd, Dim.Inner, TensorTransform.Transpose),
        Vec("layers.{0}.mlp.down_proj.bias", TensorRole.FcProjB, Dim.Embd).If(MlpBias),
    ];

    private static readonly string[] LlamaBuffers = [".self_attn.rotary_emb.inv_freq", "rotary_emb.inv_freq"];

    /// <summary>LLaMA (LlamaForCausalLM): RMSNorm weights before attention and MLP and at the end.</summary>
    public static readonly ArchitectureTable Llama = LlamaFamily(
        Architecture.Llama,
        [Vec("norm.weight", TensorRole.LnFW, Dim.Embd)],
        Vec("layers.{0}.input_layernorm.weight", TensorRole.Ln1W, Dim.Embd),
        Vec("layers.{0}.post_attention_layernorm.weight", TensorRole.Ln2W, Dim.Embd));

    /// <summary>OLMo-1 (OlmoForCausalLM): weightless layer norms, so no norm tensors at all.</summary>
    public static readonly ArchitectureTable Olmo = LlamaFamily(Architecture.Olmo, []);

    /// <summary>OLMo-2 (Olmo2ForCausalLM): QK-norm over all heads, post-norms, final RMSNorm.</summary>
    public static readonly ArchitectureTable Olmo2 = LlamaFamily(
        Architecture.Olmo2,
        [Vec("norm.weight", TensorRole.LnFW, Dim.Embd)],
        Vec("layers.{0}.self_attn.q_norm.weight", TensorRole.QNormW, Dim.QWidth),
        Vec("layers.{0}.self_attn.k_norm.weight", TensorRole.KNormW, Dim.KvWidth),
        Vec("layers.{0}.post_attention_layernorm.weight", TensorRole.PostAttnNormW, Dim.Embd),
        Vec("layers.{0}.post_feedforward_layernorm.weight", TensorRole.PostMlpNormW, Dim.Embd));

    /// <summary>Qwen2 (Qwen2ForCausalLM): LLaMA's norms and tensors; its q/k/v biases are always there
    /// (<see cref="ModelConfig.QkvBias"/>), o_proj and the MLP have none.</summary>
    public static readonly ArchitectureTable Qwen2 = Llama with { Architecture = Architecture.Qwen2 };

    /// <summary>A decoder of the LLaMA family: under <c>model.</c>, the token embedding, the layers of
    /// <see cref="LlamaSublayers"/> with <paramref name="norms"/>, <paramref name="finalNorm"/>, and an lm_head of its own;
    /// the rotary inverse frequencies are buffers.</summary>
    private static ArchitectureTable LlamaFamily(Architecture architecture, TensorEntry[] finalNorm, params TensorEntry[] norms) => new(
        architecture,
        "model.",
        [Vec("embed_tokens.weight", TensorRole.Wte, Dim.Vocab, Dim.Embd)],
        LlamaSublayers(norms),
        finalNorm,
        Mat("lm_head.weight", TensorRole.Head, Dim.Vocab, Dim.Embd),
        LlamaBuffers,
        []);

    /// <summary>The table of <paramref name="a"/>.</summary>
    public static ArchitectureTable Of(Architecture a) => a switch
    {
        Architecture.Gpt2 => Gpt2,
        Architecture.GptNeoX => GptNeoX,
        Architecture.Llama => Llama,
        Architecture.Olmo => Olmo,
        Architecture.Olmo2 => Olmo2,
        Architecture.Qwen2 => Qwen2,
        _ => throw new ArgumentOutOfRangeException(nameof(a), a, "no tensor table for this architecture"),
    };

    public static string Prefix(Architecture a) => Of(a).BodyPrefix;

    public static string HeadName(Architecture a) => Of(a).Head.Name;

    /// <summary>Stored buffers that are not parameters (causal masks, rotary frequencies): ignored when loading.</summary>
    public static bool IsBuffer(Architecture a, string name) =>
        Of(a).BufferSuffixes.Any(s => name.EndsWith(s, StringComparison.Ordinal));

    /// <summary>The size of <paramref name="d"/> in <paramref name="cfg"/>.</summary>
    public static long Size(Dim d, ModelConfig cfg) => d switch
    {
        Dim.Vocab => cfg.VocabSize,
        Dim.Positions => cfg.MaxPositions,
        Dim.Embd => cfg.Embd,
        Dim.Qkv => 3L * cfg.Embd,
        Dim.Inner => cfg.InnerSize,
        Dim.QWidth => cfg.AttnWidth,
        Dim.KvWidth => cfg.KvWidth,
        _ => throw new ArgumentOutOfRangeException(nameof(d), d, null),
    };

    /// <summary>The stored tensors of <paramref name="cfg"/> in table order (with the head when <paramref name="untiedHead"/>).</summary>
    public static IReadOnlyList<TensorSpec> For(ModelConfig cfg, bool untiedHead)
    {
        ArgumentNullException.ThrowIfNull(cfg);
        var table = Of(cfg.Architecture);
        var list = new List<TensorSpec>();
        TensorSpec Spec(TensorEntry e, int layer) => new(
            layer < 0 ? e.Name : string.Format(System.Globalization.CultureInfo.InvariantCulture, e.Name, layer),
            e.Shape.Select(d => Size(d, cfg)).ToArray(), e.Role, layer, e.Transform, e.Use);
        bool Has(TensorEntry e) => e.When is null || e.When(cfg);
        foreach (var e in table.Before.Where(Has)) list.Add(Spec(e, -1));
        for (int l = 0; l < cfg.Layers; l++)
        {
            foreach (var e in table.Layer.Where(Has)) list.Add(Spec(e, l));
        }
        foreach (var e in table.After.Where(Has)) list.Add(Spec(e, -1));
        if (untiedHead) list.Add(Spec(table.Head, -1));
        return list;
    }

    /// <summary>Stored values of <paramref name="s"/> to the engine's layout (same element count).</summary>
    public static void ToEngine(TensorSpec s, ModelConfig cfg, ReadOnlySpan<float> stored, Span<float> engine) => Map(s, cfg, stored, engine, toEngine: true);

    /// <summary>The engine's layout back to how <paramref name="s"/> is stored.</summary>
    public static void ToStored(TensorSpec s, ModelConfig cfg, ReadOnlySpan<float> engine, Span<float> stored) => Map(s, cfg, engine, stored, toEngine: false);

    private static void Map(TensorSpec s, ModelConfig cfg, ReadOnlySpan<float> src, Span<float> dst, bool toEngine)
    {
        if (src.Length != dst.Length) throw new ArgumentException("source and destination differ in length");
        switch (s.Transform)
        {
            case TensorTransform.None:
                src.CopyTo(dst);
                return;
            case TensorTransform.Transpose:
                {
                    // stored [rows, cols] <-> engine [cols, rows]
                    int rows = (int)s.Shape[0], cols = (int)s.Shape[1];
                    for (int r = 0; r < rows; r++)
                    {
                        for (int k = 0; k < cols; k++)
                        {
                            if (toEngine) dst[k * rows + r] = src[r * cols + k];
                            else dst[r * cols + k] = src[k * rows + r];
                        }
                    }
                    return;
                }
            case TensorTransform.FusedQkvWeight:
            case TensorTransform.FusedQkvBias:
                {
                    // Stored output o = (h * 3 + j) * HS + d (j: q, k, v) <-> engine output e = j * C + h * HS + d.
                    int c = cfg.Embd, nh = cfg.Heads, hs = cfg.HeadSize;
                    int inDim = s.Transform == TensorTransform.FusedQkvWeight ? c : 1;
                    for (int h = 0; h < nh; h++)
                    {
                        for (int j = 0; j < 3; j++)
                        {
                            for (int d = 0; d < hs; d++)
                            {
                                int o = (h * 3 + j) * hs + d, e = j * c + h * hs + d;
                                if (inDim == 1)
                                {
                                    if (toEngine) dst[e] = src[o];
                                    else dst[o] = src[e];
                                    continue;
                                }
                                // stored [3C, C] row o <-> engine [C, 3C] column e
                                for (int i = 0; i < inDim; i++)
                                {
                                    if (toEngine) dst[i * 3 * c + e] = src[o * inDim + i];
                                    else dst[o * inDim + i] = src[i * 3 * c + e];
                                }
                            }
                        }
                    }
                    return;
                }
            default:
                throw new ArgumentOutOfRangeException(nameof(s), s.Transform, "unknown tensor transform");
        }
    }
}

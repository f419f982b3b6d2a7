using LearningCurves.Formats;

namespace LearningCurves.Engine.Model;

/// <summary>The decoder-only architectures the engine runs (transformers' model_type in comments).</summary>
public enum Architecture
{
    /// <summary>"gpt2": learned positions, Conv1D weights, tanh GELU, sequential residual.</summary>
    Gpt2,
    /// <summary>"gpt_neox" (Pythia): rotary positions on part of each head, Linear weights with per-head fused q|k|v,
    /// parallel or sequential residual, exact erf GELU, untied embed_out.</summary>
    GptNeoX,
    /// <summary>"llama" (LLaMA, TinyLlama, Amber, SmolLM): RMSNorm before each sublayer, SwiGLU MLP, full rotary with
    /// rope_theta, grouped-query attention, separate q/k/v/o and gate/up/down Linear weights, optional biases.</summary>
    Llama,
    /// <summary>"olmo" (OLMo-1): as LLaMA with a non-parametric layer norm (no weight, no bias, eps 1e-5) in place of
    /// every RMSNorm, and clip_qkv.</summary>
    Olmo,
    /// <summary>"olmo2" (OLMo-2): no pre-norm; RMSNorm on the attention and MLP outputs before each residual add
    /// (post-norms), and q_norm/k_norm RMSNorm over all heads of q and k before the head split.</summary>
    Olmo2,
    /// <summary>"qwen2" (Qwen2, Qwen2.5): LLaMA's blocks with biases on the q, k and v products (always; none on o_proj
    /// or the MLP), full attention only (sliding-window layers are refused when the config is read).</summary>
    Qwen2,
}

/// <summary>Which GELU the MLP uses.</summary>
public enum GeluKind
{
    /// <summary>0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))): gelu_new, gelu_fast, gelu_pytorch_tanh.</summary>
    Tanh,
    /// <summary>0.5 x (1 + erf(x / sqrt 2)): "gelu" (GPT-NeoX).</summary>
    Erf,
}

/// <summary>
/// The hyper-parameters the engine uses, GPT-2 names with the GPT-NeoX equivalents noted (Hugging Face names in
/// comments). Parsing config.json lives in <c>Checkpoints/HfConfig</c>; this record is plain data.
/// </summary>
public sealed record ModelConfig
{
    public Architecture Architecture { get; init; } = Architecture.Gpt2; // model_type
    public double RotaryPct { get; init; } = 1.0;         // gpt_neox rotary_pct (partial_rotary_factor)
    public double RotaryBase { get; init; } = 10000;      // gpt_neox rotary_emb_base (rope_theta)
    public RopeScaling? RotaryScaling { get; init; }      // rope_scaling / rope_parameters' scaling (LLaMA family); null: none
    public bool ParallelResidual { get; init; }           // gpt_neox use_parallel_residual
    public GeluKind Gelu { get; init; } = GeluKind.Tanh;  // activation_function / hidden_act

    public required int VocabSize { get; init; }          // vocab_size (the model's, possibly padded)
    public required int MaxPositions { get; init; }       // n_positions (legacy n_ctx)
    public required int Embd { get; init; }              // n_embd (C)
    public required int Layers { get; init; }            // n_layer (L)
    public required int Heads { get; init; }             // n_head (NH)
    public int Inner { get; init; }                       // n_inner; 0 here means 4 * n_embd
    public float LayerNormEpsilon { get; init; } = 1e-5f; // layer_norm_epsilon
    public bool ScaleAttnWeights { get; init; } = true;   // scale_attn_weights: divide scores by sqrt(head size)
    public bool ScaleAttnByInverseLayerIdx { get; init; } // scale_attn_by_inverse_layer_idx: also divide by (layer + 1)
    public bool TieWordEmbeddings { get; init; } = true;  // tie_word_embeddings

    // The LLaMA family (llama, olmo, olmo2, qwen2); ignored by GPT-2 and GPT-NeoX.
    public int KvHeads { get; init; }                     // num_key_value_heads; 0 means n_head
    public int HeadDim { get; init; }                     // head_dim; 0 means n_embd / n_head
    public bool AttentionBias { get; init; }              // attention_bias: q/k/v/o biases (qwen2: false, see QkvBias)
    public bool MlpBias { get; init; }                    // mlp_bias: gate/up/down biases
    public double ClipQkv { get; init; }                  // olmo clip_qkv; 0 means none

    /// <summary>Whether this is a LLaMA-style decoder (llama, olmo, olmo2, qwen2).</summary>
    public bool IsLlamaFamily => Architecture is Architecture.Llama or Architecture.Olmo or Architecture.Olmo2 or Architecture.Qwen2;

    /// <summary>Whether the q, k and v products have biases: attention_bias, or always for qwen2 (whose o_proj has
    /// none).</summary>
    public bool QkvBias => AttentionBias || Architecture == Architecture.Qwen2;

    /// <summary>Whether the blocks are LLaMA's: RMSNorm before attention and before the MLP (llama, qwen2).</summary>
    public bool RmsPreNorm => Architecture is Architecture.Llama or Architecture.Qwen2;

    /// <summary>Key/value heads (grouped-query attention); n_head unless set.</summary>
    public int KvHeadCount => KvHeads > 0 ? KvHeads : Heads;

    /// <summary>Width of the attention output, n_head x head size (n_embd except with an explicit head_dim).</summary>
    public int AttnWidth => Heads * HeadSize;

    /// <summary>Width of the fused q | k | v product: (n_head + 2 kv heads) x head size (3 n_embd for GPT-2).</summary>
    public int QkvWidth => (Heads + 2 * KvHeadCount) * HeadSize;

    /// <summary>Width of one of the key/value caches per token: kv heads x head size.</summary>
    public int KvWidth => KvHeadCount * HeadSize;

    /// <summary>The MLP width: n_inner, or 4 * n_embd when unset.</summary>
    public int InnerSize => Inner > 0 ? Inner : 4 * Embd;

    public int HeadSize => HeadDim > 0 ? HeadDim : Embd / Heads;

    /// <summary>GPT-NeoX: the leading dimensions of each head that are rotated, int(head_size * rotary_pct); 0 for GPT-2.</summary>
    public int RotaryDims => Architecture == Architecture.GptNeoX || IsLlamaFamily ? (int)(HeadSize * RotaryPct) : 0;

    /// <summary>The rotary embedding's inverse frequencies (rope_theta and any rope scaling), as every backend takes them.</summary>
    public RotaryFrequencies Rotary => new(RotaryBase, RotaryScaling);

    /// <summary>Whether the model has learned position embeddings (GPT-2's wpe).</summary>
    public bool LearnedPositions => Architecture == Architecture.Gpt2;

    /// <summary>transformers' model_type.</summary>
    public string ModelType => Architecture switch
    {
        Architecture.GptNeoX => "gpt_neox",
        Architecture.Llama => "llama",
        Architecture.Olmo => "olmo",
        Architecture.Olmo2 => "olmo2",
        Architecture.Qwen2 => "qwen2",
        _ => "gpt2",
    };

    /// <summary>The LLaMA family's architecture and options in words, for <c>inspect</c>; null for GPT-2 and GPT-NeoX.</summary>
    public string? LlamaFamilySummary()
    {
        if (!IsLlamaFamily) return null;
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        string name = Architecture switch
        {
            Architecture.Olmo => "OLMo (model_type \"olmo\", OlmoForCausalLM): non-parametric layer norms",
            Architecture.Olmo2 => "OLMo-2 (model_type \"olmo2\", Olmo2ForCausalLM): RMSNorm post-norms, QK-norm",
            Architecture.Qwen2 => "Qwen2 (model_type \"qwen2\", Qwen2ForCausalLM): RMSNorm pre-norms, q/k/v biases, full attention",
            _ => "LLaMA (model_type \"llama\", LlamaForCausalLM): RMSNorm pre-norms",
        };
        var parts = new List<string>
        {
            name,
            "SwiGLU MLP",
            KvHeadCount == Heads ? $"{Heads} heads" : KvHeadCount == 1 ? $"multi-query attention ({Heads} query heads, 1 kv head)" : $"grouped-query attention ({Heads} query heads, {KvHeadCount} kv heads)",
            $"head size {HeadSize}{(HeadDim > 0 ? " (head_dim)" : "")}",
            $"rotary on {RotaryDims} of {HeadSize} head dims (rope_theta {RotaryBase.ToString(inv)}{(RotaryScaling is { } rs ? $", {rs.Describe()}" : "")})",
        };
        if (AttentionBias) parts.Add("attention biases");
        if (MlpBias) parts.Add("MLP biases");
        if (ClipQkv > 0) parts.Add($"clip_qkv {ClipQkv.ToString(inv)}");
        return string.Join(", ", parts);
    }

    /// <summary>Parameter count as stored (the head counted once when tied).</summary>
    public long ParameterCount(bool untiedHead)
    {
        if (IsLlamaFamily) return TensorTable.For(this, untiedHead).Sum(t => t.ElementCount);
        long c = Embd, i = InnerSize;
        long perLayer = 2 * c + (c * 3 * c + 3 * c) + (c * c + c) + 2 * c + (c * i + i) + (i * c + c);
        long total = (long)VocabSize * c + (LearnedPositions ? (long)MaxPositions * c : 0) + Layers * perLayer + 2 * c;
        if (untiedHead) total += (long)VocabSize * c;
        return total;
    }

    /// <summary>Checks the numbers are usable; throws <see cref="UserError"/> naming <paramref name="source"/>.</summary>
    public void Validate(string source)
    {
        void Need(bool ok, string what)
        {
            if (!ok) throw UserError.InFile(source, what);
        }
        Need(VocabSize > 0, $"vocab_size must be positive (got {VocabSize})");
        Need(MaxPositions > 0, $"n_positions must be positive (got {MaxPositions})");
        Need(Embd > 0, $"n_embd must be positive (got {Embd})");
        Need(Layers > 0, $"n_layer must be positive (got {Layers})");
        Need(Heads > 0, $"n_head must be positive (got {Heads})");
        if (IsLlamaFamily)
        {
            Need(HeadDim >= 0, $"head_dim must be positive (got {HeadDim})");
            Need(HeadDim > 0 || Embd % Heads == 0, $"hidden_size ({Embd}) must be divisible by num_attention_heads ({Heads}) when head_dim is not set");
            Need(KvHeads >= 0 && Heads % KvHeadCount == 0, $"num_key_value_heads ({KvHeads}) must divide num_attention_heads ({Heads})");
            Need(HeadSize % 2 == 0, $"head size {HeadSize} must be even (rotary turns pairs of dimensions)");
            Need(RotaryBase > 0 && double.IsFinite(RotaryBase), $"rope_theta must be positive (got {RotaryBase})");
            if (RotaryScaling?.Problem() is { } problem) Need(false, $"rope scaling \"{RotaryScaling.TypeName}\": {problem}");
            Need(ClipQkv >= 0 && double.IsFinite(ClipQkv), $"clip_qkv must be positive or null (got {ClipQkv})");
            Need(Architecture != Architecture.Qwen2 || !(AttentionBias || MlpBias || ClipQkv > 0),
                "qwen2 has biases on q, k and v only (no attention_bias, mlp_bias or clip_qkv)");
        }
        else
        {
            Need(Embd % Heads == 0, $"n_embd ({Embd}) must be divisible by n_head ({Heads})");
            Need(RotaryScaling is null, $"rope scaling is supported for the LLaMA family only, not {ModelType}");
        }
        Need(Inner >= 0, $"n_inner must be positive or null (got {Inner})");
        Need(LayerNormEpsilon > 0 && float.IsFinite(LayerNormEpsilon), $"layer_norm_epsilon must be positive (got {LayerNormEpsilon})");
        if (Architecture == Architecture.GptNeoX)
        {
            Need(RotaryPct >= 0 && RotaryPct <= 1, $"rotary_pct must be in [0, 1] (got {RotaryPct})");
            // rotate_half splits the rotated dimensions in two halves of equal size.
            Need(RotaryDims % 2 == 0, $"rotary_pct {RotaryPct} gives {RotaryDims} rotary dimensions of head size {HeadSize}; they must be even");
            Need(RotaryBase > 0 && double.IsFinite(RotaryBase), $"rotary_emb_base must be positive (got {RotaryBase})");
        }
    }
}

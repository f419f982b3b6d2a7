namespace LearningCurves.Engine.Model;

/// <summary>
/// The GPT-2 hyper-parameters the engine uses (Hugging Face names in comments). Parsing config.json lives in
/// <c>Checkpoints/HfConfig</c>; this record is plain data.
/// </summary>
public sealed record Gpt2Config
{
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

    /// <summary>The MLP width: n_inner, or 4 * n_embd when unset.</summary>
    public int InnerSize => Inner > 0 ? Inner : 4 * Embd;

    public int HeadSize => Embd / Heads;

    /// <summary>Parameter count as stored (the head counted once when tied).</summary>
    public long ParameterCount(bool untiedHead)
    {
        long c = Embd, i = InnerSize;
        long perLayer = 2 * c + (c * 3 * c + 3 * c) + (c * c + c) + 2 * c + (c * i + i) + (i * c + c);
        long total = (long)VocabSize * c + (long)MaxPositions * c + Layers * perLayer + 2 * c;
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
        Need(Embd % Heads == 0, $"n_embd ({Embd}) must be divisible by n_head ({Heads})");
        Need(Inner >= 0, $"n_inner must be positive or null (got {Inner})");
        Need(LayerNormEpsilon > 0 && float.IsFinite(LayerNormEpsilon), $"layer_norm_epsilon must be positive (got {LayerNormEpsilon})");
    }
}

namespace LearningCurves.Engine.Model;

/// <summary>Where a stored tensor goes in <see cref="Gpt2Weights"/>.</summary>
public enum TensorRole
{
    Wte, Wpe, LnFW, LnFB, Head,
    Ln1W, Ln1B, AttnW, AttnB, AttnProjW, AttnProjB, Ln2W, Ln2B, FcW, FcB, FcProjW, FcProjB,
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

/// <summary>One stored tensor of an architecture: its name without prefix, its stored shape, its role and layer.</summary>
public sealed record TensorSpec(string Name, long[] Shape, TensorRole Role, int Layer, TensorTransform Transform);

/// <summary>
/// The tensors of each architecture, in one table that loading, saving and the expected-tensor checks all read
/// (transformers' names: GPT2LMHeadModel and GPTNeoXForCausalLM state dicts). Names are without the body prefix
/// (<see cref="Prefix"/>), which checkpoints may or may not carry; the head is never prefixed.
/// </summary>
public static class TensorTable
{
    public static string Prefix(Architecture a) => a == Architecture.GptNeoX ? "gpt_neox." : "transformer.";

    public static string HeadName(Architecture a) => a == Architecture.GptNeoX ? "embed_out.weight" : "lm_head.weight";

    /// <summary>Stored buffers that are not parameters (causal masks, rotary frequencies): ignored when loading.</summary>
    public static bool IsBuffer(Architecture a, string name) => a == Architecture.GptNeoX
        ? name.EndsWith(".attention.bias", StringComparison.Ordinal) || name.EndsWith(".attention.masked_bias", StringComparison.Ordinal)
          || name.EndsWith(".attention.rotary_emb.inv_freq", StringComparison.Ordinal)
        : name.EndsWith(".attn.bias", StringComparison.Ordinal) || name.EndsWith(".attn.masked_bias", StringComparison.Ordinal);

    /// <summary>The stored tensors of <paramref name="cfg"/> (with the head when <paramref name="untiedHead"/>).</summary>
    public static IReadOnlyList<TensorSpec> For(Gpt2Config cfg, bool untiedHead)
    {
        ArgumentNullException.ThrowIfNull(cfg);
        long v = cfg.VocabSize, p = cfg.MaxPositions, c = cfg.Embd, i = cfg.InnerSize;
        var list = new List<TensorSpec>();
        void Add(string name, long[] shape, TensorRole role, int layer = -1, TensorTransform t = TensorTransform.None) =>
            list.Add(new TensorSpec(name, shape, role, layer, t));
        if (cfg.Architecture == Architecture.GptNeoX)
        {
            Add("embed_in.weight", [v, c], TensorRole.Wte);
            for (int l = 0; l < cfg.Layers; l++)
            {
                string h = $"layers.{l}.";
                Add(h + "input_layernorm.weight", [c], TensorRole.Ln1W, l);
                Add(h + "input_layernorm.bias", [c], TensorRole.Ln1B, l);
                Add(h + "post_attention_layernorm.weight", [c], TensorRole.Ln2W, l);
                Add(h + "post_attention_layernorm.bias", [c], TensorRole.Ln2B, l);
                Add(h + "attention.query_key_value.weight", [3 * c, c], TensorRole.AttnW, l, TensorTransform.FusedQkvWeight);
                Add(h + "attention.query_key_value.bias", [3 * c], TensorRole.AttnB, l, TensorTransform.FusedQkvBias);
                Add(h + "attention.dense.weight", [c, c], TensorRole.AttnProjW, l, TensorTransform.Transpose);
                Add(h + "attention.dense.bias", [c], TensorRole.AttnProjB, l);
                Add(h + "mlp.dense_h_to_4h.weight", [i, c], TensorRole.FcW, l, TensorTransform.Transpose);
                Add(h + "mlp.dense_h_to_4h.bias", [i], TensorRole.FcB, l);
                Add(h + "mlp.dense_4h_to_h.weight", [c, i], TensorRole.FcProjW, l, TensorTransform.Transpose);
                Add(h + "mlp.dense_4h_to_h.bias", [c], TensorRole.FcProjB, l);
            }
            Add("final_layer_norm.weight", [c], TensorRole.LnFW);
            Add("final_layer_norm.bias", [c], TensorRole.LnFB);
            if (untiedHead) Add("embed_out.weight", [v, c], TensorRole.Head);
            return list;
        }
        Add("wte.weight", [v, c], TensorRole.Wte);
        Add("wpe.weight", [p, c], TensorRole.Wpe);
        for (int l = 0; l < cfg.Layers; l++)
        {
            string h = $"h.{l}.";
            Add(h + "ln_1.weight", [c], TensorRole.Ln1W, l);
            Add(h + "ln_1.bias", [c], TensorRole.Ln1B, l);
            Add(h + "attn.c_attn.weight", [c, 3 * c], TensorRole.AttnW, l);
            Add(h + "attn.c_attn.bias", [3 * c], TensorRole.AttnB, l);
            Add(h + "attn.c_proj.weight", [c, c], TensorRole.AttnProjW, l);
            Add(h + "attn.c_proj.bias", [c], TensorRole.AttnProjB, l);
            Add(h + "ln_2.weight", [c], TensorRole.Ln2W, l);
            Add(h + "ln_2.bias", [c], TensorRole.Ln2B, l);
            Add(h + "mlp.c_fc.weight", [c, i], TensorRole.FcW, l);
            Add(h + "mlp.c_fc.bias", [i], TensorRole.FcB, l);
            Add(h + "mlp.c_proj.weight", [i, c], TensorRole.FcProjW, l);
            Add(h + "mlp.c_proj.bias", [c], TensorRole.FcProjB, l);
        }
        Add("ln_f.weight", [c], TensorRole.LnFW);
        Add("ln_f.bias", [c], TensorRole.LnFB);
        if (untiedHead) Add("lm_head.weight", [v, c], TensorRole.Head);
        return list;
    }

    /// <summary>The engine-layout array of <paramref name="s"/> in <paramref name="w"/>.</summary>
    public static float[] Get(Gpt2Weights w, TensorSpec s)
    {
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(s);
        var b = s.Layer >= 0 ? w.Blocks[s.Layer] : null;
        return s.Role switch
        {
            TensorRole.Wte => w.Wte,
            TensorRole.Wpe => w.Wpe,
            TensorRole.LnFW => w.LnFW,
            TensorRole.LnFB => w.LnFB,
            TensorRole.Head => w.LmHead ?? throw new ArgumentException("the weights have a tied head", nameof(s)),
            TensorRole.Ln1W => b!.Ln1W,
            TensorRole.Ln1B => b!.Ln1B,
            TensorRole.AttnW => b!.AttnW,
            TensorRole.AttnB => b!.AttnB,
            TensorRole.AttnProjW => b!.AttnProjW,
            TensorRole.AttnProjB => b!.AttnProjB,
            TensorRole.Ln2W => b!.Ln2W,
            TensorRole.Ln2B => b!.Ln2B,
            TensorRole.FcW => b!.FcW,
            TensorRole.FcB => b!.FcB,
            TensorRole.FcProjW => b!.FcProjW,
            _ => b!.FcProjB,
        };
    }

    /// <summary>Stored values of <paramref name="s"/> to the engine's layout (same element count).</summary>
    public static void ToEngine(TensorSpec s, Gpt2Config cfg, ReadOnlySpan<float> stored, Span<float> engine) => Map(s, cfg, stored, engine, toEngine: true);

    /// <summary>The engine's layout back to how <paramref name="s"/> is stored.</summary>
    public static void ToStored(TensorSpec s, Gpt2Config cfg, ReadOnlySpan<float> engine, Span<float> stored) => Map(s, cfg, engine, stored, toEngine: false);

    private static void Map(TensorSpec s, Gpt2Config cfg, ReadOnlySpan<float> src, Span<float> dst, bool toEngine)
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
            default:
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
        }
    }
}

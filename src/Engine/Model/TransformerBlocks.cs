using LearningCurves.Engine.Backends;

namespace LearningCurves.Engine.Model;

/// <summary>The activation buffers one pass through the blocks uses, sized for N tokens and M selected rows. Types: the
/// residual stream and the products that are added to it are F32 in every mode; everything that feeds a product (the
/// layer norms' outputs, qkv, the attention output, the MLP's hidden layer) is <see cref="DTypes.GemmInput"/> of the
/// precision (Bf16 in bf16 mode), written in that type by the op that produces it.</summary>
internal sealed class BlockBuffers
{
    private BlockBuffers(IReadOnlyDictionary<string, IDeviceBuffer> b)
    {
        Residual = b[nameof(Residual)];
        Norm = b[nameof(Norm)];
        Qkv = b[nameof(Qkv)];
        Attn = b[nameof(Attn)];
        Proj = b[nameof(Proj)];
        Fc = b[nameof(Fc)];
        MlpOut = b.GetValueOrDefault(nameof(MlpOut));
        GateUp = b.GetValueOrDefault(nameof(GateUp));
        PostNorm = b.GetValueOrDefault(nameof(PostNorm));
        PickedResidual = b[nameof(PickedResidual)];
        PickedAttn = b[nameof(PickedAttn)];
    }

    public IDeviceBuffer Residual { get; }       // (N, C) F32
    public IDeviceBuffer Norm { get; }           // (max(N, M), C) gemm input type: every layer norm's output
    public IDeviceBuffer Qkv { get; }            // (N, 3C) gemm input type
    public IDeviceBuffer Attn { get; }           // (N, C) gemm input type
    public IDeviceBuffer Proj { get; }           // (max(N, M), C) F32: a projection before its residual add
    public IDeviceBuffer Fc { get; }             // (max(N, M), I) gemm input type

    /// <summary>(max(N, M), C) F32, the MLP's output beside the attention's, for the parallel residual only.</summary>
    public IDeviceBuffer? MlpOut { get; }

    /// <summary>(max(N, M), 2I) gemm input type: the LLaMA family's gate | up product, before SwiGLU into Fc.</summary>
    public IDeviceBuffer? GateUp { get; }

    /// <summary>(max(N, M), C) F32: OLMo-2's post-norm of a sublayer's output, before its residual add.</summary>
    public IDeviceBuffer? PostNorm { get; }

    /// <summary>(M, C) F32: the residual stream at the selected rows, from the last layer's attention on.</summary>
    public IDeviceBuffer PickedResidual { get; }

    /// <summary>(M, C) gemm input type: the last layer's attention output at the selected rows.</summary>
    public IDeviceBuffer PickedAttn { get; }

    /// <summary>The buffers, by name, with their lengths and types, for <paramref name="n"/> tokens and at most
    /// <paramref name="m"/> selected rows: what <see cref="Allocate"/> allocates, and what batch sizing counts.</summary>
    public static IReadOnlyList<(string Name, long Length, DType Type)> Plan(ModelConfig cfg, Precision precision, long n, long m)
    {
        long c = cfg.Embd, rows = Math.Max(n, m);
        var act = DTypes.GemmInput(precision);
        var plan = new List<(string, long, DType)>
        {
            (nameof(Residual), n * c, DType.F32),
            (nameof(Norm), rows * c, act),
            (nameof(Qkv), n * cfg.QkvWidth, act),
            (nameof(Attn), n * cfg.AttnWidth, act),
            (nameof(Proj), rows * c, DType.F32),
            (nameof(Fc), rows * cfg.InnerSize, act),
            (nameof(PickedResidual), m * c, DType.F32),
            (nameof(PickedAttn), m * cfg.AttnWidth, act),
        };
        if (cfg.ParallelResidual) plan.Add((nameof(MlpOut), rows * c, DType.F32));
        if (cfg.IsLlamaFamily) plan.Add((nameof(GateUp), rows * 2 * cfg.InnerSize, act));
        if (cfg.Architecture == Architecture.Olmo2) plan.Add((nameof(PostNorm), rows * c, DType.F32));
        return plan;
    }

    /// <summary>Allocates <see cref="Plan"/> on <paramref name="be"/>, adding each buffer to <paramref name="owned"/>.</summary>
    public static BlockBuffers Allocate(IBackend be, ModelConfig cfg, long n, long m, List<IDeviceBuffer> owned)
    {
        var made = new Dictionary<string, IDeviceBuffer>(StringComparer.Ordinal);
        foreach (var (name, length, type) in Plan(cfg, be.Precision, n, m))
        {
            var d = be.Allocate(length, type);
            owned.Add(d);
            made[name] = d;
        }
        return new BlockBuffers(made);
    }
}

/// <summary>
/// The transformer blocks, written once for scoring (<see cref="DecoderModel.Score"/>) and generation with a KV cache
/// (<see cref="DecoderModel.Generate"/>), for every architecture: the caller embeds the tokens into Residual and supplies the
/// attention step (full causal or cached); everything else, the final layer norm included, is here.
/// </summary>
/// <remarks>
/// Fusions, per layer (sequential residual, GPT-2):
/// <code>
///   qkv  = ln1(x) @ Wqkv + b          MatMul Bias        (the ln1 came from the previous layer's fused kernel)
///   attn = attention(qkv)             Attention
///   proj = attn @ Wo                  MatMul None        (F32)
///   x += proj + bo; h = ln2(x)        ResidualLayerNorm  (fused_residual_layernorm: one pass)
///   fc   = gelu(h @ Wfc + bfc)        MatMul BiasGelu
///   proj = fc @ Wp                    MatMul None
///   x += proj + bp; h = ln1'(x)       ResidualLayerNorm  (the next layer's ln1, or the final norm)
/// </code>
/// Seven launches per layer where the products apply their epilogues (cuBLASLt), nine with the cublasGemmEx fallback
/// (the bias and bias+GELU epilogues as their own kernels). Why ResidualLayerNorm rather than a BiasResidual product
/// followed by a layer norm: both are two launches per residual add; per element of (N, C) the fused kernel moves
/// proj written + read, x read + written, h written = 18 bytes (bf16 h), the BiasResidual route x read + written by the
/// product, x read and h written by the norm = 14 bytes, but with the cublasGemmEx fallback its bias costs a third
/// launch (and another 8 bytes). So the fused kernel is the choice while the fallback runs; with cuBLASLt the
/// BiasResidual route saves about 4 bytes per element. Measured with the cost model (software GPU, `bench engine
/// --backend cuda --precision bf16 --quick --profile`, GPT-2 small, B = 128, T = 128, head on 10; 2026-12-05): both
/// routes are 91 launches per forward; the predicted H200 time is 4.84 ms per batch with the fused kernel and 4.37 ms
/// with BiasResidual + LayerNorm (the products move 5.6 -> 6.7 GB, the norms 3.9 -> 1.7 GB). Not switched yet: it
/// removes no launch, changes fp32 results in their last bits, and needs a backend capability saying the epilogue is
/// fused (with the cublasGemmEx fallback it adds a bias kernel per projection). BiasResidual is used where no layer norm follows a residual add: the attention
/// projection of the parallel residual (GPT-NeoX), x += attn @ Wo + bo, with the MLP's add fused into the norm.
///
/// Only what is scored, in the last layer: the last block needs keys and values at every position, so its qkv product
/// and attention run on all N rows; right after the attention the selected rows of the residual stream and of the
/// attention output are gathered (two GatherRows of (M, C)), and the output projection, the MLP and the final norm run
/// on M rows only. (Computing the last attention only for the selected queries would save a further ~1/L of the
/// attention; it needs an attention entry point with a row list, which belongs to the attention kernels.)
/// </remarks>
internal static class TransformerBlocks
{
    /// <summary>
    /// Runs every block on Residual (B, T, C) of tokens at positions past..past+T-1. <paramref name="attention"/>(layer,
    /// scale) must write Attn (B, T, C) from Qkv (B, T, 3C). With <paramref name="rows"/> (M) I32 of row indices into
    /// (B*T), the last layer after its attention runs only at those rows; afterwards Norm holds the final layer norm
    /// of those M rows (M, C), PickedResidual their residual stream. Without, M = B*T, Norm holds the final norm of
    /// every row and Residual the final residual stream. With <paramref name="attentionRotates"/> the callback applies
    /// the rotary embedding itself (<see cref="IBackend.AttentionRotary"/>: a forward pass without a KV cache, whose
    /// attention kernel may turn q and k as it loads them) and the blocks run no Rotary of their own.
    /// </summary>
    public static void Run(IBackend be, ModelConfig cfg, DeviceWeights weights, BlockBuffers a, int b, int t, int past,
        Action<int, float> attention, IDeviceBuffer? rows = null, int m = 0, bool attentionRotates = false)
    {
        if (cfg.IsLlamaFamily)
        {
            LlamaBlocks.Run(be, cfg, weights, a, b, t, past, attention, rows, m, attentionRotates);
            return;
        }
        int c = cfg.Embd, n = b * t, rotary = cfg.RotaryDims;
        float eps = cfg.LayerNormEpsilon;
        float baseScale = cfg.ScaleAttnWeights ? 1f / MathF.Sqrt(cfg.HeadSize) : 1f;
        if (cfg.Layers == 0)
        {
            var x = rows is null ? a.Residual : a.PickedResidual;
            if (rows is not null) be.GatherRows(a.PickedResidual, a.Residual, rows, m, c);      // (M, C)
            be.LayerNorm(a.Norm, x, weights.LnFW, weights.LnFB, rows is null ? n : m, c, eps);  // (M, C)
            return;
        }
        be.LayerNorm(a.Norm, a.Residual, weights.Blocks[0].Ln1W, weights.Blocks[0].Ln1B, n, c, eps); // (B, T, C)
        for (int l = 0; l < cfg.Layers; l++)
        {
            var w = weights.Blocks[l];
            bool last = l == cfg.Layers - 1;
            // The layer norm after this block: the next block's ln1, or the final norm.
            var (nextW, nextB) = last ? (weights.LnFW, weights.LnFB) : (weights.Blocks[l + 1].Ln1W, weights.Blocks[l + 1].Ln1B);
            float scale = cfg.ScaleAttnByInverseLayerIdx ? baseScale / (l + 1) : baseScale;
            be.MatMul(a.Qkv, a.Norm, w.AttnW, w.AttnB, n, c, 3 * c, MatMulEpilogue.Bias);    // (B, T, 3C)
            if (rotary > 0 && !attentionRotates) be.Rotary(a.Qkv, b, t, c, cfg.Heads, rotary, cfg.Rotary, past); // q, k rotated in place
            attention(l, scale);                                                             // (B, T, C)
            var x = a.Residual;
            var attn = a.Attn;
            int r = n;
            if (last && rows is not null)
            {
                // Only what is scored: the rest of the last layer at the M selected rows.
                be.GatherRows(a.PickedResidual, a.Residual, rows, m, c);                     // (M, C)
                be.GatherRows(a.PickedAttn, a.Attn, rows, m, c);                             // (M, C)
                (x, attn, r) = (a.PickedResidual, a.PickedAttn, m);
            }
            if (cfg.ParallelResidual)
            {
                // x + attn(ln1(x)) + mlp(ln2(x)): ln2 reads the block's input, so it runs before the attention's add.
                be.LayerNorm(a.Norm, x, w.Ln2W, w.Ln2B, r, c, eps);                          // (R, C)
                Mlp(be, cfg, w, a, a.MlpOut!, r, c);                                         // (R, C)
                be.MatMul(x, attn, w.AttnProjW, w.AttnProjB, r, c, c, MatMulEpilogue.BiasResidual); // x += attn @ Wo + bo
                be.ResidualLayerNorm(x, a.Norm, a.MlpOut!, w.FcProjB, nextW, nextB, r, c, eps); // x += mlp + bp; next norm
            }
            else
            {
                be.MatMul(a.Proj, attn, w.AttnProjW, null, r, c, c, MatMulEpilogue.None);     // (R, C)
                be.ResidualLayerNorm(x, a.Norm, a.Proj, w.AttnProjB, w.Ln2W, w.Ln2B, r, c, eps); // x += proj + bo; ln2
                Mlp(be, cfg, w, a, a.Proj, r, c);                                            // (R, C)
                be.ResidualLayerNorm(x, a.Norm, a.Proj, w.FcProjB, nextW, nextB, r, c, eps);  // x += proj + bp; next norm
            }
        }
    }

    /// <summary>output (R, C) = gelu(Norm (R, C) @ Wfc + bfc) @ Wp, without Wp's bias, which the residual add brings.</summary>
    private static void Mlp(IBackend be, ModelConfig cfg, DeviceWeights.Block w, BlockBuffers a, IDeviceBuffer output, int r, int c)
    {
        int inner = cfg.InnerSize;
        if (cfg.Gelu == GeluKind.Erf)
        {
            // The fused epilogue is the tanh GELU; the exact erf form (GPT-NeoX's "gelu") runs as its own pass.
            be.MatMul(a.Fc, a.Norm, w.FcW, w.FcB, r, c, inner, MatMulEpilogue.Bias);       // (R, I)
            be.GeluErf(a.Fc, (long)r * inner);
        }
        else be.MatMul(a.Fc, a.Norm, w.FcW, w.FcB, r, c, inner, MatMulEpilogue.BiasGelu); // (R, I)
        be.MatMul(output, a.Fc, w.FcProjW, null, r, inner, c, MatMulEpilogue.None);        // (R, C)
    }
}

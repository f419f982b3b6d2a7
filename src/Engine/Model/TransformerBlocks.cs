using LearningCurves.Engine.Backends;

namespace LearningCurves.Engine.Model;

/// <summary>The activation buffers one pass through the blocks uses, sized for N tokens.</summary>
internal sealed class BlockBuffers(IDeviceBuffer residual, IDeviceBuffer norm, IDeviceBuffer qkv, IDeviceBuffer attn,
    IDeviceBuffer proj, IDeviceBuffer fc, IDeviceBuffer? mlpOut)
{
    public IDeviceBuffer Residual { get; } = residual; // (N, C)
    public IDeviceBuffer Norm { get; } = norm;         // (N, C)
    public IDeviceBuffer Qkv { get; } = qkv;           // (N, 3C)
    public IDeviceBuffer Attn { get; } = attn;         // (N, C)
    public IDeviceBuffer Proj { get; } = proj;         // (N, C)
    public IDeviceBuffer Fc { get; } = fc;             // (N, I)

    /// <summary>(N, C) the MLP's output beside the attention's, for the parallel residual only.</summary>
    public IDeviceBuffer? MlpOut { get; } = mlpOut;

    /// <summary>Allocates them on <paramref name="be"/> (MlpOut only for a parallel-residual model), adding each to <paramref name="owned"/>.</summary>
    public static BlockBuffers Allocate(IBackend be, Gpt2Config cfg, long n, List<IDeviceBuffer> owned)
    {
        long c = cfg.Embd;
        IDeviceBuffer A(long len)
        {
            var d = be.Allocate(len);
            owned.Add(d);
            return d;
        }
        return new BlockBuffers(A(n * c), A(n * c), A(n * 3 * c), A(n * c), A(n * c), A(n * cfg.InnerSize),
            cfg.ParallelResidual ? A(n * c) : null);
    }
}

/// <summary>
/// The transformer blocks, written once for scoring (<see cref="Gpt2Model"/>) and generation with a KV cache
/// (<see cref="Gpt2Generator"/>), for every architecture: the caller embeds the tokens into Residual and supplies the
/// attention step (full causal or cached); everything else is here.
/// </summary>
internal static class TransformerBlocks
{
    /// <summary>
    /// Runs every block on Residual (B, T, C) of tokens at positions past..past+T-1. <paramref name="attention"/>(layer,
    /// scale) must write Attn (B, T, C) from Qkv (B, T, 3C).
    /// </summary>
    public static void Run(IBackend be, Gpt2Config cfg, Gpt2DeviceWeights weights, BlockBuffers a, int b, int t, int past,
        Action<int, float> attention)
    {
        int c = cfg.Embd, inner = cfg.InnerSize, n = b * t, rotary = cfg.RotaryDims;
        float baseScale = cfg.ScaleAttnWeights ? 1f / MathF.Sqrt(cfg.HeadSize) : 1f;
        for (int l = 0; l < cfg.Layers; l++)
        {
            var w = weights.Blocks[l];
            float scale = cfg.ScaleAttnByInverseLayerIdx ? baseScale / (l + 1) : baseScale;
            be.LayerNorm(a.Norm, a.Residual, w.Ln1W, w.Ln1B, n, c, cfg.LayerNormEpsilon);   // (B, T, C)
            be.MatMul(a.Qkv, a.Norm, w.AttnW, w.AttnB, n, c, 3 * c, MatMulEpilogue.Bias);    // (B, T, 3C)
            if (rotary > 0) be.Rotary(a.Qkv, b, t, c, cfg.Heads, rotary, cfg.RotaryBase, past); // q, k rotated in place
            attention(l, scale);                                                             // (B, T, C)
            // The projections' biases go into the residual add (one pass over (B, T, C) instead of two).
            be.MatMul(a.Proj, a.Attn, w.AttnProjW, null, n, c, c, MatMulEpilogue.None);      // (B, T, C)
            if (cfg.ParallelResidual)
            {
                // x + attn(ln1(x)) + mlp(ln2(x)): the MLP reads the block's input, so the attention output waits.
                Mlp(be, cfg, w, a, a.Residual, a.MlpOut!, n, c, inner);                      // (B, T, C)
                be.AddBias(a.Residual, a.Proj, w.AttnProjB, n, c);                           // (B, T, C)
                be.AddBias(a.Residual, a.MlpOut!, w.FcProjB, n, c);                          // (B, T, C)
            }
            else
            {
                be.AddBias(a.Residual, a.Proj, w.AttnProjB, n, c);                           // (B, T, C)
                Mlp(be, cfg, w, a, a.Residual, a.Proj, n, c, inner);                          // (B, T, C)
                be.AddBias(a.Residual, a.Proj, w.FcProjB, n, c);                             // (B, T, C)
            }
        }
    }

    /// <summary>output (N, C) = proj(gelu(fc(ln2(input)))) without proj's bias, which the residual add brings.</summary>
    private static void Mlp(IBackend be, Gpt2Config cfg, Gpt2DeviceWeights.Block w, BlockBuffers a, IDeviceBuffer input, IDeviceBuffer output,
        int n, int c, int inner)
    {
        be.LayerNorm(a.Norm, input, w.Ln2W, w.Ln2B, n, c, cfg.LayerNormEpsilon);            // (N, C)
        if (cfg.Gelu == GeluKind.Erf)
        {
            // The fused epilogue is the tanh GELU; the exact erf form (GPT-NeoX's "gelu") runs as its own pass.
            be.MatMul(a.Fc, a.Norm, w.FcW, w.FcB, n, c, inner, MatMulEpilogue.Bias);       // (N, I)
            be.GeluErf(a.Fc, (long)n * inner);
        }
        else be.MatMul(a.Fc, a.Norm, w.FcW, w.FcB, n, c, inner, MatMulEpilogue.BiasGelu); // (N, I)
        be.MatMul(output, a.Fc, w.FcProjW, null, n, inner, c, MatMulEpilogue.None);        // (N, C)
    }
}

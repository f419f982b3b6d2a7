using LearningCurves.Engine.Backends;

namespace LearningCurves.Engine.Model;

/// <summary>
/// The blocks of the LLaMA family (llama, olmo, olmo2, qwen2), as <see cref="TransformerBlocks.Run"/> for GPT-2 and GPT-NeoX:
/// same buffers, same attention callback, the last layer after its attention only at the selected rows.
/// </summary>
/// <remarks>
/// Per layer (h: the norm feeding the products, gemm input type; x: the fp32 residual stream):
/// <code>
///   llama / qwen2 / olmo (pre-norm)                  olmo2 (post-norms, no pre-norm)
///   qkv = h @ [Wq|Wk|Wv] (+ b)        MatMul          qkv = x @ [Wq|Wk|Wv] (+ b)   (x converted to bf16 in bf16 mode)
///   olmo: clamp(qkv, clip_qkv)        Clamp           q, k = rmsnorm over all heads QkNorm
///   q, k rotated (full, rope_theta)   Rotary (GQA)    the same (scoring: inside the callback's AttentionRotary)
///   attn = attention(qkv)             callback        the same
///   proj = attn @ Wo                  MatMul          proj = attn @ Wo (+ bo)
///   x += proj + bo; h = norm2(x)      ResidualRmsNorm x += rmsnorm(proj) (post_attention_layernorm)
///   gu = h @ [Wg|Wu] (+ b)            MatMul          gu = x @ [Wg|Wu]
///   fc = silu(g) * u                  SwiGluFused     the same
///   proj = fc @ Wd                    MatMul          the same
///   x += proj + bd; h = next norm(x)  ResidualRmsNorm x += rmsnorm(proj) (post_feedforward_layernorm); last: final norm
/// </code>
/// OLMo's norms are layer norms without parameters (weight one, bias zero: <see cref="DeviceWeights.Ones"/>,
/// <see cref="DeviceWeights.Zeros"/>) with eps 1e-5, as the fused residual layer norm.
/// </remarks>
internal static class LlamaBlocks
{
    public static void Run(IBackend be, ModelConfig cfg, DeviceWeights weights, BlockBuffers a, int b, int t, int past,
        Action<int, float> attention, IDeviceBuffer? rows, int m, bool attentionRotates)
    {
        int c = cfg.Embd, n = b * t, hs = cfg.HeadSize, nh = cfg.Heads, nkv = cfg.KvHeadCount, inner = cfg.InnerSize;
        int qkvW = cfg.QkvWidth, attnW = cfg.AttnWidth;
        float eps = cfg.LayerNormEpsilon, scale = 1f / MathF.Sqrt(hs);
        var arch = cfg.Architecture;
        bool convert = DTypes.GemmInput(be.Precision) != DType.F32; // olmo2 in bf16 mode: the residual to the gemm type
        IDeviceBuffer Bias(IDeviceBuffer? bias) => bias ?? weights.Zeros!;

        // The input of the first products.
        IDeviceBuffer input = a.Norm;
        bool rmsPre = cfg.RmsPreNorm; // llama, qwen2
        if (rmsPre) be.RmsNorm(a.Norm, a.Residual, weights.Blocks[0].Ln1W, n, c, eps);
        else if (arch == Architecture.Olmo) be.LayerNorm(a.Norm, a.Residual, weights.Ones!, weights.Zeros!, n, c, eps);
        else input = ToGemm(be, a.Residual, a.Norm, (long)n * c, convert);
        for (int l = 0; l < cfg.Layers; l++)
        {
            bool last = l == cfg.Layers - 1;
            var attnB = weights.Find(TensorRole.AttnB, l);
            be.MatMul(a.Qkv, input, weights[TensorRole.AttnW, l], attnB, n, c, qkvW, attnB is null ? MatMulEpilogue.None : MatMulEpilogue.Bias);
            if (cfg.ClipQkv > 0) be.Clamp(a.Qkv, (long)n * qkvW, (float)cfg.ClipQkv);
            if (arch == Architecture.Olmo2)
                be.QkNorm(a.Qkv, weights[TensorRole.QNormW, l], weights[TensorRole.KNormW, l], n, nh, nkv, hs, eps);
            if (!attentionRotates) be.Rotary(a.Qkv, b, t, nh, nkv, hs, cfg.RotaryDims, cfg.Rotary, past); // q, k rotated in place
            attention(l, scale);                                                             // Attn (B, T, NH HD)
            var x = a.Residual;
            var attn = a.Attn;
            int r = n;
            if (last && rows is not null)
            {
                be.GatherRows(a.PickedResidual, a.Residual, rows, m, c);                     // (M, C)
                be.GatherRows(a.PickedAttn, a.Attn, rows, m, attnW);                         // (M, NH HD)
                (x, attn, r) = (a.PickedResidual, a.PickedAttn, m);
            }
            var projB = weights.Find(TensorRole.AttnProjB, l);
            var downB = weights.Find(TensorRole.FcProjB, l);
            var fcB = weights.Find(TensorRole.FcB, l);
            if (arch == Architecture.Olmo2)
            {
                be.MatMul(a.Proj, attn, weights[TensorRole.AttnProjW, l], projB, r, attnW, c, projB is null ? MatMulEpilogue.None : MatMulEpilogue.Bias);
                be.RmsNorm(a.PostNorm!, a.Proj, weights[TensorRole.PostAttnNormW, l], r, c, eps);
                be.Add(x, a.PostNorm!, (long)r * c);                                          // x += rmsnorm(attn @ Wo)
                input = ToGemm(be, x, a.Norm, (long)r * c, convert);
            }
            else
            {
                be.MatMul(a.Proj, attn, weights[TensorRole.AttnProjW, l], null, r, attnW, c, MatMulEpilogue.None);
                if (rmsPre) be.ResidualRmsNorm(x, a.Norm, a.Proj, projB, weights[TensorRole.Ln2W, l], r, c, eps);
                else be.ResidualLayerNorm(x, a.Norm, a.Proj, Bias(projB), weights.Ones!, weights.Zeros!, r, c, eps);
                input = a.Norm;
            }
            // The MLP: SwiGLU of the fused gate | up product.
            be.MatMul(a.GateUp!, input, weights[TensorRole.FcW, l], fcB, r, c, 2 * inner, fcB is null ? MatMulEpilogue.None : MatMulEpilogue.Bias);
            be.SwiGluFused(a.Fc, a.GateUp!, r, inner);                                       // (R, I)
            if (arch == Architecture.Olmo2)
            {
                be.MatMul(a.Proj, a.Fc, weights[TensorRole.FcProjW, l], downB, r, inner, c, downB is null ? MatMulEpilogue.None : MatMulEpilogue.Bias);
                be.RmsNorm(a.PostNorm!, a.Proj, weights[TensorRole.PostMlpNormW, l], r, c, eps);
                be.Add(x, a.PostNorm!, (long)r * c);                                          // x += rmsnorm(mlp)
                if (last) be.RmsNorm(a.Norm, x, weights.LnFW, r, c, eps);                    // the final norm
                else input = ToGemm(be, x, a.Norm, (long)r * c, convert);
            }
            else
            {
                be.MatMul(a.Proj, a.Fc, weights[TensorRole.FcProjW, l], null, r, inner, c, MatMulEpilogue.None);
                if (rmsPre)
                    be.ResidualRmsNorm(x, a.Norm, a.Proj, downB, last ? weights.LnFW : weights[TensorRole.Ln1W, l + 1], r, c, eps);
                else be.ResidualLayerNorm(x, a.Norm, a.Proj, Bias(downB), weights.Ones!, weights.Zeros!, r, c, eps);
                input = a.Norm;
            }
        }
    }

    /// <summary>The residual stream as a product's input: itself in fp32, or converted into <paramref name="scratch"/>
    /// (the gemm input type) when <paramref name="convert"/>.</summary>
    private static IDeviceBuffer ToGemm(IBackend be, IDeviceBuffer x, IDeviceBuffer scratch, long n, bool convert)
    {
        if (!convert) return x;
        be.Convert(scratch, x, n);
        return scratch;
    }
}

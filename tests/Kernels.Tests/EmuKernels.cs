namespace LearningCurves.Kernels.Tests;

/// <summary>
/// Each kernel of kernels.cu launched through the emulator with the launch configuration its header comment gives
/// (the same one the CUDA backend uses), followed by a guard check of every buffer it was handed.
/// </summary>
internal static class EmuKernels
{
    public const int Block = 256;
    public const int AttentionKeyTile = 32; // LC_ATT_BK
    public const int AttentionMaxHeadSize = 128; // LC_ATT_MAX_HS

    private static Dim3 Cover(long n, int per = Block) => new((uint)Math.Max(1, (n + per - 1) / per));

    private static void Done(int rc, string kernel, params EmuBuffer?[] buffers)
    {
        EmuLibrary.Check(rc, kernel);
        foreach (var b in buffers) b?.CheckGuards(kernel);
    }

    private static nint P(EmuBuffer? b) => b?.Ptr ?? 0;

    public static void Embed(EmuBuffer output, EmuBuffer tokens, EmuBuffer wte, EmuBuffer wpe, int b, int t, int c) =>
        Done(EmuNative.launch_embed_forward(Cover((long)b * t * c), Block, 0, output.Ptr, tokens.Ptr, wte.Ptr, wpe.Ptr, b, t, c),
            "embed_forward", output, tokens, wte, wpe);

    public static void LayerNorm(EmuBuffer output, EmuBuffer input, EmuBuffer weight, EmuBuffer bias, int rows, int c, float eps) =>
        Done(EmuNative.launch_layernorm_forward(Cover(rows, Block / 32), Block, 0, output.Ptr, input.Ptr, weight.Ptr, bias.Ptr, rows, c, eps),
            "layernorm_forward", output, input, weight, bias);

    public static void BiasAdd(EmuBuffer x, EmuBuffer bias, int rows, int cols) =>
        Done(EmuNative.launch_bias_add(Cover((long)rows * cols), Block, 0, x.Ptr, bias.Ptr, rows, cols), "bias_add", x, bias);

    public static void GeluErf(EmuBuffer x, long n) =>
        Done(EmuNative.launch_gelu_erf_forward(Cover(n), Block, 0, x.Ptr, n), "gelu_erf_forward", x);

    public static void BiasGelu(EmuBuffer x, EmuBuffer? bias, int rows, int cols) =>
        Done(EmuNative.launch_bias_gelu_forward(Cover((long)rows * cols), Block, 0, x.Ptr, P(bias), rows, cols), "bias_gelu_forward", x, bias);

    public static void ResidualAdd(EmuBuffer x, EmuBuffer y, long n) =>
        Done(EmuNative.launch_residual_add(Cover(n), Block, 0, x.Ptr, y.Ptr, n), "residual_add", x, y);

    public static void ResidualBiasAdd(EmuBuffer x, EmuBuffer y, EmuBuffer bias, int rows, int cols) =>
        Done(EmuNative.launch_residual_bias_add(Cover((long)rows * cols), Block, 0, x.Ptr, y.Ptr, bias.Ptr, rows, cols),
            "residual_bias_add", x, y, bias);

    public static void GatherRows(EmuBuffer output, EmuBuffer input, EmuBuffer rows, int count, int c) =>
        Done(EmuNative.launch_gather_rows(Cover((long)count * c), Block, 0, output.Ptr, input.Ptr, rows.Ptr, count, c),
            "gather_rows", output, input, rows);

    public static void QkvSplitHeads(EmuBuffer q, EmuBuffer k, EmuBuffer v, EmuBuffer qkv, int b, int t, int nh, int hs) =>
        Done(EmuNative.launch_qkv_split_heads(Cover((long)b * t * nh * hs), Block, 0, q.Ptr, k.Ptr, v.Ptr, qkv.Ptr, b, t, nh, hs),
            "qkv_split_heads", q, k, v, qkv);

    public static void MergeHeads(EmuBuffer output, EmuBuffer y, int b, int t, int nh, int hs) =>
        Done(EmuNative.launch_merge_heads(Cover((long)b * t * nh * hs), Block, 0, output.Ptr, y.Ptr, b, t, nh, hs), "merge_heads", output, y);

    public static void SoftmaxCausal(EmuBuffer att, int bh, int tq, int tk, int past, float scale) =>
        Done(EmuNative.launch_softmax_causal(Cover((long)bh * tq, Block / 32), Block, 0, att.Ptr, bh, tq, tk, past, scale), "softmax_causal", att);

    /// <summary>Dynamic shared memory of attention_fused / attention_cached for a block of <paramref name="block"/> threads.</summary>
    public static uint AttentionShared(int hs, int block = Block) =>
        (uint)((AttentionKeyTile * (hs + 1) + AttentionKeyTile * hs + block / 32 * hs) * 4);

    public static void AttentionFused(EmuBuffer output, EmuBuffer qkv, int b, int t, int nh, int hs, float scale, int block = Block) =>
        Done(EmuNative.launch_attention_fused(new Dim3((uint)((t + block / 32 - 1) / (block / 32)), (uint)nh, (uint)b), block,
            AttentionShared(hs, block), output.Ptr, qkv.Ptr, b, t, nh, hs, scale), "attention_fused", output, qkv);

    /// <summary>Queries per block of attention_bf16 (4 warps of 16 rows) and its key tile.</summary>
    public const int AttentionBf16Tile = 64;

    /// <summary>Dynamic shared memory of attention_bf16: K and V tiles of 64 rows of HS + 8 bf16.</summary>
    public static uint AttentionBf16Shared(int hs) => (uint)(2 * AttentionBf16Tile * (hs + 8) * 2);

    /// <summary>attention_bf16_hs64 or attention_bf16_hs128, by <paramref name="hs"/>.</summary>
    public static void AttentionBf16(EmuBuffer output, EmuBuffer qkv, int b, int t, int nh, int hs, float scale)
    {
        var grid = new Dim3((uint)((t + AttentionBf16Tile - 1) / AttentionBf16Tile), (uint)nh, (uint)b);
        int rc = hs switch
        {
            64 => EmuNative.launch_attention_bf16_hs64(grid, 128, AttentionBf16Shared(hs), output.Ptr, qkv.Ptr, b, t, nh, hs, scale),
            128 => EmuNative.launch_attention_bf16_hs128(grid, 128, AttentionBf16Shared(hs), output.Ptr, qkv.Ptr, b, t, nh, hs, scale),
            _ => throw new ArgumentException($"attention_bf16 takes head sizes 64 and 128, not {hs}"),
        };
        Done(rc, $"attention_bf16_hs{hs}", output, qkv);
    }

    /// <summary>Dynamic shared memory of attention_tf32: K and V tiles of 32 fp32 rows of HS + 4 and HS + 8.</summary>
    public static uint AttentionTf32Shared(int hs) => (uint)(32 * (hs + 4) * 4 + 32 * (hs + 8) * 4);

    /// <summary>attention_tf32_hs64 or attention_tf32_hs128, by <paramref name="hs"/>.</summary>
    public static void AttentionTf32(EmuBuffer output, EmuBuffer qkv, int b, int t, int nh, int hs, float scale)
    {
        var grid = new Dim3((uint)((t + AttentionBf16Tile - 1) / AttentionBf16Tile), (uint)nh, (uint)b);
        int rc = hs switch
        {
            64 => EmuNative.launch_attention_tf32_hs64(grid, 128, AttentionTf32Shared(hs), output.Ptr, qkv.Ptr, b, t, nh, hs, scale),
            128 => EmuNative.launch_attention_tf32_hs128(grid, 128, AttentionTf32Shared(hs), output.Ptr, qkv.Ptr, b, t, nh, hs, scale),
            _ => throw new ArgumentException($"attention_tf32 takes head sizes 64 and 128, not {hs}"),
        };
        Done(rc, $"attention_tf32_hs{hs}", output, qkv);
    }

    /// <summary>Dynamic shared memory of attention_fp32: Q and K/V tiles of 32 rows of HS + 1 floats, P (32, 33).</summary>
    public static uint AttentionFp32Shared(int hs) => (uint)((2 * 32 * (hs + 1) + 32 * 33) * 4);

    /// <summary>attention_fp32_hs64 (HS &lt;= 64) or attention_fp32_hs128 (HS &lt;= 128).</summary>
    public static void AttentionFp32(EmuBuffer output, EmuBuffer qkv, int b, int t, int nh, int hs, float scale)
    {
        var grid = new Dim3((uint)((t + 31) / 32), (uint)nh, (uint)b);
        int rc = hs <= 64
            ? EmuNative.launch_attention_fp32_hs64(grid, 128, AttentionFp32Shared(hs), output.Ptr, qkv.Ptr, b, t, nh, hs, scale)
            : EmuNative.launch_attention_fp32_hs128(grid, 128, AttentionFp32Shared(hs), output.Ptr, qkv.Ptr, b, t, nh, hs, scale);
        Done(rc, hs <= 64 ? "attention_fp32_hs64" : "attention_fp32_hs128", output, qkv);
    }

    public static void AttentionFusedBf16(EmuBuffer output, EmuBuffer qkv, int b, int t, int nh, int hs, float scale) =>
        Done(EmuNative.launch_attention_fused_bf16(new Dim3((uint)((t + Block / 32 - 1) / (Block / 32)), (uint)nh, (uint)b), Block,
            AttentionShared(hs), output.Ptr, qkv.Ptr, b, t, nh, hs, scale), "attention_fused_bf16", output, qkv);

    public static void KvCacheWriteBf16(EmuBuffer kCache, EmuBuffer vCache, EmuBuffer qkv, int b, int tNew, int past, int maxT, int c) =>
        Done(EmuNative.launch_kv_cache_write_bf16(Cover((long)b * tNew * c), Block, 0, kCache.Ptr, vCache.Ptr, qkv.Ptr, b, tNew, past, maxT, c),
            "kv_cache_write_bf16", kCache, vCache, qkv);

    public static void AttentionCachedBf16(EmuBuffer output, EmuBuffer qkv, EmuBuffer kCache, EmuBuffer vCache,
        int b, int tNew, int past, int maxT, int nh, int hs, float scale) =>
        Done(EmuNative.launch_attention_cached_bf16(new Dim3((uint)((tNew + Block / 32 - 1) / (Block / 32)), (uint)nh, (uint)b), Block,
            AttentionShared(hs), output.Ptr, qkv.Ptr, kCache.Ptr, vCache.Ptr, b, tNew, past, maxT, nh, hs, scale),
            "attention_cached_bf16", output, qkv, kCache, vCache);

    public static void KvCacheWrite(EmuBuffer kCache, EmuBuffer vCache, EmuBuffer qkv, int b, int tNew, int past, int maxT, int c) =>
        Done(EmuNative.launch_kv_cache_write(Cover((long)b * tNew * c), Block, 0, kCache.Ptr, vCache.Ptr, qkv.Ptr, b, tNew, past, maxT, c),
            "kv_cache_write", kCache, vCache, qkv);

    public static void AttentionCached(EmuBuffer output, EmuBuffer qkv, EmuBuffer kCache, EmuBuffer vCache,
        int b, int tNew, int past, int maxT, int nh, int hs, float scale) =>
        Done(EmuNative.launch_attention_cached(new Dim3((uint)((tNew + Block / 32 - 1) / (Block / 32)), (uint)nh, (uint)b), Block,
            AttentionShared(hs), output.Ptr, qkv.Ptr, kCache.Ptr, vCache.Ptr, b, tNew, past, maxT, nh, hs, scale),
            "attention_cached", output, qkv, kCache, vCache);

    public static void SurprisalChunk(EmuBuffer state, EmuBuffer logits, EmuBuffer targets, int m, int cols, int ld, int chunkStart) =>
        Done(EmuNative.launch_surprisal_chunk(new Dim3((uint)m), Block, 0, state.Ptr, logits.Ptr, targets.Ptr, m, cols, ld, chunkStart),
            "surprisal_chunk", state, logits, targets);

    public static void SurprisalFinish(EmuBuffer output, EmuBuffer state, int m) =>
        Done(EmuNative.launch_surprisal_finish(Cover(m), Block, 0, output.Ptr, state.Ptr, m), "surprisal_finish", output, state);

    public static void F32ToBf16(EmuBuffer output, EmuBuffer input, long n) =>
        Done(EmuNative.launch_convert_f32_to_bf16(Cover(n), Block, 0, output.Ptr, input.Ptr, n), "convert_f32_to_bf16", output, input);

    public static void Bf16ToF32(EmuBuffer output, EmuBuffer input, long n) =>
        Done(EmuNative.launch_convert_bf16_to_f32(Cover(n), Block, 0, output.Ptr, input.Ptr, n), "convert_bf16_to_f32", output, input);

    /// <summary>c[z] (M,N) = alpha * a[z] (M,K) @ op(b[z]) + bias, for z below <paramref name="batch"/>; element offsets
    /// let one buffer hold a slice (the head's vocabulary chunk).</summary>
    public static void Sgemm(EmuBuffer c, EmuBuffer a, EmuBuffer b, EmuBuffer? bias, int m, int n, int k, int lda, int ldb, int ldc,
        bool transB, int batch = 1, long strideA = 0, long strideB = 0, long strideC = 0, float alpha = 1f, long offsetB = 0, long offsetC = 0) =>
        Done(EmuNative.launch_sgemm_tiled(new Dim3((uint)((n + 63) / 64), (uint)((m + 63) / 64), (uint)batch), Block, 0,
            c.Ptr + (nint)(offsetC * 4), a.Ptr, b.Ptr + (nint)(offsetB * 4), P(bias), m, n, k, lda, ldb, ldc, transB ? 1 : 0,
            strideA, strideB, strideC, alpha), "sgemm_tiled", c, a, b, bias);
}

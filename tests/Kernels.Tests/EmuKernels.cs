using System.Text.RegularExpressions;
using LearningCurves.Tests.Common;

namespace LearningCurves.Kernels.Tests;

/// <summary>One kernel argument for <see cref="EmuKernels.Launch"/>: its kind as kernels.cu's prototypes give it
/// (p pointer, i int, l long long, f float; see <see cref="KernelDeclarations"/>), its bits, and for a pointer the
/// buffer it points into, whose guard zones are checked after the launch.</summary>
internal readonly record struct EmuArg(char Kind, ulong Bits, EmuBuffer? Buffer = null)
{
    public static implicit operator EmuArg(EmuBuffer? b) => new('p', (ulong)(b?.Ptr ?? 0), b);

    public static implicit operator EmuArg(int v) => new('i', (uint)v);

    public static implicit operator EmuArg(long v) => new('l', (ulong)v);

    public static implicit operator EmuArg(float v) => new('f', BitConverter.SingleToUInt32Bits(v));

    /// <summary>A pointer <paramref name="elements"/> 4-byte elements into <paramref name="b"/>.</summary>
    public static EmuArg At(EmuBuffer b, long elements) => new('p', (ulong)(b.Ptr + (nint)(elements * 4)), b);
}

/// <summary>
/// Kernels of kernels.cu launched through the emulator. <see cref="Launch"/> runs any kernel by name, checking the
/// arguments against the kernel's prototype in kernels.cu (the one declaration) and every buffer's guard zones after the
/// launch; the named helpers below use the launch configuration each kernel's header comment gives (the one the CUDA
/// backend uses), for tests that call a kernel often.
/// </summary>
internal static class EmuKernels
{
    public const int Block = 256;
    public const int AttentionKeyTile = 32; // LC_ATT_BK
    public const int AttentionMaxHeadSize = 128; // LC_ATT_MAX_HS

    /// <summary>kernels.cu's kernels (as the repository holds the file) and the emulator's self-test kernels.</summary>
    private static readonly Lazy<IReadOnlyDictionary<string, string>> Signatures = new(() =>
    {
        var table = new Dictionary<string, string>(
            KernelDeclarations.Parse(File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "kernels.cu"))), StringComparer.Ordinal);
        foreach (var selfTest in new[] { "emu_selftest_shuffles", "emu_selftest_barrier", "emu_selftest_deadlock" }) table[selfTest] = "p";
        table["emu_selftest_mma_bf16"] = "ppppi";
        table["emu_selftest_mma_tf32"] = "ppppi";
        return table;
    });

    /// <summary>Launches <paramref name="kernel"/> on the emulator: arguments checked against its prototype (kind and
    /// count), then every buffer argument's guard zones checked. Throws with the emulator's message on failure.</summary>
    public static unsafe void Launch(string kernel, Dim3 grid, Dim3 block, uint shared, params ReadOnlySpan<EmuArg> args)
    {
        EmuLibrary.Require();
        if (!Signatures.Value.TryGetValue(kernel, out var sig)) throw new ArgumentException($"kernels.cu has no kernel {kernel}");
        var kinds = new string(args.ToArray().Select(a => a.Kind).ToArray());
        if (kinds != sig) throw new ArgumentException($"{kernel} takes ({sig}) but was launched with ({kinds})");
        if (EmuNative.lc_emu_param_count(kernel) != args.Length)
            throw new InvalidOperationException($"the emulator library's {kernel} takes {EmuNative.lc_emu_param_count(kernel)} parameters, kernels.cu {args.Length}");
        ulong* slots = stackalloc ulong[Math.Max(1, args.Length)];
        void** ptrs = stackalloc void*[Math.Max(1, args.Length)];
        for (int i = 0; i < args.Length; i++)
        {
            slots[i] = args[i].Bits;
            ptrs[i] = slots + i;
        }
        EmuLibrary.Check(EmuNative.lc_emu_launch(kernel, grid, block, shared, ptrs), kernel);
        foreach (var a in args) a.Buffer?.CheckGuards(kernel);
    }

    private static Dim3 Cover(long n, int per = Block) => new((uint)Math.Max(1, (n + per - 1) / per));

    public static void Embed(EmuBuffer output, EmuBuffer tokens, EmuBuffer wte, EmuBuffer wpe, int b, int t, int c) =>
        Launch("embed_forward", Cover((long)b * t * c), Block, 0, output, tokens, wte, wpe, b, t, c);

    public static void LayerNorm(EmuBuffer output, EmuBuffer input, EmuBuffer weight, EmuBuffer bias, int rows, int c, float eps) =>
        Launch("layernorm_forward", Cover(rows, Block / 32), Block, 0, output, input, weight, bias, rows, c, eps);

    /// <summary>fused_residual_layernorm_bf16 with <paramref name="block"/> threads (any multiple of 32).</summary>
    public static void FusedResidualLayerNormBf16(EmuBuffer residual, EmuBuffer normBits, EmuBuffer y, EmuBuffer bias, EmuBuffer weight,
        EmuBuffer lnBias, int rows, int c, float eps, int block = Block) =>
        Launch("fused_residual_layernorm_bf16", Cover(rows, block / 32), new Dim3((uint)block), 0, residual, normBits, y, bias, weight, lnBias, rows, c, eps);

    public static void EpilogueBiasGeluBf16(EmuBuffer outBits, EmuBuffer input, EmuBuffer bias, int rows, int cols) =>
        Launch("epilogue_bias_gelu_bf16", Cover((long)rows * cols), Block, 0, outBits, input, bias, rows, cols);

    public static void BiasAdd(EmuBuffer x, EmuBuffer bias, int rows, int cols) =>
        Launch("bias_add", Cover((long)rows * cols), Block, 0, x, bias, rows, cols);

    public static void GeluErf(EmuBuffer x, long n) => Launch("gelu_erf_forward", Cover(n), Block, 0, x, n);

    public static void BiasGelu(EmuBuffer x, EmuBuffer? bias, int rows, int cols) =>
        Launch("bias_gelu_forward", Cover((long)rows * cols), Block, 0, x, bias, rows, cols);

    public static void ResidualAdd(EmuBuffer x, EmuBuffer y, long n) => Launch("residual_add", Cover(n), Block, 0, x, y, n);

    public static void ResidualBiasAdd(EmuBuffer x, EmuBuffer y, EmuBuffer bias, int rows, int cols) =>
        Launch("residual_bias_add", Cover((long)rows * cols), Block, 0, x, y, bias, rows, cols);

    public static void GatherRows(EmuBuffer output, EmuBuffer input, EmuBuffer rows, int count, int c) =>
        Launch("gather_rows", Cover((long)count * c), Block, 0, output, input, rows, count, c);

    public static void QkvSplitHeads(EmuBuffer q, EmuBuffer k, EmuBuffer v, EmuBuffer qkv, int b, int t, int nh, int hs) =>
        Launch("qkv_split_heads", Cover((long)b * t * nh * hs), Block, 0, q, k, v, qkv, b, t, nh, hs);

    public static void MergeHeads(EmuBuffer output, EmuBuffer y, int b, int t, int nh, int hs) =>
        Launch("merge_heads", Cover((long)b * t * nh * hs), Block, 0, output, y, b, t, nh, hs);

    public static void SoftmaxCausal(EmuBuffer att, int bh, int tq, int tk, int past, float scale) =>
        Launch("softmax_causal", Cover((long)bh * tq, Block / 32), Block, 0, att, bh, tq, tk, past, scale);

    /// <summary>Dynamic shared memory of attention_fused / attention_cached for a block of <paramref name="block"/> threads.</summary>
    public static uint AttentionShared(int hs, int block = Block) =>
        (uint)((AttentionKeyTile * (hs + 1) + AttentionKeyTile * hs + block / 32 * hs) * 4);

    public static void AttentionFused(EmuBuffer output, EmuBuffer qkv, int b, int t, int nh, int hs, float scale, int block = Block) =>
        Launch("attention_fused", new Dim3((uint)((t + block / 32 - 1) / (block / 32)), (uint)nh, (uint)b), block,
            AttentionShared(hs, block), output, qkv, b, t, nh, nh, hs, scale);

    /// <summary>Queries per block of attention_bf16 (4 warps of 16 rows) and its key tile.</summary>
    public const int AttentionBf16Tile = 64;

    /// <summary>Dynamic shared memory of attention_bf16: K and V tiles of 64 rows of HS + 8 bf16.</summary>
    public static uint AttentionBf16Shared(int hs) => (uint)(2 * AttentionBf16Tile * (hs + 8) * 2);

    /// <summary>attention_bf16_hs64 or attention_bf16_hs128, by <paramref name="hs"/>; <paramref name="nkv"/> kv heads
    /// (0: nh); with <paramref name="r"/> &gt; 0 the fused rotary of the first r dims from the tables cos, sin (T, r/2).</summary>
    public static void AttentionBf16(EmuBuffer output, EmuBuffer qkv, int b, int t, int nh, int hs, float scale,
        int nkv = 0, EmuBuffer? cos = null, EmuBuffer? sin = null, int r = 0)
    {
        var grid = new Dim3((uint)((t + AttentionBf16Tile - 1) / AttentionBf16Tile), (uint)nh, (uint)b);
        if (hs != 64 && hs != 128) throw new ArgumentException($"attention_bf16 takes head sizes 64 and 128, not {hs}");
        Launch($"attention_bf16_hs{hs}", grid, 128, AttentionBf16Shared(hs), output, qkv, b, t, nh, nkv == 0 ? nh : nkv, hs, scale, cos, sin, r);
    }

    /// <summary>Dynamic shared memory of attention_tf32: K and V tiles of 32 fp32 rows of HS + 4 and HS + 8.</summary>
    public static uint AttentionTf32Shared(int hs) => (uint)(32 * (hs + 4) * 4 + 32 * (hs + 8) * 4);

    /// <summary>attention_tf32_hs64 or attention_tf32_hs128, by <paramref name="hs"/>; kv heads and rotary as
    /// <see cref="AttentionBf16"/>.</summary>
    public static void AttentionTf32(EmuBuffer output, EmuBuffer qkv, int b, int t, int nh, int hs, float scale,
        int nkv = 0, EmuBuffer? cos = null, EmuBuffer? sin = null, int r = 0)
    {
        var grid = new Dim3((uint)((t + AttentionBf16Tile - 1) / AttentionBf16Tile), (uint)nh, (uint)b);
        if (hs != 64 && hs != 128) throw new ArgumentException($"attention_tf32 takes head sizes 64 and 128, not {hs}");
        Launch($"attention_tf32_hs{hs}", grid, 128, AttentionTf32Shared(hs), output, qkv, b, t, nh, nkv == 0 ? nh : nkv, hs, scale, cos, sin, r);
    }

    /// <summary>Dynamic shared memory of attention_fp32: Q and K/V tiles of 32 rows of HS + 1 floats, P (32, 33).</summary>
    public static uint AttentionFp32Shared(int hs) => (uint)((2 * 32 * (hs + 1) + 32 * 33) * 4);

    /// <summary>attention_fp32_hs64 (HS &lt;= 64) or attention_fp32_hs128 (HS &lt;= 128); kv heads and rotary as
    /// <see cref="AttentionBf16"/>.</summary>
    public static void AttentionFp32(EmuBuffer output, EmuBuffer qkv, int b, int t, int nh, int hs, float scale,
        int nkv = 0, EmuBuffer? cos = null, EmuBuffer? sin = null, int r = 0)
    {
        var grid = new Dim3((uint)((t + 31) / 32), (uint)nh, (uint)b);
        Launch(hs <= 64 ? "attention_fp32_hs64" : "attention_fp32_hs128", grid, 128, AttentionFp32Shared(hs), output, qkv, b, t, nh,
            nkv == 0 ? nh : nkv, hs, scale, cos, sin, r);
    }

    public static void AttentionFusedBf16(EmuBuffer output, EmuBuffer qkv, int b, int t, int nh, int hs, float scale) =>
        Launch("attention_fused_bf16", new Dim3((uint)((t + Block / 32 - 1) / (Block / 32)), (uint)nh, (uint)b), Block,
            AttentionShared(hs), output, qkv, b, t, nh, nh, hs, scale);

    public static void KvCacheWriteBf16(EmuBuffer kCache, EmuBuffer vCache, EmuBuffer qkv, int b, int tNew, int past, int maxT, int c) =>
        Launch("kv_cache_write_bf16", Cover((long)b * tNew * c), Block, 0, kCache, vCache, qkv, b, tNew, past, maxT, c, c);

    public static void AttentionCachedBf16(EmuBuffer output, EmuBuffer qkv, EmuBuffer kCache, EmuBuffer vCache,
        int b, int tNew, int past, int maxT, int nh, int hs, float scale) =>
        Launch("attention_cached_bf16", new Dim3((uint)((tNew + Block / 32 - 1) / (Block / 32)), (uint)nh, (uint)b), Block,
            AttentionShared(hs), output, qkv, kCache, vCache, b, tNew, past, maxT, nh, nh, hs, scale);

    public static void KvCacheWrite(EmuBuffer kCache, EmuBuffer vCache, EmuBuffer qkv, int b, int tNew, int past, int maxT, int c) =>
        Launch("kv_cache_write", Cover((long)b * tNew * c), Block, 0, kCache, vCache, qkv, b, tNew, past, maxT, c, c);

    public static void AttentionCached(EmuBuffer output, EmuBuffer qkv, EmuBuffer kCache, EmuBuffer vCache,
        int b, int tNew, int past, int maxT, int nh, int hs, float scale) =>
        Launch("attention_cached", new Dim3((uint)((tNew + Block / 32 - 1) / (Block / 32)), (uint)nh, (uint)b), Block,
            AttentionShared(hs), output, qkv, kCache, vCache, b, tNew, past, maxT, nh, nh, hs, scale);

    /// <summary>Keys per block of attention_cached_split (LC_SPLIT_CHUNK) and its block size.</summary>
    public const int SplitChunk = 256;

    /// <summary>attention_cached_split(_bf16) + attention_cached_combine(_bf16): split-K decoding of one new query per
    /// sequence over keys 0..past; partial is fp32 scratch of at least B * NH * chunks * (HS + 2) floats.</summary>
    public static void AttentionCachedSplit(EmuBuffer output, EmuBuffer partial, EmuBuffer qkv, EmuBuffer kCache, EmuBuffer vCache,
        int b, int past, int maxT, int nh, int nkv, int hs, float scale, bool bf16)
    {
        int chunks = (past + SplitChunk) / SplitChunk;
        Launch(bf16 ? "attention_cached_split_bf16" : "attention_cached_split", new Dim3((uint)chunks, (uint)nh, (uint)b), 128, 0,
            partial, qkv, kCache, vCache, b, past, maxT, nh, nkv, hs, scale);
        Launch(bf16 ? "attention_cached_combine_bf16" : "attention_cached_combine", Cover((long)b * nh, Block / 32), Block, 0,
            output, partial, b, nh, hs, chunks);
    }

    public static void SurprisalChunk(EmuBuffer state, EmuBuffer logits, EmuBuffer targets, int m, int cols, int ld, int chunkStart) =>
        Launch("surprisal_chunk", new Dim3((uint)m), Block, 0, state, logits, targets, m, cols, ld, chunkStart);

    public static void SurprisalFinish(EmuBuffer output, EmuBuffer state, int m) =>
        Launch("surprisal_finish", Cover(m), Block, 0, output, state, m);

    public static void F32ToBf16(EmuBuffer output, EmuBuffer input, long n) =>
        Launch("convert_f32_to_bf16", Cover(n), Block, 0, output, input, n);

    public static void Bf16ToF32(EmuBuffer output, EmuBuffer input, long n) =>
        Launch("convert_bf16_to_f32", Cover(n), Block, 0, output, input, n);

    /// <summary>c[z] (M,N) = alpha * a[z] (M,K) @ op(b[z]) + bias, for z below <paramref name="batch"/>; element offsets
    /// let one buffer hold a slice (the head's vocabulary chunk).</summary>
    public static void Sgemm(EmuBuffer c, EmuBuffer a, EmuBuffer b, EmuBuffer? bias, int m, int n, int k, int lda, int ldb, int ldc,
        bool transB, int batch = 1, long strideA = 0, long strideB = 0, long strideC = 0, float alpha = 1f, long offsetB = 0, long offsetC = 0) =>
        Launch("sgemm_tiled", new Dim3((uint)((n + 63) / 64), (uint)((m + 63) / 64), (uint)batch), Block, 0,
            EmuArg.At(c, offsetC), a, EmuArg.At(b, offsetB), bias, m, n, k, lda, ldb, ldc, transB ? 1 : 0, strideA, strideB, strideC, alpha);
}

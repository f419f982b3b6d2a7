using LearningCurves.Engine;
using LearningCurves.Engine.Backends;
using LearningCurves.Engine.Model;
using LearningCurves.Kernels.Native;
using LearningCurves.Formats;

namespace LearningCurves.Kernels;

// Attention on the GPU: the op dispatches on the buffers' element type.
//   qkv bf16 (DType.Bf16) -> attention_bf16_hs64 / _hs128 (tensor cores, sm_80+) or attention_fused_bf16 (SIMT),
//                                 output bf16;
//   qkv fp32, tf32 mode         -> attention_tf32_hs64 / _hs128 (tensor cores, sm_80+), output fp32;
//   qkv fp32 otherwise         -> attention_fp32_hs64 / _hs128 (exact fp32, tiled SIMT; attention_fused with
//                                 UseSimtAttention), or, in any mode, the unfused cuBLAS path when UseCublasAttention is
//                                 set or HS > 128.
// Cached decoding likewise: bf16 qkv, caches and output -> kv_cache_write_bf16 + attention_cached_bf16; fp32 ->
// kv_cache_write + attention_cached; one new token per sequence over a long cache (past + 1 >= SplitAttentionFrom, by
// default more than one chunk of 256 keys) -> kv_cache_write(_bf16) + attention_cached_split(_bf16) +
// attention_cached_combine(_bf16) (split-K).
// Scoring (no cache) calls AttentionRotary: the bf16, tf32 and fp32 tiled kernels above take the rotary tables and turn
// q and each K tile as they load them (bit for bit rotary_forward(_bf16) + attention, qkv left as given); the other
// paths run rotary_forward(_bf16) first.
public sealed partial class CudaBackend
{
    /// <summary>Queries per block and keys per tile of attention_bf16 (4 warps of 16 query rows; block of 128).</summary>
    internal const int AttentionBf16Tile = 64;

    internal const int AttentionBf16Threads = 128;

    /// <summary>Threads per block of <paramref name="kernel"/>'s launches (the resource test checks them).</summary>
    internal static int LaunchThreads(string kernel) => kernel is "attention_bf16_hs64" or "attention_bf16_hs128" or "attention_tf32_hs64" or "attention_tf32_hs128"
        or "attention_fp32_hs64" or "attention_fp32_hs128" or "attention_cached_split" or "attention_cached_split_bf16"
        ? AttentionBf16Threads : Block;

    /// <summary>Dynamic shared memory of attention_fp32: Q and K/V tiles of 32 rows of HS + 1 floats and P (32, 33).</summary>
    internal static uint AttentionFp32Shared(int hs) => (uint)((2 * 32 * (hs + 1) + 32 * 33) * 4);

    /// <summary>Queries per block of attention_fp32_hs64 / _hs128.</summary>
    internal const int AttentionFp32Tile = 32;

    /// <summary>Dynamic shared memory of attention_tf32: K and V tiles of 32 fp32 rows of HS + 4 and HS + 8 floats.</summary>
    internal static uint AttentionTf32Shared(int hs) => (uint)(32 * (hs + 4) * 4 + 32 * (hs + 8) * 4);

    /// <summary>Dynamic shared memory of attention_bf16: K and V tiles of 64 rows of HS + 8 bf16 (16 bytes of padding
    /// per row against ldmatrix bank conflicts).</summary>
    internal static uint AttentionBf16Shared(int hs) => (uint)(2 * AttentionBf16Tile * (hs + 8) * 2);

    /// <summary>A zeroed bf16 buffer of <paramref name="length"/> elements (until typed buffers give every backend a
    /// public way to make one; tests use it for bf16 activations).</summary>
    internal IDeviceBuffer AllocateBf16(long length) => NewBuffer(length, DType.Bf16);

    /// <summary>A bf16 buffer holding <paramref name="data"/> rounded to nearest even, whatever the precision mode.</summary>
    internal IDeviceBuffer UploadAsBf16(ReadOnlySpan<float> data) => UploadBf16(data);

    /// <summary>When true, fp32 attention runs the one-warp-per-query attention_fused instead of the tiled
    /// attention_fp32 kernels (a comparison path for benchmarks and tests).</summary>
    internal bool UseSimtAttention { get; set; }

    public void Attention(IDeviceBuffer output, IDeviceBuffer qkv, int b, int t, int heads, int kvHeads, int hs, float scale) =>
        Attention(output, qkv, b, t, heads, kvHeads, hs, scale, default);

    /// <summary>When false, <see cref="AttentionRotary"/> always runs rotary_forward(_bf16) and then the attention (the
    /// unfused comparison path for tests and benchmarks).</summary>
    internal bool FuseRotaryIntoAttention { get; set; } = true;

    /// <summary>Rotary + attention for a forward pass without a cache: where the attention kernel chosen for this
    /// buffer type, head size and device takes the rotary itself (attention_bf16_hs64 / _hs128, attention_tf32_hs64 /
    /// _hs128, attention_fp32_hs64 / _hs128) it turns q and each k tile as it loads them, with the bits rotary_forward
    /// would store, and qkv is left as given: one pass over qkv (and one launch per layer) fewer. Elsewhere (the SIMT
    /// attention_fused(_bf16), the cuBLAS path, heads above 128, below sm_80 for the tensor-core kernels) rotary_forward
    /// runs first.</summary>
    public void AttentionRotary(IDeviceBuffer output, IDeviceBuffer qkv, int b, int t, int heads, int kvHeads, int hs, float scale,
        int rotaryDims, RotaryFrequencies rotary)
    {
        ThrowIfDisposed();
        CheckHeads(heads, kvHeads, hs, "attention");
        if (rotaryDims < 0 || rotaryDims % 2 != 0 || rotaryDims > hs)
            throw new ArgumentException($"rotary: {rotaryDims} dims must be even and at most the head size {hs}");
        if (rotaryDims == 0 || b == 0 || t == 0 || !FuseRotaryIntoAttention || !AttentionTakesRotary(Buf(qkv).Type, hs))
        {
            Rotary(qkv, b, t, heads, kvHeads, hs, rotaryDims, rotary, 0);
            Attention(output, qkv, b, t, heads, kvHeads, hs, scale);
            return;
        }
        var (cos, sin) = RotaryTable(t, rotaryDims, rotary, 0);
        Attention(output, qkv, b, t, heads, kvHeads, hs, scale, new Rope(cos, sin, rotaryDims));
    }

    /// <summary>The fused rotary's arguments: the angle tables (T, R/2) and R (0: none, null tables).</summary>
    private readonly record struct Rope(ulong Cos, ulong Sin, int Dims);

    /// <summary>Whether the attention kernel <see cref="Attention(IDeviceBuffer, IDeviceBuffer, int, int, int, int, int, float)"/>
    /// picks for qkv of this type and head size takes a fused rotary (mirrors the dispatch below).</summary>
    private bool AttentionTakesRotary(DType qkvType, int hs)
    {
        if (qkvType == DType.Bf16) return (hs == 64 || hs == 128) && _dev.Arch >= 80;
        if (UseCublasAttention || hs > 128) return false;
        if (Precision == Precision.Tf32 && (hs == 64 || hs == 128) && _dev.Arch >= 80) return true;
        return !UseSimtAttention;
    }

    private void Attention(IDeviceBuffer output, IDeviceBuffer qkv, int b, int t, int heads, int kvHeads, int hs, float scale, Rope rope)
    {
        ThrowIfDisposed();
        CheckHeads(heads, kvHeads, hs, "attention");
        int c = heads * hs;
        long rowWidth = (long)(heads + 2 * kvHeads) * hs;
        if (Buf(qkv).Type == DType.Bf16)
        {
            AttentionBf16(output, qkv, b, t, c, heads, kvHeads, hs, scale, rope);
            return;
        }
        Need(output, (long)b * t * c);
        Need(qkv, b * t * rowWidth);
        if (b == 0 || t == 0) return;
        if (!UseCublasAttention && Precision == Precision.Tf32 && (hs == 64 || hs == 128) && _dev.Arch >= 80)
        {
            string name = hs == 64 ? "attention_tf32_hs64" : "attention_tf32_hs128";
            using var _ = Time(name);
            LaunchBlock(name, Blocks(t, AttentionBf16Tile), (uint)heads, (uint)b, AttentionBf16Threads, AttentionTf32Shared(hs),
                P(output), P(qkv), I(b), I(t), I(heads), I(kvHeads), I(hs), F(scale), D(rope.Cos), D(rope.Sin), I(rope.Dims));
            return;
        }
        if (!UseCublasAttention && hs <= 128 && !UseSimtAttention)
        {
            string name = hs <= 64 ? "attention_fp32_hs64" : "attention_fp32_hs128";
            using var _ = Time(name);
            LaunchBlock(name, Blocks(t, AttentionFp32Tile), (uint)heads, (uint)b, AttentionBf16Threads, AttentionFp32Shared(hs),
                P(output), P(qkv), I(b), I(t), I(heads), I(kvHeads), I(hs), F(scale), D(rope.Cos), D(rope.Sin), I(rope.Dims));
            return;
        }
        if (rope.Dims != 0) throw new InvalidOperationException("attention: no fused rotary on this path");
        if (!UseCublasAttention && hs <= 128)
        {
            using var _ = Time("attention_fused");
            Launch("attention_fused", Blocks(t, Block / 32), (uint)heads, (uint)b, FusedShared(hs),
                P(output), P(qkv), I(b), I(t), I(heads), I(kvHeads), I(hs), F(scale));
            return;
        }
        if (kvHeads != heads)
            throw new UserError($"grouped-query attention on CUDA supports head sizes up to 128 (this model: {hs}) and not the cuBLAS attention path");
        long perHead = (long)b * heads * t * hs;
        ulong q = _q.Get(perHead * 4), k = _k.Get(perHead * 4), v = _v.Get(perHead * 4), y = _y.Get(perHead * 4);
        ulong att = _att.Get((long)b * heads * t * t * 4);
        int bh = b * heads;
        using (Time("qkv_split_heads"))
            Launch("qkv_split_heads", Grid((long)b * t * c), 1, 1, 0, D(q), D(k), D(v), P(qkv), I(b), I(t), I(heads), I(hs));
        // TF32 only in tf32 mode: in bf16 mode everything outside the weight products stays fp32.
        int compute = Precision == Precision.Tf32 ? CublasApi.Compute32FFastTf32 : CublasApi.Compute32F;
        _dev.MakeCurrent();
        using (Time("attention scores (cublasGemmStridedBatchedEx)"))
        {
            // scores (T, T) = q (T, HS) @ k (T, HS)^T per (b, h); column-major: S^T = k^T' ... i.e. op(k)=T, op(q)=N.
            CublasApi.Check(CublasApi.cublasGemmStridedBatchedEx(_blas.Value, CublasApi.OpT, CublasApi.OpN, t, t, hs,
                1f, k, CublasApi.R32F, hs, (long)t * hs, q, CublasApi.R32F, hs, (long)t * hs,
                0f, att, CublasApi.R32F, t, (long)t * t, bh, compute, CublasApi.GemmDefault), "cublasGemmStridedBatchedEx(scores)");
        }
        using (Time("softmax_causal"))
            Launch("softmax_causal", Blocks((long)bh * t, Block / 32), 1, 1, 0, D(att), I(bh), I(t), I(t), I(0), F(scale));
        using (Time("attention values (cublasGemmStridedBatchedEx)"))
        {
            // y (T, HS) = P (T, T) @ v (T, HS); column-major: y^T (HS, T) = v^T (HS, T) @ P^T (T, T).
            CublasApi.Check(CublasApi.cublasGemmStridedBatchedEx(_blas.Value, CublasApi.OpN, CublasApi.OpN, hs, t, t,
                1f, v, CublasApi.R32F, hs, (long)t * hs, att, CublasApi.R32F, t, (long)t * t,
                0f, y, CublasApi.R32F, hs, (long)t * hs, bh, compute, CublasApi.GemmDefault), "cublasGemmStridedBatchedEx(values)");
        }
        using (Time("merge_heads"))
            Launch("merge_heads", Grid((long)b * t * c), 1, 1, 0, P(output), D(y), I(b), I(t), I(heads), I(hs));
    }

    /// <summary>bf16 qkv (B,T,3C) -> bf16 output (B,T,C): tensor cores for head sizes 64 and 128 on sm_80+, the SIMT
    /// kernel on bf16 otherwise (HS up to 128).</summary>
    private void AttentionBf16(IDeviceBuffer output, IDeviceBuffer qkv, int b, int t, int c, int heads, int kvHeads, int hs, float scale, Rope rope)
    {
        Need(output, (long)b * t * c, DType.Bf16);
        Need(qkv, (long)b * t * (heads + 2 * kvHeads) * hs, DType.Bf16);
        if (b == 0 || t == 0) return;
        if ((hs == 64 || hs == 128) && _dev.Arch >= 80)
        {
            string name = hs == 64 ? "attention_bf16_hs64" : "attention_bf16_hs128";
            using var _ = Time(name);
            LaunchBlock(name, Blocks(t, AttentionBf16Tile), (uint)heads, (uint)b, AttentionBf16Threads,
                AttentionBf16Shared(hs), P(output), P(qkv), I(b), I(t), I(heads), I(kvHeads), I(hs), F(scale),
                D(rope.Cos), D(rope.Sin), I(rope.Dims));
            return;
        }
        if (rope.Dims != 0) throw new InvalidOperationException("attention: no fused rotary on this path");
        if (hs > 128)
        {
            if (kvHeads != heads)
                throw new UserError($"grouped-query attention on CUDA supports head sizes up to 128 (this model: {hs})");
            AttentionBf16WideHeads(output, qkv, b, t, c, heads, scale);
            return;
        }
        using (Time("attention_fused_bf16"))
            Launch("attention_fused_bf16", Blocks(t, Block / 32), (uint)heads, (uint)b, FusedShared(hs),
                P(output), P(qkv), I(b), I(t), I(heads), I(kvHeads), I(hs), F(scale));
    }

    public void AttentionCached(IDeviceBuffer output, IDeviceBuffer qkv, IDeviceBuffer kCache, IDeviceBuffer vCache,
        int b, int tNew, int past, int maxT, int heads, int kvHeads, int hs, float scale)
    {
        ThrowIfDisposed();
        CheckHeads(heads, kvHeads, hs, "cached attention");
        if (hs > 128) throw new UserError($"cached attention on CUDA supports head sizes up to 128 (this model: {hs})");
        if (past < 0 || past + tNew > maxT) throw new ArgumentException($"positions {past}..{past + tNew - 1} exceed the cache of {maxT}");
        int c = heads * hs, kvc = kvHeads * hs;
        var kind = Buf(qkv).Type == DType.Bf16 ? DType.Bf16 : DType.F32;
        Need(output, (long)b * tNew * c, kind);
        Need(qkv, (long)b * tNew * (c + 2 * kvc), kind);
        Need(kCache, (long)b * maxT * kvc, kind);
        Need(vCache, (long)b * maxT * kvc, kind);
        string write = kind == DType.Bf16 ? "kv_cache_write_bf16" : "kv_cache_write";
        string attend = kind == DType.Bf16 ? "attention_cached_bf16" : "attention_cached";
        using (Time(write))
            Launch(write, Grid((long)b * tNew * kvc), 1, 1, 0, P(kCache), P(vCache), P(qkv), I(b), I(tNew), I(past), I(maxT), I(c), I(kvc));
        if (b == 0 || tNew == 0) return;
        if (tNew == 1 && past + 1 >= SplitAttentionFrom)
        {
            AttentionCachedSplit(output, qkv, kCache, vCache, b, past, maxT, heads, kvHeads, hs, scale, kind);
            return;
        }
        using (Time(attend))
            Launch(attend, Blocks(tNew, Block / 32), (uint)heads, (uint)b, FusedShared(hs),
                P(output), P(qkv), P(kCache), P(vCache), I(b), I(tNew), I(past), I(maxT), I(heads), I(kvHeads), I(hs), F(scale));
    }

    /// <summary>Keys per block of attention_cached_split (LC_SPLIT_CHUNK in kernels.cu) and its threads per block
    /// (LC_SPLIT_THREADS).</summary>
    internal const int SplitChunk = 256;

    internal const int SplitThreads = 128;

    /// <summary>Decoding one token per sequence (Tnew = 1) runs split-K over the cache (attention_cached_split +
    /// attention_cached_combine) from this many visible keys (past + 1) on; below, the single-pass attention_cached.
    /// The default is one more than a chunk: up to one chunk the split kernel would run one block per (b, h) as the
    /// single-pass kernel does, plus a second launch. Tests lower it to run the split path at every length.</summary>
    internal int SplitAttentionFrom { get; set; } = SplitChunk + 1;

    /// <summary>Split-K decoding attention of the one new query per sequence (its k/v already in the caches): one
    /// block per (chunk of <see cref="SplitChunk"/> keys, head, sequence) writes an fp32 partial (max, sum, weighted V)
    /// to scratch, then one warp per (b, h) merges the chunks into the output. kvHeads divides heads (grouped-query
    /// attention: q head h reads k/v head h / (heads / kvHeads)).</summary>
    private void AttentionCachedSplit(IDeviceBuffer output, IDeviceBuffer qkv, IDeviceBuffer kCache, IDeviceBuffer vCache,
        int b, int past, int maxT, int heads, int kvHeads, int hs, float scale, DType kind)
    {
        int chunks = (past + SplitChunk) / SplitChunk; // ceil((past + 1) / SplitChunk)
        ulong partial = _partial.Get((long)b * heads * chunks * (hs + 2) * 4);
        string split = kind == DType.Bf16 ? "attention_cached_split_bf16" : "attention_cached_split";
        string combine = kind == DType.Bf16 ? "attention_cached_combine_bf16" : "attention_cached_combine";
        using (Time(split))
            LaunchBlock(split, (uint)chunks, (uint)heads, (uint)b, SplitThreads, 0,
                D(partial), P(qkv), P(kCache), P(vCache), I(b), I(past), I(maxT), I(heads), I(kvHeads), I(hs), F(scale));
        using (Time(combine))
            Launch(combine, Blocks((long)b * heads, Block / 32), 1, 1, 0, P(output), D(partial), I(b), I(heads), I(hs), I(chunks));
    }

    /// <summary>bf16 attention for head sizes above 128, which no bf16 kernel takes: qkv widened to fp32 (exact), the
    /// fp32 path (cuBLAS products around softmax_causal), the output rounded once. It allocates two fp32 buffers per
    /// call (no graph capture for such models) and launches the two conversions; the head sizes of the supported
    /// families (64, 128) never come here.</summary>
    private void AttentionBf16WideHeads(IDeviceBuffer output, IDeviceBuffer qkv, int b, int t, int c, int heads, float scale)
    {
        long nq = (long)b * t * 3 * c, no = (long)b * t * c;
        using var q32 = NewBuffer(nq, DType.F32);
        using var o32 = NewBuffer(no, DType.F32);
        using (Time("attention bf16 wide heads (widen)"))
            Launch("convert_bf16_to_f32", Grid(nq), 1, 1, 0, D(q32.Ptr), P(qkv), L(nq));
        Attention(o32, q32, b, t, heads, heads, c / heads, scale);
        using (Time("attention bf16 wide heads (round)"))
            Launch("convert_f32_to_bf16", Grid(no), 1, 1, 0, P(output), D(o32.Ptr), L(no));
    }
}

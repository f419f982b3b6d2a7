using LearningCurves.Engine.Backends;
using Xunit;
using static LearningCurves.Kernels.Tests.EmuTestUtil;

namespace LearningCurves.Kernels.Tests;

/// <summary>
/// Every kernel of kernels.cu run under the CPU emulator (tests/kernel-emu) on random inputs, with sizes that are not
/// multiples of the block, warp or tile sizes, compared with the CPU backend's ops (CpuOps) or a plain reference here.
/// </summary>
public class EmuKernelTests
{
    public EmuKernelTests() => EmuLibrary.Require();

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(3, 7, 37)]
    [InlineData(2, 33, 64)]
    public void Embed_matches_cpu(int b, int t, int c)
    {
        int seed = NewSeed(), v = 11;
        var rng = new Random(seed);
        var wte = Normal(rng, v * c);
        var wpe = Normal(rng, (t + 3) * c);
        var tokens = Ints(rng, b * t, v);
        var want = new float[b * t * c];
        CpuOps.Embed(want, tokens, wte, wpe, b, t, c);
        using var o = new EmuBuffer(b * t * c);
        using var tk = EmuBuffer.From(tokens);
        using var e = EmuBuffer.From(wte);
        using var p = EmuBuffer.From(wpe);
        EmuKernels.Embed(o, tk, e, p, b, t, c);
        AssertClose(want, o.Floats, 0, 0, $"embed seed {seed}");
    }

    /// <summary>The bf16 bits of a buffer made by a bf16 kernel, widened (exact).</summary>
    private static float[] Widen(EmuBuffer bits, int n) =>
        bits.Halves[..n].ToArray().Select(h => BitConverter.UInt32BitsToSingle((uint)h << 16)).ToArray();

    [Theory]
    [InlineData(1, 1, 32)]
    [InlineData(9, 37, 64)]
    [InlineData(33, 100, 256)]
    [InlineData(17, 768, 96)]
    public void Fused_residual_layernorm_bf16_matches_cpu_with_any_block(int rows, int c, int block)
    {
        int seed = NewSeed();
        var rng = new Random(seed);
        var x = Normal(rng, rows * c, 0.5f, 3f);
        var y = Normal(rng, rows * c, 1f);
        var bias = Normal(rng, c, 0.1f);
        var w = Normal(rng, c, 0.2f, 1f);
        var lb = Normal(rng, c, 0.1f);
        var wantX = x.ToArray();
        CpuOps.AddBias(wantX, y, bias, rows, c);
        var want = new float[rows * c];
        CpuOps.LayerNorm(want, wantX, w, lb, rows, c, 1e-5f);
        CpuOps.RoundToBf16(want);
        using var xi = EmuBuffer.From(x);
        using var normBits = new EmuBuffer((rows * c + 1) / 2, ints: true);
        using var yi = EmuBuffer.From(y);
        using var bi = EmuBuffer.From(bias);
        using var wi = EmuBuffer.From(w);
        using var li = EmuBuffer.From(lb);
        EmuKernels.FusedResidualLayerNormBf16(xi, normBits, yi, bi, wi, li, rows, c, 1e-5f, block);
        AssertClose(wantX, xi.Floats, 0, 0, $"residual seed {seed}");
        // One bf16 step either way: the fp32 statistics may differ from the CPU's in the last bits.
        AssertClose(want, Widen(normBits, rows * c), 1e-6, 1.0 / 128, $"norm bf16 seed {seed}");
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(7, 300)]
    public void Epilogue_bias_gelu_bf16_rounds_once(int rows, int cols)
    {
        int seed = NewSeed();
        var rng = new Random(seed);
        var x = Normal(rng, rows * cols, 2f);
        var bias = Normal(rng, cols, 0.5f);
        CpuOps.RoundToBf16(bias); // a bf16 output's bias is bf16
        var want = new float[rows * cols];
        for (int i = 0; i < want.Length; i++) want[i] = x[i] + bias[i % cols];
        CpuOps.Gelu(want);
        CpuOps.RoundToBf16(want);
        using var xi = EmuBuffer.From(x);
        using var bi = EmuBuffer.From(bias.Select(f => (ushort)(BitConverter.SingleToUInt32Bits(f) >> 16)).ToArray());
        using var o = new EmuBuffer((rows * cols + 1) / 2, ints: true);
        EmuKernels.EpilogueBiasGeluBf16(o, xi, bi, rows, cols);
        AssertClose(want, Widen(o, rows * cols), 1e-6, 1.0 / 128, $"bias gelu bf16 seed {seed}");
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(9, 37)]
    [InlineData(33, 100)]
    [InlineData(17, 768)]
    public void LayerNorm_matches_cpu(int rows, int c)
    {
        int seed = NewSeed();
        var rng = new Random(seed);
        // An offset mean: a one-pass variance would lose digits here.
        var x = Normal(rng, rows * c, 0.5f, 3f);
        var w = Normal(rng, c, 0.2f, 1f);
        var bias = Normal(rng, c, 0.1f);
        var want = new float[rows * c];
        CpuOps.LayerNorm(want, x, w, bias, rows, c, 1e-5f);
        using var o = new EmuBuffer(rows * c);
        using var xi = EmuBuffer.From(x);
        using var wi = EmuBuffer.From(w);
        using var bi = EmuBuffer.From(bias);
        EmuKernels.LayerNorm(o, xi, wi, bi, rows, c, 1e-5f);
        AssertClose(want, o.Floats, 2e-5, 2e-5, $"layernorm seed {seed}");
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(7, 37)]
    [InlineData(13, 300)]
    public void Bias_gelu_and_elementwise_kernels_match_cpu(int rows, int cols)
    {
        int seed = NewSeed();
        var rng = new Random(seed);
        int n = rows * cols;
        var x = Normal(rng, n, 2f);
        var y = Normal(rng, n);
        var bias = Normal(rng, cols);

        var withBias = x.ToArray();
        for (int i = 0; i < n; i++) withBias[i] += bias[i % cols];
        using var bb = EmuBuffer.From(bias);
        using (var xb = EmuBuffer.From(x))
        {
            EmuKernels.BiasAdd(xb, bb, rows, cols);
            AssertClose(withBias, xb.Floats, 0, 0, $"bias_add seed {seed}");
        }

        var gelu = withBias.ToArray();
        CpuOps.Gelu(gelu);
        using (var xb = EmuBuffer.From(x))
        {
            EmuKernels.BiasGelu(xb, bb, rows, cols);
            AssertClose(gelu, xb.Floats, 1e-6, 1e-5, $"bias_gelu_forward seed {seed}");
        }
        var exact = withBias.ToArray();
        CpuOps.GeluErf(exact);
        using (var xb = EmuBuffer.From(withBias))
        {
            EmuKernels.GeluErf(xb, n);
            AssertClose(exact, xb.Floats, 1e-6, 1e-6, $"gelu_erf_forward seed {seed}");
        }
        var plain = x.ToArray();
        CpuOps.Gelu(plain);
        using (var xb = EmuBuffer.From(x))
        {
            EmuKernels.BiasGelu(xb, null, rows, cols);
            AssertClose(plain, xb.Floats, 1e-6, 1e-5, $"bias_gelu_forward without bias, seed {seed}");
        }

        var sum = x.ToArray();
        CpuOps.Add(sum, y);
        using (var xb = EmuBuffer.From(x))
        using (var yb = EmuBuffer.From(y))
        {
            EmuKernels.ResidualAdd(xb, yb, n);
            AssertClose(sum, xb.Floats, 0, 0, $"residual_add seed {seed}");
        }

        var yWithBias = y.ToArray();
        for (int i = 0; i < n; i++) yWithBias[i] += bias[i % cols];
        var sumBias = x.ToArray();
        CpuOps.Add(sumBias, yWithBias);
        using (var xb = EmuBuffer.From(x))
        using (var yb = EmuBuffer.From(y))
        {
            EmuKernels.ResidualBiasAdd(xb, yb, bb, rows, cols);
            AssertClose(sumBias, xb.Floats, 0, 0, $"residual_bias_add seed {seed}");
        }
    }

    [Theory]
    [InlineData(1, 1, 16, 2, 8, 0, 1)]     // one token, R = HS, one block
    [InlineData(2, 13, 60, 3, 10, 7, 2)]   // partial rotary, odd half (5), a small grid that must stride
    [InlineData(1, 4, 64, 1, 16, 3000, 3)] // one head, far positions
    public void Rotary_forward_matches_the_cpu(int b, int t, int c, int heads, int r, int past, int grid)
    {
        int seed = NewSeed();
        var rng = new Random(seed);
        var qkv = Normal(rng, (long)b * t * 3 * c);
        var want = qkv.ToArray();
        CpuOps.Rotary(want, b, t, c, heads, r, 10000, past);
        var cos = new float[t * (r / 2)];
        var sin = new float[t * (r / 2)];
        CpuOps.RotaryTable(t, r, 10000, past, cos, sin);
        using var xb = EmuBuffer.From(qkv);
        using var cb = EmuBuffer.From(cos);
        using var sb = EmuBuffer.From(sin);
        EmuKernels.Launch("rotary_forward", grid, 96, 0, xb, cb, sb, b, t, heads, heads, c / heads, r); // guards of all three checked
        AssertClose(want, xb.Floats, 1e-6, 1e-6, $"rotary_forward seed {seed}");
    }

    [Fact]
    public void Grid_stride_kernels_cover_everything_with_a_small_grid()
    {
        int seed = NewSeed();
        var rng = new Random(seed);
        const int n = 5000; // 2 blocks of 96 threads: each thread visits ~26 elements
        var x = Normal(rng, n, 2f);
        var want = x.ToArray();
        CpuOps.GeluErf(want);
        using var xb = EmuBuffer.From(x);
        EmuKernels.Launch("gelu_erf_forward", 2, 96, 0, xb, (long)n);
        AssertClose(want, xb.Floats, 1e-6, 1e-6, $"gelu_erf_forward, small grid, seed {seed}");
    }

    [Fact]
    public void Gather_rows_matches_cpu()
    {
        int seed = NewSeed();
        var rng = new Random(seed);
        int rows = 29, c = 45, count = 17;
        var x = Normal(rng, rows * c);
        var idx = Ints(rng, count, rows);
        idx[0] = 0;
        idx[^1] = rows - 1;
        var want = new float[count * c];
        CpuOps.GatherRows(want, x, idx, count, c);
        using var o = new EmuBuffer(count * c);
        using var xb = EmuBuffer.From(x);
        using var ib = EmuBuffer.From(idx);
        EmuKernels.GatherRows(o, xb, ib, count, c);
        AssertClose(want, o.Floats, 0, 0, $"gather_rows seed {seed}");
    }

    public static TheoryData<int, int, int, int> AttentionShapes => new()
    {
        // B, T, NH, HS
        { 1, 1, 1, 8 },
        { 2, 37, 3, 13 },
        { 1, 65, 2, 32 },
        { 2, 20, 1, 100 },
        { 1, 40, 2, 128 },
    };

    [Theory]
    [MemberData(nameof(AttentionShapes))]
    public void Fused_attention_matches_cpu(int b, int t, int nh, int hs)
    {
        int seed = NewSeed(), c = nh * hs;
        var rng = new Random(seed);
        var qkv = Normal(rng, b * t * 3 * c);
        float scale = 1f / MathF.Sqrt(hs);
        var want = new float[b * t * c];
        CpuOps.Attention(want, qkv, b, t, c, nh, scale);
        using var o = new EmuBuffer(b * t * c);
        using var q = EmuBuffer.From(qkv);
        EmuKernels.AttentionFused(o, q, b, t, nh, hs, scale);
        AssertClose(want, o.Floats, 2e-6, 2e-5, $"attention_fused seed {seed}");
        // Another block size (3 warps: query tiles that do not divide T) gives the same answer.
        using var o2 = new EmuBuffer(b * t * c);
        EmuKernels.AttentionFused(o2, q, b, t, nh, hs, scale, block: 96);
        AssertClose(want, o2.Floats, 2e-6, 2e-5, $"attention_fused with 96 threads, seed {seed}");
    }

    [Theory]
    [MemberData(nameof(AttentionShapes))]
    public void Unfused_attention_path_matches_cpu(int b, int t, int nh, int hs)
    {
        int seed = NewSeed(), c = nh * hs, bh = b * nh;
        var rng = new Random(seed);
        var qkv = Normal(rng, b * t * 3 * c);
        float scale = 1f / MathF.Sqrt(hs);
        var want = new float[b * t * c];
        CpuOps.Attention(want, qkv, b, t, c, nh, scale);

        using var src = EmuBuffer.From(qkv);
        using var q = new EmuBuffer(b * t * c);
        using var k = new EmuBuffer(b * t * c);
        using var v = new EmuBuffer(b * t * c);
        using var att = new EmuBuffer((long)bh * t * t);
        using var y = new EmuBuffer(b * t * c);
        using var o = new EmuBuffer(b * t * c);
        EmuKernels.QkvSplitHeads(q, k, v, src, b, t, nh, hs);
        long headStride = (long)t * hs;
        EmuKernels.Sgemm(att, q, k, null, t, t, hs, hs, hs, t, transB: true, bh, headStride, headStride, (long)t * t); // (BH,T,T) = q @ k^T
        EmuKernels.SoftmaxCausal(att, bh, t, t, 0, scale);
        EmuKernels.Sgemm(y, att, v, null, t, hs, t, t, hs, hs, transB: false, bh, (long)t * t, headStride, headStride); // (BH,T,HS)
        EmuKernels.MergeHeads(o, y, b, t, nh, hs);
        AssertClose(want, o.Floats, 2e-6, 2e-5, $"split/sgemm/softmax/sgemm/merge seed {seed}");
    }

    [Theory]
    [InlineData(1, 5, 7, 0)]   // prefill: causal within the new block
    [InlineData(3, 3, 4, 9)]   // continuation
    [InlineData(2, 40, 1, 33)] // one decode step past a full key tile
    public void Softmax_causal_matches_a_plain_softmax(int bh, int tq, int extraKeys, int past)
    {
        int seed = NewSeed(), tk = past + tq + extraKeys;
        var rng = new Random(seed);
        var s = Normal(rng, (long)bh * tq * tk, 3f);
        float scale = 0.37f;
        var want = new float[s.Length];
        for (int r = 0; r < bh * tq; r++)
        {
            int i = r % tq, last = Math.Min(past + i, tk - 1);
            double max = double.NegativeInfinity, sum = 0;
            for (int j = 0; j <= last; j++) max = Math.Max(max, s[r * tk + j] * scale);
            for (int j = 0; j <= last; j++) sum += Math.Exp(s[r * tk + j] * scale - max);
            for (int j = 0; j <= last; j++) want[r * tk + j] = (float)(Math.Exp(s[r * tk + j] * scale - max) / sum);
        }
        using var a = EmuBuffer.From(s);
        EmuKernels.SoftmaxCausal(a, bh, tq, tk, past, scale);
        AssertClose(want, a.Floats, 1e-7, 1e-5, $"softmax_causal seed {seed}");
    }

    [Theory]
    [InlineData(1, 7, 0, 16, 2, 8)]
    [InlineData(2, 1, 19, 24, 3, 13)]
    [InlineData(2, 5, 33, 40, 2, 32)]
    public void Cached_attention_matches_cpu(int b, int tNew, int past, int maxT, int nh, int hs)
    {
        int seed = NewSeed(), c = nh * hs;
        var rng = new Random(seed);
        var qkv = Normal(rng, b * tNew * 3 * c);
        var kc = Normal(rng, b * maxT * c); // positions before `past` hold earlier steps' keys/values
        var vc = Normal(rng, b * maxT * c);
        float scale = 1f / MathF.Sqrt(hs);
        var want = new float[b * tNew * c];
        var wantK = kc.ToArray();
        var wantV = vc.ToArray();
        CpuOps.AttentionCached(want, qkv, wantK, wantV, b, tNew, past, maxT, c, nh, scale);

        using var o = new EmuBuffer(b * tNew * c);
        using var q = EmuBuffer.From(qkv);
        using var kb = EmuBuffer.From(kc);
        using var vb = EmuBuffer.From(vc);
        EmuKernels.KvCacheWrite(kb, vb, q, b, tNew, past, maxT, c);
        EmuKernels.AttentionCached(o, q, kb, vb, b, tNew, past, maxT, nh, hs, scale);
        AssertClose(wantK, kb.Floats, 0, 0, $"kv_cache_write keys, seed {seed}");
        AssertClose(wantV, vb.Floats, 0, 0, $"kv_cache_write values, seed {seed}");
        AssertClose(want, o.Floats, 2e-6, 2e-5, $"attention_cached seed {seed}");
    }

    /// <summary>Split-K decoding (attention_cached_split + attention_cached_combine), fp32 and bf16, against the CPU's
    /// cached attention at cache lengths (past + 1 keys) around the 256-key chunk: 1, 2, chunk - 1, chunk, chunk + 1,
    /// several chunks with a short last one.</summary>
    [Theory]
    [InlineData(1, 1, 3, 64, false)]
    [InlineData(2, 2, 2, 16, false)]
    [InlineData(1, 255, 2, 64, false)]
    [InlineData(2, 256, 3, 32, false)]
    [InlineData(1, 257, 2, 128, false)]
    [InlineData(2, 1100, 2, 40, false)]
    [InlineData(2, 1, 2, 64, true)]
    [InlineData(1, 2, 3, 128, true)]
    [InlineData(2, 255, 2, 64, true)]
    [InlineData(1, 256, 1, 128, true)]
    [InlineData(2, 257, 2, 64, true)]
    [InlineData(1, 1031, 3, 64, true)]
    public void Split_cached_attention_matches_cpu(int b, int keys, int nh, int hs, bool bf16)
    {
        int seed = NewSeed(), c = nh * hs, past = keys - 1, maxT = keys + 5;
        var rng = new Random(seed);
        var qkv = Normal(rng, b * 3 * c);
        var kc = Normal(rng, b * maxT * c);
        var vc = Normal(rng, b * maxT * c);
        if (bf16) { CpuOps.RoundToBf16(qkv); CpuOps.RoundToBf16(kc); CpuOps.RoundToBf16(vc); }
        float scale = 1f / MathF.Sqrt(hs);
        var want = new float[b * c];
        CpuOps.AttentionCached(want, qkv, kc.ToArray(), vc.ToArray(), b, 1, past, maxT, c, nh, scale);
        using var q = Emu(qkv, bf16);
        using var kb = Emu(kc, bf16);
        using var vb = Emu(vc, bf16);
        using var o = bf16 ? new EmuBuffer((want.Length + 1) / 2, ints: true) : new EmuBuffer(want.Length);
        int chunks = (past + EmuKernels.SplitChunk) / EmuKernels.SplitChunk;
        using var partial = new EmuBuffer(b * nh * chunks * (hs + 2));
        if (bf16) EmuKernels.KvCacheWriteBf16(kb, vb, q, b, 1, past, maxT, c);
        else EmuKernels.KvCacheWrite(kb, vb, q, b, 1, past, maxT, c);
        EmuKernels.AttentionCachedSplit(o, partial, q, kb, vb, b, past, maxT, nh, nh, hs, scale, bf16);
        var got = bf16 ? Enumerable.Range(0, want.Length).Select(i => Bf16.ToFloat(o.Halves[i])).ToArray() : o.Floats.ToArray();
        // fp32 arithmetic inside: in bf16 only the output's rounding (2^-9 relative).
        AssertClose(want, got, 2e-6, bf16 ? Math.Pow(2, -8) : 2e-5, $"attention_cached_split bf16={bf16} B={b} keys={keys} seed {seed}", nanMatchesNan: false);
    }

    private static EmuBuffer Emu(float[] x, bool bf16)
    {
        if (!bf16) return EmuBuffer.From(x);
        var bits = new ushort[x.Length];
        Bf16.FromFloat(x, bits);
        return EmuBuffer.From(bits);
    }

    [Theory]
    [InlineData(1, 8, 40, 40)]     // one chunk
    [InlineData(7, 37, 1000, 300)] // four chunks, the last one short
    [InlineData(3, 16, 513, 64)]
    public void Chunked_surprisal_matches_cpu(int m, int c, int v, int chunk)
    {
        Assert.SkipUnless(Blas.IsAvailable, "OpenBLAS is not installed: the CPU reference cannot run");
        int seed = NewSeed();
        var rng = new Random(seed);
        var hidden = Normal(rng, m * c);
        var head = Normal(rng, v * c, 0.5f);
        var targets = Ints(rng, m, v);
        targets[0] = v - 1;
        if (m > 1) targets[1] = 0;
        var want = new float[m];
        CpuOps.Surprisal(want, hidden, head, targets, m, c, v);

        using var h = EmuBuffer.From(hidden);
        using var w = EmuBuffer.From(head);
        using var tg = EmuBuffer.From(targets);
        using var logits = new EmuBuffer((long)m * chunk); // (M, chunk)
        using var state = new EmuBuffer(3L * m);
        using var o = new EmuBuffer(m);
        for (int v0 = 0; v0 < v; v0 += chunk)
        {
            int vc = Math.Min(chunk, v - v0);
            EmuKernels.Sgemm(logits, h, w, null, m, vc, c, c, c, chunk, transB: true, offsetB: (long)v0 * c);
            EmuKernels.SurprisalChunk(state, logits, tg, m, vc, chunk, v0);
        }
        EmuKernels.SurprisalFinish(o, state, m);
        AssertClose(want, o.Floats, 2e-5, 2e-5, $"surprisal seed {seed}");
    }

    [Fact]
    public void Bf16_widening_is_exact_for_every_bit_pattern()
    {
        var all = Enumerable.Range(0, 65536).Select(i => (ushort)i).ToArray();
        using var src = EmuBuffer.From(all);
        using var o = new EmuBuffer(all.Length);
        EmuKernels.Bf16ToF32(o, src, all.Length);
        var want = all.Select(h => BitConverter.UInt32BitsToSingle((uint)h << 16)).ToArray();
        AssertBitsEqual(want, o.Floats, "convert_bf16_to_f32");
    }

    [Fact]
    public void F32_to_bf16_rounds_to_nearest_even()
    {
        int seed = NewSeed();
        var rng = new Random(seed);
        var x = Normal(rng, 1001, 100f).Concat([0f, -0f, 1f + 1f / 256, 1f + 3f / 256, float.MaxValue, float.Epsilon,
            float.PositiveInfinity, float.NegativeInfinity, float.NaN, BitConverter.UInt32BitsToSingle(0x3f808000)]).ToArray();
        var want = x.ToArray();
        CpuOps.RoundToBf16(want);
        using var src = EmuBuffer.From(x);
        using var o = new EmuBuffer((x.Length + 1) / 2, ints: true);
        EmuKernels.F32ToBf16(o, src, x.Length);
        var got = o.Halves[..x.Length].ToArray().Select(h => BitConverter.UInt32BitsToSingle((uint)h << 16)).ToArray();
        AssertBitsEqual(want, got, $"convert_f32_to_bf16 seed {seed}");
    }

    private static void AssertBitsEqual(float[] want, ReadOnlySpan<float> got, string what)
    {
        for (int i = 0; i < want.Length; i++)
        {
            bool same = float.IsNaN(want[i]) ? float.IsNaN(got[i]) : BitConverter.SingleToUInt32Bits(want[i]) == BitConverter.SingleToUInt32Bits(got[i]);
            Assert.True(same, $"{what}: element {i}: want {want[i]:R} (0x{BitConverter.SingleToUInt32Bits(want[i]):x8}) got {got[i]:R} (0x{BitConverter.SingleToUInt32Bits(got[i]):x8})");
        }
    }

    [Theory]
    [InlineData(1, 1, 1, false, 1)]
    [InlineData(65, 63, 17, false, 1)]
    [InlineData(70, 130, 33, true, 1)]
    [InlineData(5, 9, 64, false, 3)]
    [InlineData(33, 20, 7, true, 2)]
    public void Sgemm_matches_a_float64_product(int m, int n, int k, bool transB, int batch)
    {
        int seed = NewSeed();
        var rng = new Random(seed);
        // Leading dimensions larger than the logical widths: the kernel must honour them.
        int lda = k + 3, ldb = (transB ? k : n) + 2, ldc = n + 1;
        long sa = (long)m * lda + 5, sb = (long)(transB ? n : k) * ldb + 1, sc = (long)m * ldc + 2;
        var a = Normal(rng, sa * batch);
        var b = Normal(rng, sb * batch);
        var bias = Normal(rng, n);
        var c0 = Normal(rng, sc * batch); // untouched outside the (M, N) window of each batch
        const float alpha = 0.75f;
        var want = c0.ToArray();
        for (int z = 0; z < batch; z++)
        for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++)
        {
            double s = 0;
            for (int p = 0; p < k; p++)
                s += (double)a[z * sa + (long)i * lda + p] * b[z * sb + (transB ? (long)j * ldb + p : (long)p * ldb + j)];
            want[z * sc + (long)i * ldc + j] = (float)(alpha * s + bias[j]);
        }
        using var ab = EmuBuffer.From(a);
        using var bb = EmuBuffer.From(b);
        using var biasb = EmuBuffer.From(bias);
        using var cb = EmuBuffer.From(c0);
        EmuKernels.Sgemm(cb, ab, bb, biasb, m, n, k, lda, ldb, ldc, transB, batch, sa, sb, sc, alpha);
        AssertClose(want, cb.Floats, 1e-5, 1e-5, $"sgemm_tiled seed {seed}");
    }

    [Fact]
    public void A_launch_no_gpu_could_run_is_an_error()
    {
        using var x = new EmuBuffer(4);
        var e = Assert.Throws<InvalidOperationException>(() => EmuKernels.Launch("gelu_erf_forward", 1, 2048, 0, x, 4L));
        Assert.Contains("invalid launch configuration", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_launch_whose_arguments_differ_from_the_prototype_is_refused_before_it_runs()
    {
        using var x = new EmuBuffer(4);
        // gelu_erf_forward(float* x, long long n): an int count is the wrong width, a missing one the wrong count.
        var e = Assert.Throws<ArgumentException>(() => EmuKernels.Launch("gelu_erf_forward", 1, 32, 0, x, 4));
        Assert.Contains("takes (pl) but was launched with (pi)", e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => EmuKernels.Launch("gelu_erf_forward", 1, 32, 0, x));
        Assert.Throws<ArgumentException>(() => EmuKernels.Launch("no_such_kernel", 1, 32, 0, x));
    }
}

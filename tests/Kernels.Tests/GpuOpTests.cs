using LearningCurves.Engine.Backends;
using LearningCurves.Kernels.Native;
using Xunit;
using static LearningCurves.Kernels.Tests.GpuTestSupport;

namespace LearningCurves.Kernels.Tests;

/// <summary>
/// Each CUDA backend op against the CPU backend's op on fresh random inputs, with sizes that are not multiples of
/// the block or warp size, outputs poisoned with NaN first. Needs a GPU; skips with the reason where there is none.
/// Run on a GPU machine by scripts/device-check.sh (trait Category=Gpu).
/// </summary>
[Trait("Category", "Gpu")]
[Collection("GPU")]
public class GpuOpTests
{
    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(3, 37, 33)]
    [InlineData(2, 128, 768)]
    public void Embed_layernorm_adds_gather(int b, int t, int c)
    {
        using var be = Open();
        using var cpu = new CpuBackend();
        int seed = Random.Shared.Next(), v = 301;
        var rng = new Random(seed);
        var wte = Normal(rng, (long)v * c);
        var wpe = Normal(rng, (long)t * c);
        var tokens = Enumerable.Range(0, b * t).Select(_ => rng.Next(v)).ToArray();
        long n = (long)b * t * c;
        var want = new float[n];
        CpuOps.Embed(want, tokens, wte, wpe, b, t, c);
        using var dTok = be.Allocate(b * t, DType.I32);
        be.Write(dTok, tokens);
        using var dWte = be.Upload(wte);
        using var dWpe = be.Upload(wpe);
        using var x = Poisoned(be, n);
        be.Embed(x, dTok, dWte, dWpe, b, t, c);
        AssertClose(want, Get(be, x, n), 0, 0, $"embed seed {seed}");

        var w = Normal(rng, c);
        var bias = Normal(rng, c);
        using var dW = be.Upload(w);
        using var dB = be.Upload(bias);
        using var norm = Poisoned(be, n);
        be.LayerNorm(norm, x, dW, dB, b * t, c, 1e-5f);
        var wantNorm = new float[n];
        CpuOps.LayerNorm(wantNorm, want, w, bias, b * t, c, 1e-5f);
        AssertClose(wantNorm, Get(be, norm, n), 1e-5, 1e-5, $"layernorm seed {seed}");

        // The adds from the device's own inputs (the CPU's layer norm and GELU differ from the device's in the last
        // bits): the residual add fused with a bias (residual_bias_add), norm (B*T, C) += x + bias, then a plain add.
        var before = Get(be, norm, n);
        be.AddBias(norm, x, dB, b * t, c);
        for (long i = 0; i < n; i++) before[i] += want[i] + bias[i % c];
        AssertClose(before, Get(be, norm, n), 1e-7, 1e-7, $"add bias seed {seed}");

        be.Add(norm, x, n);
        CpuOps.Add(before, want);
        AssertClose(before, Get(be, norm, n), 1e-7, 1e-7, $"add seed {seed}");

        int count = Math.Max(1, b * t / 3);
        var rows = Enumerable.Range(0, count).Select(_ => rng.Next(b * t)).ToArray();
        using var dRows = be.Allocate(count, DType.I32);
        be.Write(dRows, rows);
        using var picked = Poisoned(be, (long)count * c);
        be.GatherRows(picked, norm, dRows, count, c);
        // Gathering copies exactly: the rows of the device's own values, not of the CPU's (which differ in the last bits).
        var wantPicked = new float[(long)count * c];
        CpuOps.GatherRows(wantPicked, Get(be, norm, n), rows, count, c);
        AssertClose(wantPicked, Get(be, picked, (long)count * c), 0, 0, $"gather seed {seed}");
    }

    [Theory]
    [InlineData(Precision.Fp32, 1, 1, 1, 1e-5)]
    [InlineData(Precision.Fp32, 77, 768, 2304, 1e-4)]
    [InlineData(Precision.Fp32, 130, 33, 65, 1e-5)]
    [InlineData(Precision.Tf32, 77, 768, 2304, 3e-2)]
    [InlineData(Precision.Bf16, 77, 768, 3072, 6e-2)]
    public void Matmul_with_bias_then_gelu(Precision p, int rows, int inDim, int outDim, double tol)
    {
        using var be = Open(p);
        int seed = Random.Shared.Next();
        var rng = new Random(seed);
        var x = Normal(rng, (long)rows * inDim);
        var w = Normal(rng, (long)inDim * outDim, 0.05f);
        var bias = Normal(rng, outDim);
        var wCpu = w.ToArray();
        if (p == Precision.Bf16)
        {
            CpuOps.RoundToBf16(wCpu);
            CpuOps.RoundToBf16(x); // bf16 mode: the product's input is a bf16 buffer
        }
        var want = new float[(long)rows * outDim];
        CpuOps.MatMul(want, x, wCpu, bias, rows, inDim, outDim);
        using var dx = be.Allocate(x.Length, DTypes.GemmInput(p));
        be.Write(dx, x);
        using var dw = be.UploadWeight(w);
        using var db = be.Upload(bias);
        using var o = Poisoned(be, want.Length);
        be.MatMul(o, dx, dw, db, rows, inDim, outDim, MatMulEpilogue.Bias);
        AssertClose(want, Get(be, o, want.Length), tol, tol, $"matmul {p} seed {seed}");
        // Bias and GELU as the product's epilogue (bias_gelu_forward).
        be.MatMul(o, dx, dw, db, rows, inDim, outDim, MatMulEpilogue.BiasGelu);
        CpuOps.Gelu(want);
        AssertClose(want, Get(be, o, want.Length), tol, tol, $"matmul+gelu {p} seed {seed}");
        // Without a bias.
        be.MatMul(o, dx, dw, null, rows, inDim, outDim, MatMulEpilogue.None);
        CpuOps.MatMul(want, x, wCpu, default, rows, inDim, outDim);
        AssertClose(want, Get(be, o, want.Length), tol, tol, $"matmul no bias {p} seed {seed}");
        Assert.Throws<ArgumentException>(() => be.MatMul(o, dx, dw, null, rows, inDim, outDim, MatMulEpilogue.Bias));
        Assert.Throws<ArgumentException>(() => be.MatMul(o, dx, dw, db, rows, inDim, outDim, MatMulEpilogue.None));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(300)]
    [InlineData(5_000_001)] // past one staging buffer of widened floats
    public void Bf16_weights_read_back_as_the_values_they_store(int n)
    {
        using var be = Open(Precision.Bf16);
        int seed = Random.Shared.Next();
        var rng = new Random(seed);
        var w = Normal(rng, n, 3f);
        w[0] = n > 1 ? 1e38f : -0f; // near the top of the range, and a signed zero
        var want = w.ToArray();
        CpuOps.RoundToBf16(want);
        using var d = be.UploadWeight(w);
        var got = new float[n];
        be.Download(d, got);
        AssertClose(want, got, 0, 0, $"bf16 weight read back, n {n} seed {seed}");
        // A prefix only, and an int buffer refused.
        var head = new float[Math.Min(n, 7)];
        be.Download(d, head);
        AssertClose(want.AsSpan(0, head.Length), head, 0, 0, $"bf16 prefix, seed {seed}");
        using var ints = be.Allocate(4, DType.I32);
        Assert.Throws<ArgumentException>(() => be.Download(ints, new float[4]));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(255)]
    [InlineData(70_001)]
    public void Exact_gelu_matches_the_cpu_over_both_tails(int n)
    {
        using var be = Open();
        int seed = Random.Shared.Next();
        var rng = new Random(seed);
        // Wide enough to reach both tails (the negative one is where the erf form cancels), plus exact edge values.
        var x = Normal(rng, n + 8, 4f);
        float[] edges = [0f, -0f, 1e-30f, -1e-30f, 9.5f, -9.5f, 30f, -30f];
        edges.CopyTo(x.AsSpan(n));
        var want = x.ToArray();
        CpuOps.GeluErf(want);
        using var d = be.Upload(x);
        be.GeluErf(d, x.Length - 1);            // the last value stays as it was: n is honoured
        want[^1] = x[^1];
        AssertClose(want, Get(be, d, x.Length), 1e-6, 1e-6, $"gelu (erf) n {x.Length - 1} seed {seed}");
    }

    [Theory]
    [InlineData(1, 1, 8, 2, 4, 0)]        // smallest: one token, R = HS
    [InlineData(2, 37, 96, 3, 8, 5)]      // partial rotary (R < HS, Pythia's 25%), a past offset
    [InlineData(3, 19, 64, 4, 16, 0)]     // R = HS
    [InlineData(1, 5, 48, 2, 24, 2040)]   // far into the context: large angles
    [InlineData(2, 7, 40, 5, 0, 3)]       // no rotary dims: nothing changes
    public void Rotary_matches_the_cpu(int b, int t, int c, int heads, int r, int past)
    {
        using var be = Open();
        int seed = Random.Shared.Next();
        var rng = new Random(seed);
        var qkv = Normal(rng, (long)b * t * 3 * c);
        var want = qkv.ToArray();
        CpuOps.Rotary(want, b, t, c, heads, r, 10000, past);
        using var d = be.Upload(qkv);
        ((IBackend)be).Rotary(d, b, t, c, heads, r, 10000, past);
        AssertClose(want, Get(be, d, qkv.Length), 1e-6, 1e-6, $"rotary R {r} past {past} seed {seed}");
        // Again at the next position (decoding one token at a time): the cached angle table must follow.
        var want2 = qkv.ToArray();
        CpuOps.Rotary(want2, b, t, c, heads, r, 10000, past + 1);
        be.Write(d, qkv);
        ((IBackend)be).Rotary(d, b, t, c, heads, r, 10000, past + 1);
        AssertClose(want2, Get(be, d, qkv.Length), 1e-6, 1e-6, $"rotary R {r} past {past + 1} seed {seed}");
        Assert.Throws<ArgumentException>(() => ((IBackend)be).Rotary(d, b, t, c, heads, c / heads + 2, 10000, past));
        Assert.Throws<ArgumentException>(() => ((IBackend)be).Rotary(d, b, t + 1, c, heads, r, 10000, past));
    }

    [Theory]
    [InlineData(1, 1, 12, 1, false)]
    [InlineData(2, 33, 64, 3, false)]
    [InlineData(3, 128, 64, 12, false)]
    [InlineData(2, 33, 64, 3, true)]
    [InlineData(2, 70, 160, 2, true)]
    [InlineData(1, 200, 100, 1, false)]
    public void Attention_fused_and_cublas_paths(int b, int t, int hs, int heads, bool cublas)
    {
        using var be = Open();
        be.UseCublasAttention = cublas;
        Fp32StorageAttention(be, b, t, hs, heads, _ => 2e-5, 2e-4, $"attention cublas={cublas}");
    }

    [Theory]
    [InlineData(1, 1, 64, 1)]     // T = 1
    [InlineData(2, 2, 128, 3)]    // T = 2
    [InlineData(1, 127, 64, 2)]   // one short of two 64-query tiles
    [InlineData(2, 128, 128, 2)]  // exactly two tiles
    [InlineData(1, 129, 64, 3)]   // one past
    [InlineData(1, 1024, 64, 1)]  // a long row: 16 key tiles
    [InlineData(2, 37, 32, 2)]    // a head size the tensor-core kernel does not take: attention_fused_bf16
    public void Attention_bf16(int b, int t, int hs, int heads)
    {
        using var be = Open();
        int c = hs * heads, seed = Random.Shared.Next();
        var (qkv, want, atol) = Bf16Attention(new Random(seed), b, t, c, heads);
        using var d = be.UploadAsBf16(qkv);
        using var o = PoisonedBf16(be, want.Length);
        ((IBackend)be).Attention(o, d, b, t, c, heads, 1f / MathF.Sqrt(hs));
        AssertClose(want, Get(be, o, want.Length), atol, Math.Pow(2, -8), $"bf16 attention B={b} T={t} HS={hs} NH={heads} seed {seed}");
        // An fp32 output for bf16 qkv is refused: the op checks the element types.
        using var f = be.Allocate(want.Length, DType.F32);
        Assert.Throws<ArgumentException>(() => ((IBackend)be).Attention(f, d, b, t, c, heads, 1f));
    }

    [Theory]
    [InlineData(1, 1, 64, 1)]
    [InlineData(2, 127, 128, 2)]
    [InlineData(1, 129, 64, 3)]
    [InlineData(2, 37, 32, 2)] // a head size the tensor-core kernel does not take: attention_fused
    public void Attention_tf32(int b, int t, int hs, int heads)
    {
        using var be = Open(Precision.Tf32);
        Fp32StorageAttention(be, b, t, hs, heads, EmuTensorCoreTests.Tf32Atol, Math.Pow(2, -9), "tf32 attention");
    }

    [Theory]
    [InlineData(1, 1, 64, 1, false)]
    [InlineData(2, 33, 64, 3, false)]
    [InlineData(1, 129, 128, 2, false)]
    [InlineData(2, 70, 100, 2, false)]
    [InlineData(2, 33, 64, 3, true)] // attention_fused, the warp-per-query kernel
    public void Attention_fp32_kernels(int b, int t, int hs, int heads, bool simt)
    {
        using var be = Open();
        be.UseSimtAttention = simt;
        Fp32StorageAttention(be, b, t, hs, heads, _ => 2e-6, 1e-5, $"fp32 attention simt={simt}");
    }

    /// <summary>AttentionRotary (the scoring forward pass's rotary + attention): where the attention kernel takes the
    /// rotary itself (attention_bf16 / attention_tf32 / attention_fp32 on head sizes they take; <paramref name="fused"/>)
    /// the output is bit for bit that of rotary_forward(_bf16) followed by the attention (FuseRotaryIntoAttention off) and
    /// qkv is left as given; elsewhere the backend runs the separate pass. Both against CpuOps.Rotary + CpuOps.Attention.
    /// T = 1, 2, 127, 128, 129; grouped-query attention; partial rotary (R &lt; HS) and R = HS.</summary>
    [Theory]
    [InlineData(Precision.Bf16, 1, 1, 2, 1, 64, 64, true)]
    [InlineData(Precision.Bf16, 2, 2, 4, 2, 128, 32, true)]
    [InlineData(Precision.Bf16, 1, 127, 2, 2, 64, 16, true)]
    [InlineData(Precision.Bf16, 1, 128, 4, 1, 128, 128, true)]
    [InlineData(Precision.Bf16, 2, 129, 2, 1, 64, 64, true)]
    [InlineData(Precision.Bf16, 2, 37, 2, 1, 32, 8, false)]   // a head size the tensor-core kernel does not take: separate pass
    [InlineData(Precision.Tf32, 1, 129, 4, 2, 128, 32, true)]
    [InlineData(Precision.Tf32, 2, 2, 2, 2, 64, 64, true)]
    [InlineData(Precision.Fp32, 2, 129, 4, 2, 64, 16, true)]
    [InlineData(Precision.Fp32, 1, 127, 2, 1, 80, 20, true)]
    [InlineData(Precision.Fp32, 1, 128, 2, 2, 128, 128, true)]
    public void Attention_with_fused_rotary(Precision p, int b, int t, int heads, int kvHeads, int hs, int r, bool fused)
    {
        using var be = Open(p);
        int seed = Random.Shared.Next();
        var rng = new Random(seed);
        long nq = (long)b * t * (heads + 2 * kvHeads) * hs, n = (long)b * t * heads * hs;
        bool bf16 = p == Precision.Bf16;
        var x = Normal(rng, nq);
        if (bf16) CpuOps.RoundToBf16(x);
        double theta = rng.Next(2) == 0 ? 10000 : 500000;
        float scale = 1f / MathF.Sqrt(hs);
        string what = $"{p} rotary attention B={b} T={t} NH={heads} NKV={kvHeads} HS={hs} R={r} seed {seed}";
        IDeviceBuffer Up() => bf16 ? be.UploadAsBf16(x) : be.Upload(x);
        IDeviceBuffer Out() => bf16 ? PoisonedBf16(be, n) : Poisoned(be, n);

        using var q1 = Up();
        using var o1 = Out();
        be.FuseRotaryIntoAttention = false;
        be.AttentionRotary(o1, q1, b, t, heads, kvHeads, hs, scale, r, theta);
        using var q2 = Up();
        using var o2 = Out();
        be.FuseRotaryIntoAttention = true;
        be.AttentionRotary(o2, q2, b, t, heads, kvHeads, hs, scale, r, theta);

        var separate = Get(be, o1, n);
        var together = Get(be, o2, n);
        var bad = Enumerable.Range(0, (int)n).Where(i => BitConverter.SingleToUInt32Bits(separate[i]) != BitConverter.SingleToUInt32Bits(together[i])).ToList();
        Assert.True(bad.Count == 0, $"{what}: {bad.Count} of {n} outputs differ from rotary + attention, first: " +
            string.Join("; ", bad.Take(8).Select(i => $"[{i}] {separate[i]:R} vs {together[i]:R}")));
        // Fused: qkv untouched; separate: q and k turned in place.
        var after = Get(be, q2, nq);
        Assert.Equal(fused, after.AsSpan().SequenceEqual(x));

        var rotated = x.ToArray();
        CpuOps.Rotary(rotated, b, t, heads, kvHeads, hs, r, theta, 0);
        if (bf16) CpuOps.RoundToBf16(rotated);
        var want = new float[n];
        CpuOps.Attention(want, rotated, b, t, heads, kvHeads, hs, scale);
        double maxV = rotated.Max(v => Math.Abs(v));
        double atol = p switch { Precision.Bf16 => 2.5 * Math.Pow(2, -9) * maxV, Precision.Tf32 => 4 * Math.Pow(2, -11) * maxV, _ => 2e-6 };
        double rtol = p switch { Precision.Bf16 => Math.Pow(2, -8), Precision.Tf32 => Math.Pow(2, -9), _ => 1e-5 };
        AssertClose(want, together, atol, rtol, what);
    }

    /// <summary>fp32 qkv (B, T, 3C) through the backend's attention against CpuOps.Attention, the output poisoned first;
    /// the absolute tolerance from the inputs (tf32 scales it by their size).</summary>
    private static void Fp32StorageAttention(CudaBackend be, int b, int t, int hs, int heads, Func<float[], double> atol, double rtol, string what)
    {
        int c = hs * heads, seed = Random.Shared.Next();
        var rng = new Random(seed);
        var qkv = Normal(rng, (long)b * t * 3 * c);
        float scale = 1f / MathF.Sqrt(hs);
        var want = new float[(long)b * t * c];
        CpuOps.Attention(want, qkv, b, t, c, heads, scale);
        using var d = be.Upload(qkv);
        using var o = Poisoned(be, want.Length);
        ((IBackend)be).Attention(o, d, b, t, c, heads, scale);
        AssertClose(want, Get(be, o, want.Length), atol(qkv), rtol, $"{what} B={b} T={t} HS={hs} NH={heads} seed {seed}");
    }

    /// <summary>qkv rounded to bf16 (held as floats) and the CPU's fp32 attention of exactly those values, with the
    /// absolute tolerance the bf16 probabilities allow: 2.5 * 2^-9 * max |v| (the output's own rounding to bf16 is the
    /// 2^-8 relative tolerance the callers add).</summary>
    internal static (float[] Qkv, float[] Want, double Atol) Bf16Attention(Random rng, int b, int t, int c, int heads)
    {
        var x = Normal(rng, (long)b * t * 3 * c);
        CpuOps.RoundToBf16(x);
        var want = new float[(long)b * t * c];
        CpuOps.Attention(want, x, b, t, c, heads, 1f / MathF.Sqrt(c / heads));
        double maxV = x.Max(v => Math.Abs(v));
        return (x, want, 2.5 * Math.Pow(2, -9) * maxV);
    }

    private static IDeviceBuffer PoisonedBf16(CudaBackend be, long n)
    {
        var nan = new float[n];
        Array.Fill(nan, float.NaN);
        return be.UploadAsBf16(nan);
    }

    [Theory]
    [InlineData(2, 5, 7, 64, 2)]
    [InlineData(1, 1, 130, 128, 3)]
    [InlineData(3, 1, 0, 32, 1)]
    public void Cached_attention_bf16(int b, int tNew, int past, int hs, int heads) =>
        CachedAttention(b, tNew, past, hs, heads, bf16: true, splitFrom: null);

    [Theory]
    [InlineData(2, 5, 7, 16, 2)]
    [InlineData(1, 1, 40, 64, 4)]
    public void Cached_attention(int b, int tNew, int past, int hs, int heads) =>
        CachedAttention(b, tNew, past, hs, heads, bf16: false, splitFrom: null);

    /// <summary>Split-K decoding (one new token per sequence): forced at every cache length (past + 1 keys: 1, 2,
    /// chunk - 1, chunk, chunk + 1 and several chunks with a short last one), and by the default threshold on a long
    /// cache.</summary>
    [Theory]
    [InlineData(2, 1, 64, 3, false, 1)]
    [InlineData(1, 2, 128, 2, false, 1)]
    [InlineData(2, 255, 64, 2, false, 1)]
    [InlineData(1, 256, 40, 3, false, 1)]
    [InlineData(2, 257, 128, 2, false, 1)]
    [InlineData(3, 1100, 64, 2, false, null)]
    [InlineData(2, 1, 64, 2, true, 1)]
    [InlineData(1, 2, 128, 3, true, 1)]
    [InlineData(2, 255, 64, 2, true, 1)]
    [InlineData(2, 256, 128, 1, true, 1)]
    [InlineData(1, 257, 64, 3, true, 1)]
    [InlineData(2, 1031, 128, 2, true, null)]
    public void Cached_attention_split(int b, int keys, int hs, int heads, bool bf16, int? splitFrom) =>
        CachedAttention(b, 1, keys - 1, hs, heads, bf16, splitFrom);

    /// <summary>The cached attention op against CpuOps.AttentionCached: output, and the caches the op wrote. In bf16
    /// the inputs are bf16 values and only the output is rounded (fp32 arithmetic inside).</summary>
    private static void CachedAttention(int b, int tNew, int past, int hs, int heads, bool bf16, int? splitFrom)
    {
        using var be = Open();
        if (splitFrom is int from) be.SplitAttentionFrom = from;
        int c = hs * heads, maxT = past + tNew + 3, seed = Random.Shared.Next();
        var rng = new Random(seed);
        var kc = Normal(rng, (long)b * maxT * c);
        var vc = Normal(rng, (long)b * maxT * c);
        var qkv = Normal(rng, (long)b * tNew * 3 * c);
        if (bf16)
        {
            CpuOps.RoundToBf16(kc);
            CpuOps.RoundToBf16(vc);
            CpuOps.RoundToBf16(qkv);
        }
        float scale = 1f / MathF.Sqrt(hs);
        var want = new float[(long)b * tNew * c];
        var kcCpu = kc.ToArray();
        var vcCpu = vc.ToArray();
        CpuOps.AttentionCached(want, qkv, kcCpu, vcCpu, b, tNew, past, maxT, c, heads, scale);
        using var dk = bf16 ? be.UploadAsBf16(kc) : be.Upload(kc);
        using var dv = bf16 ? be.UploadAsBf16(vc) : be.Upload(vc);
        using var dq = bf16 ? be.UploadAsBf16(qkv) : be.Upload(qkv);
        using var o = bf16 ? PoisonedBf16(be, want.Length) : Poisoned(be, want.Length);
        ((IBackend)be).AttentionCached(o, dq, dk, dv, b, tNew, past, maxT, c, heads, scale);
        string what = $"cached attention bf16={bf16} B={b} Tnew={tNew} past={past} HS={hs} NH={heads} split from {splitFrom} seed {seed}";
        if (bf16) AssertClose(want, Get(be, o, want.Length), 1e-5, Math.Pow(2, -8), what);
        else AssertClose(want, Get(be, o, want.Length), 2e-5, 2e-4, what);
        AssertClose(kcCpu, Get(be, dk, kc.Length), 0, 0, $"k cache: {what}");
        AssertClose(vcCpu, Get(be, dv, vc.Length), 0, 0, $"v cache: {what}");
    }

    [Theory]
    [InlineData(Precision.Fp32, 1, 7, 5, 0L, 1e-4)]
    [InlineData(Precision.Fp32, 37, 64, 50257, 0L, 1e-3)]
    [InlineData(Precision.Fp32, 300, 48, 5000, 100_000L, 1e-3)]
    [InlineData(Precision.Tf32, 37, 64, 5003, 50_000L, 2e-2)]
    [InlineData(Precision.Bf16, 37, 64, 5003, 50_000L, 1e-1)]
    public void Surprisal_and_logits_over_head_chunks(Precision p, int m, int c, int v, long chunkBytes, double tol)
    {
        using var be = Open(p);
        if (chunkBytes > 0) be.HeadChunkBytes = chunkBytes;
        int seed = Random.Shared.Next();
        var rng = new Random(seed);
        var hidden = Normal(rng, (long)m * c);
        var head = Normal(rng, (long)v * c, 0.3f);
        var targets = Enumerable.Range(0, m).Select(i => i == 0 ? v - 1 : rng.Next(v)).ToArray();
        var headCpu = head.ToArray();
        if (p == Precision.Bf16)
        {
            CpuOps.RoundToBf16(headCpu);
            CpuOps.RoundToBf16(hidden); // bf16 mode: the head's input is a bf16 buffer
        }
        var want = new float[m];
        CpuOps.Surprisal(want, hidden, headCpu, targets, m, c, v);
        using var dh = be.Allocate(hidden.Length, DTypes.GemmInput(p));
        be.Write(dh, hidden);
        using var dw = be.UploadWeight(head);
        using var dt = be.Allocate(m, DType.I32);
        be.Write(dt, targets);
        using var o = Poisoned(be, m);
        be.Surprisal(o, dh, dw, dt, m, c, v, v);
        AssertClose(want, Get(be, o, m), tol, 0, $"surprisal {p} chunk {chunkBytes} seed {seed}");

        int lm = Math.Min(m, 4);
        var wantLogits = new float[(long)lm * v];
        CpuOps.Logits(wantLogits, hidden, headCpu, lm, c, v);
        using var logits = Poisoned(be, wantLogits.Length);
        be.Logits(logits, dh, dw, lm, c, v);
        AssertClose(wantLogits, Get(be, logits, wantLogits.Length), tol, tol, $"logits {p} seed {seed}");
    }

    [Fact]
    public void Transfers_larger_than_the_staging_buffers_round_trip()
    {
        using var be = Open();
        int seed = Random.Shared.Next();
        var data = Normal(new Random(seed), 9_000_001); // 36 MB: more than two 16 MB staging chunks, with a tail
        using var d = be.Upload(data);
        Assert.Equal(data, Get(be, d, data.Length));
        var part = new float[1234];
        be.Download(d, part);
        Assert.Equal(data.AsSpan(0, 1234).ToArray(), part);
        using var ints = be.Allocate(5, DType.I32);
        Assert.Throws<ArgumentException>(() => be.Write(ints, new float[5]));
        Assert.Throws<ArgumentException>(() => be.Write(ints, new int[6]));
    }

    [Fact]
    public void Out_of_memory_names_the_sizes()
    {
        using var be = Open();
        long free = be.FreeMemoryBytes!.Value;
        var e = Assert.Throws<CudaOutOfMemoryException>(() => be.Allocate(free / 4 + (1L << 28), DType.F32));
        Assert.True(e.FreeBytes > 0 && e.RequestedBytes > e.FreeBytes, e.Message);
        Assert.Contains("CUDA_ERROR_OUT_OF_MEMORY", e.Message, StringComparison.Ordinal);
        // The backend still works afterwards.
        using var ok = be.Upload(new float[] { 1, 2, 3 });
        Assert.Equal(new float[] { 1, 2, 3 }, Get(be, ok, 3));
    }

    [Fact]
    public void Kernel_profile_records_every_op()
    {
        using var be = Open();
        using var x = be.Upload(new float[1000]);
        using var y = be.Upload(Enumerable.Range(0, 1000).Select(i => (float)i).ToArray());
        be.StartProfile();
        be.Add(x, y, 1000);
        be.Add(x, y, 1000);
        be.AddBias(x, y, y, 1, 1000);
        var table = be.StopProfile();
        Assert.Equal(2, Assert.Single(table, r => r.Name == "residual_add").Calls);
        Assert.Equal(1, Assert.Single(table, r => r.Name == "residual_bias_add").Calls);
        Assert.All(table, r => Assert.True(r.TotalMs >= 0 && double.IsFinite(r.TotalMs)));
    }

    [Fact]
    public void Ops_run_from_a_thread_other_than_the_one_that_opened_the_device()
    {
        using var be = Open();
        int seed = Random.Shared.Next();
        var rng = new Random(seed);
        var xs = Normal(rng, 1000);
        var ys = Normal(rng, 1000);
        var w = Normal(rng, 10 * 7);
        using var x = be.Upload(xs);
        using var y = be.Upload(ys);
        using var dw = be.UploadWeight(w);
        using var o = Poisoned(be, 100 * 7);
        be.Synchronize();
        Exception? error = null;
        // A fresh thread has no current context: every launch and product must make the backend's current itself.
        var t = new Thread(() =>
        {
            try
            {
                be.Add(x, y, 1000);
                be.MatMul(o, x, dw, null, 100, 10, 7, MatMulEpilogue.None);
                be.Synchronize();
            }
            catch (Exception e)
            {
                error = e;
            }
        });
        t.Start();
        t.Join();
        Assert.Null(error);
        var want = xs.Zip(ys, (a, b) => a + b).ToArray();
        AssertClose(want, Get(be, x, 1000), 0, 0, $"add seed {seed}");
        var wantMm = new float[700];
        CpuOps.MatMul(wantMm, want, w, default, 100, 10, 7);
        AssertClose(wantMm, Get(be, o, 700), 1e-5, 1e-5, $"matmul seed {seed}");
    }

    [Fact]
    public void Scratch_grows_while_earlier_work_is_still_queued()
    {
        using var be = Open();
        be.UseCublasAttention = true;
        int seed = Random.Shared.Next();
        var rng = new Random(seed);
        // Two cuBLAS-path attentions, the second larger, with no synchronisation between them: the scratch buffers
        // grow while the first one's work may still be queued on them.
        var shapes = new[] { (B: 1, T: 9, HS: 16, H: 2), (B: 2, T: 21, HS: 16, H: 3) };
        var outs = new List<(IDeviceBuffer Out, float[] Want)>();
        var inputs = new List<IDeviceBuffer>();
        foreach (var (b, t, hs, h) in shapes)
        {
            int c = hs * h;
            var qkv = Normal(rng, (long)b * t * 3 * c);
            var want = new float[(long)b * t * c];
            CpuOps.Attention(want, qkv, b, t, c, h, 1f / MathF.Sqrt(hs));
            var d = be.Upload(qkv);
            var o = Poisoned(be, want.Length);
            inputs.Add(d);
            ((IBackend)be).Attention(o, d, b, t, c, h, 1f / MathF.Sqrt(hs));
            outs.Add((o, want));
        }
        foreach (var (o, want) in outs)
            AssertClose(want, Get(be, o, want.Length), 2e-5, 2e-4, $"attention seed {seed}");
        foreach (var d in inputs.Concat(outs.Select(x => x.Out))) d.Dispose();
    }

    [Fact]
    public void A_buffer_freed_right_after_it_was_made_leaves_no_error()
    {
        using var be = Open();
        // Its zero fill is queued work: the free must not pull the memory from under it.
        be.Allocate(1000, DType.F32).Dispose();
        be.Allocate(5, DType.I32).Dispose();
        using var ok = be.Upload(new float[] { 1, 2, 3 });
        Assert.Equal(new float[] { 1, 2, 3 }, Get(be, ok, 3));
    }

    [Fact]
    public void Bf16_mode_keeps_the_attention_products_in_fp32()
    {
        using var be = Open(Precision.Bf16);
        be.UseCublasAttention = true;
        // The fp32 path's tolerance: TF32 products (10-bit mantissas) would be off by about 1e-3.
        Fp32StorageAttention(be, 2, 37, 64, 3, _ => 2e-5, 2e-4, "bf16-mode attention");
    }

    [Fact]
    [Trait("Hardware", "Real")]
    public void Matrix_rates_are_measured()
    {
        using var be = Open(Precision.Bf16);
        SkipUnlessRealGpu(be, "matrix rates are timings");
        double bf16 = be.MeasureMatrixTflops(Precision.Bf16, 2048, 3);
        double fp32 = be.MeasureMatrixTflops(Precision.Fp32, 2048, 3);
        Assert.True(bf16 > 1 && fp32 > 0.1 && bf16 > fp32, $"bf16 {bf16:F1}, fp32 {fp32:F1} TFLOP/s");
    }
}

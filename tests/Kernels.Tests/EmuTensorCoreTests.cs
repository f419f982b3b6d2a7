using System.Globalization;
using System.Text;
using LearningCurves.Engine.Backends;
using Xunit;
using static LearningCurves.Kernels.Tests.EmuTestUtil;

namespace LearningCurves.Kernels.Tests;

/// <summary>
/// The emulator's tensor-core instructions (mma.sync m16n8k16 bf16, m16n8k8 tf32, ldmatrix x4 / x4.trans: exact PTX ISA
/// fragment layouts in tests/kernel-emu/cuda_emu.h) against a plain matrix product, element by element, and the
/// tensor-core attention kernels against CpuOps on shapes that hit every tile edge.
/// </summary>
public class EmuTensorCoreTests
{
    public EmuTensorCoreTests() => EmuLibrary.Require();

    private static ushort Bf(float f) => Bf16.One(BitConverter.SingleToUInt32Bits(f));

    /// <summary>Runs emu_selftest_mma_bf16 (d = a @ b + c, 16x16x16) and returns d with the double-precision reference.</summary>
    private static (float[] Got, double[] Want) MmaBf16(Random rng, int mode, bool integers)
    {
        var a = new ushort[256];
        var b = new ushort[256];
        var c = new float[256];
        for (int i = 0; i < 256; i++)
        {
            // Small integers make every product and sum exact: any misplaced element changes the result.
            a[i] = Bf(integers ? rng.Next(-8, 9) : (float)(rng.NextDouble() * 4 - 2));
            b[i] = Bf(integers ? rng.Next(-8, 9) : (float)(rng.NextDouble() * 4 - 2));
            c[i] = integers ? rng.Next(-100, 101) : (float)(rng.NextDouble() * 2 - 1);
        }
        var want = new double[256];
        for (int r = 0; r < 16; r++)
        for (int n = 0; n < 16; n++)
        {
            double s = c[r * 16 + n];
            for (int k = 0; k < 16; k++) s += (double)Bf16.ToFloat(a[r * 16 + k]) * Bf16.ToFloat(b[k * 16 + n]);
            want[r * 16 + n] = s;
        }
        using var d = new EmuBuffer(256);
        d.Floats.Fill(float.NaN); // an output the instruction does not write stays NaN and fails
        using var ab = EmuBuffer.From(a);
        using var bb = EmuBuffer.From(b);
        using var cb = EmuBuffer.From(c);
        EmuKernels.Launch("emu_selftest_mma_bf16", 1, 32, 0, d, ab, bb, cb, mode);
        return (d.ToArray(), want);
    }

    private static int CountOff(float[] got, double[] want, double rtol, StringBuilder sb)
    {
        int bad = 0;
        for (int i = 0; i < want.Length; i++)
        {
            double tol = rtol * Math.Max(1, Math.Abs(want[i]));
            if (!(Math.Abs(got[i] - want[i]) <= tol) && bad++ < 8)
                sb.Append(CultureInfo.InvariantCulture, $"\n  d[{i / 16},{i % 16}] want {want[i]:R} got {got[i]:R}");
        }
        return bad;
    }

    [Theory]
    [InlineData(0)] // fragments gathered with the ISA's index formulas
    [InlineData(1)] // A by ldmatrix.x4, B by ldmatrix.x4.trans from (K,N) rows
    [InlineData(2)] // B by ldmatrix.x4 from (N,K) rows, as attention reads K
    public void Mma_bf16_m16n8k16_matches_a_plain_product_element_by_element(int mode)
    {
        int seed = NewSeed();
        var rng = new Random(seed);
        foreach (bool integers in new[] { true, false })
        {
            var (got, want) = MmaBf16(rng, mode, integers);
            var sb = new StringBuilder();
            int bad = CountOff(got, want, integers ? 0 : 1e-6, sb);
            Assert.True(bad == 0, $"mma bf16 mode {mode} ({(integers ? "integers, exact" : "reals")}), seed {seed}: {bad} of 256 off{sb}");
        }
    }

    [Fact]
    public void Mma_bf16_with_a_wrong_fragment_layout_fails()
    {
        // The self-test's mode 3 swaps A registers 1 and 2 (rows g+8 and columns 2t+8): the check above must see it.
        int seed = NewSeed();
        var (got, want) = MmaBf16(new Random(seed), 3, integers: true);
        int bad = CountOff(got, want, 0, new StringBuilder());
        Assert.True(bad > 128, $"a swapped A layout changed only {bad} of 256 outputs (seed {seed})");
    }

    private static (float[] Got, double[] Want) MmaTf32(Random rng, int mode, bool integers)
    {
        var a = new float[16 * 8];
        var b = new float[8 * 16];
        var c = new float[256];
        for (int i = 0; i < a.Length; i++) a[i] = integers ? rng.Next(-30, 31) : (float)(rng.NextDouble() * 4 - 2);
        for (int i = 0; i < b.Length; i++) b[i] = integers ? rng.Next(-30, 31) : (float)(rng.NextDouble() * 4 - 2);
        for (int i = 0; i < c.Length; i++) c[i] = integers ? rng.Next(-100, 101) : (float)(rng.NextDouble() * 2 - 1);
        var want = new double[256];
        for (int r = 0; r < 16; r++)
        for (int n = 0; n < 16; n++)
        {
            double s = c[r * 16 + n];
            for (int k = 0; k < 8; k++) s += (double)Tf32(a[r * 8 + k]) * Tf32(b[k * 16 + n]);
            want[r * 16 + n] = s;
        }
        using var d = new EmuBuffer(256);
        d.Floats.Fill(float.NaN);
        using var ab = EmuBuffer.From(a);
        using var bb = EmuBuffer.From(b);
        using var cb = EmuBuffer.From(c);
        EmuKernels.Launch("emu_selftest_mma_tf32", 1, 32, 0, d, ab, bb, cb, mode);
        return (d.ToArray(), want);
    }

    /// <summary>cvt.rna.tf32.f32: 10 significand bits, nearest, ties away from zero (finite values).</summary>
    private static float Tf32(float x) => BitConverter.UInt32BitsToSingle((BitConverter.SingleToUInt32Bits(x) + 0x1000u) & 0xFFFFE000u);

    [Fact]
    public void Mma_tf32_m16n8k8_matches_a_plain_product_element_by_element()
    {
        int seed = NewSeed();
        var rng = new Random(seed);
        foreach (bool integers in new[] { true, false })
        {
            var (got, want) = MmaTf32(rng, 0, integers);
            var sb = new StringBuilder();
            int bad = CountOff(got, want, integers ? 0 : 1e-6, sb);
            Assert.True(bad == 0, $"mma tf32 ({(integers ? "integers, exact" : "reals")}), seed {seed}: {bad} of 256 off{sb}");
        }
        var (wrong, want2) = MmaTf32(rng, 1, integers: true);
        int off = CountOff(wrong, want2, 0, new StringBuilder());
        Assert.True(off > 128, $"a swapped tf32 A layout changed only {off} of 256 outputs (seed {seed})");
    }

    [Fact]
    public void Tf32_rounding_is_nearest_ties_away()
    {
        Assert.Equal(1f, Tf32(1f));
        Assert.Equal(1f + MathF.Pow(2, -10), Tf32(1f + MathF.Pow(2, -11)));  // a tie rounds away from zero
        Assert.Equal(-(1f + MathF.Pow(2, -10)), Tf32(-(1f + MathF.Pow(2, -11))));
        Assert.Equal(1f, Tf32(1f + MathF.Pow(2, -12)));
    }

    public static TheoryData<int, int, int, int> Bf16AttentionShapes => new()
    {
        // B, T, NH, HS: T = 1, 2, one short of / exactly / one past the 64-query tile and two tiles, and a long row
        { 1, 1, 1, 64 },
        { 2, 2, 3, 128 },
        { 1, 63, 2, 64 },
        { 2, 127, 2, 128 },
        { 1, 128, 3, 64 },
        { 2, 129, 2, 64 },
        { 1, 129, 1, 128 },
        { 1, 1024, 1, 64 },
    };

    /// <summary>qkv rounded to bf16 (the kernel's input) and the CPU's fp32 attention of those values.</summary>
    internal static (ushort[] Qkv, float[] Want, double Atol) Bf16Case(Random rng, int b, int t, int nh, int hs)
    {
        int c = nh * hs;
        var x = Normal(rng, (long)b * t * 3 * c);
        var bits = new ushort[x.Length];
        Bf16.FromFloat(x, bits);
        for (int i = 0; i < x.Length; i++) x[i] = Bf16.ToFloat(bits[i]);
        var want = new float[b * t * c];
        CpuOps.Attention(want, x, b, t, c, nh, 1f / MathF.Sqrt(hs));
        // The kernel rounds the probabilities to bf16 before P @ V (relative error <= 2^-9 each, normalised by their own
        // sum: the output moves by at most 2 * 2^-9 * max |v|) and the output to bf16 (2^-9 relative).
        double maxV = 0;
        for (int i = 0; i < x.Length; i++) maxV = Math.Max(maxV, Math.Abs(x[i]));
        return (bits, want, 2.5 * Math.Pow(2, -9) * maxV);
    }

    [Theory]
    [MemberData(nameof(Bf16AttentionShapes))]
    public void Attention_bf16_matches_cpu(int b, int t, int nh, int hs)
    {
        int seed = NewSeed();
        var (bits, want, atol) = Bf16Case(new Random(seed), b, t, nh, hs);
        using var q = EmuBuffer.From(bits);
        using var o = new EmuBuffer(((long)b * t * nh * hs + 1) / 2, ints: true);
        o.Halves.Fill(0x7FC0); // bf16 NaN: an element the kernel does not write fails
        EmuKernels.AttentionBf16(o, q, b, t, nh, hs, 1f / MathF.Sqrt(hs));
        var got = new float[want.Length];
        for (int i = 0; i < got.Length; i++) got[i] = Bf16.ToFloat(o.Halves[i]);
        AssertClose(want, got, atol, Math.Pow(2, -8), $"attention_bf16 B={b} T={t} NH={nh} HS={hs} seed {seed}", nanMatchesNan: false);
    }

    /// <summary>Absolute tolerance of tf32 attention against fp32 on N(0,1) inputs: q, k, p and v rounded to 10
    /// significand bits (2^-11 relative each). 4 * 2^-11 * max |x| (about 9e-3 here); the largest difference seen on the
    /// shapes below was 1.8e-3, a misplaced fragment element gives differences of order 1.</summary>
    internal static double Tf32Atol(float[] qkv)
    {
        double maxV = 0;
        for (int i = 0; i < qkv.Length; i++) maxV = Math.Max(maxV, Math.Abs(qkv[i]));
        return 4 * Math.Pow(2, -11) * maxV;
    }

    [Theory]
    [MemberData(nameof(Bf16AttentionShapes))]
    public void Attention_tf32_matches_cpu(int b, int t, int nh, int hs)
    {
        int seed = NewSeed(), c = nh * hs;
        var rng = new Random(seed);
        var qkv = Normal(rng, (long)b * t * 3 * c);
        var want = new float[b * t * c];
        float scale = 1f / MathF.Sqrt(hs);
        CpuOps.Attention(want, qkv, b, t, c, nh, scale);
        using var q = EmuBuffer.From(qkv);
        using var o = new EmuBuffer(want.Length);
        o.Floats.Fill(float.NaN);
        EmuKernels.AttentionTf32(o, q, b, t, nh, hs, scale);
        AssertClose(want, o.Floats, Tf32Atol(qkv), Math.Pow(2, -9), $"attention_tf32 B={b} T={t} NH={nh} HS={hs} seed {seed}", nanMatchesNan: false);
    }

    public static TheoryData<int, int, int, int> Fp32AttentionShapes => new()
    {
        // B, T, NH, HS: T = 1, 2, one short of / exactly / one past the 32-query tile, a long row; odd head sizes
        { 1, 1, 1, 64 },
        { 2, 2, 3, 128 },
        { 1, 31, 2, 13 },
        { 2, 32, 2, 100 },
        { 1, 33, 3, 64 },
        { 2, 127, 1, 128 },
        { 1, 129, 2, 80 },
        { 1, 1024, 1, 64 },
    };

    [Theory]
    [MemberData(nameof(Fp32AttentionShapes))]
    public void Attention_fp32_matches_cpu(int b, int t, int nh, int hs)
    {
        int seed = NewSeed(), c = nh * hs;
        var rng = new Random(seed);
        var qkv = Normal(rng, (long)b * t * 3 * c);
        var want = new float[b * t * c];
        float scale = 1f / MathF.Sqrt(hs);
        CpuOps.Attention(want, qkv, b, t, c, nh, scale);
        using var q = EmuBuffer.From(qkv);
        using var o = new EmuBuffer(want.Length);
        o.Floats.Fill(float.NaN);
        EmuKernels.AttentionFp32(o, q, b, t, nh, hs, scale);
        AssertClose(want, o.Floats, 2e-6, 1e-5, $"attention_fp32 B={b} T={t} NH={nh} HS={hs} seed {seed}", nanMatchesNan: false);
    }

    private static ushort[] ToBf16Bits(float[] x)
    {
        var bits = new ushort[x.Length];
        Bf16.FromFloat(x, bits);
        for (int i = 0; i < x.Length; i++) x[i] = Bf16.ToFloat(bits[i]); // the reference sees the rounded values
        return bits;
    }

    private static float[] Widen(EmuBuffer halves, int n)
    {
        var r = new float[n];
        for (int i = 0; i < n; i++) r[i] = Bf16.ToFloat(halves.Halves[i]);
        return r;
    }

    [Theory]
    [InlineData(1, 1, 1, 8)]
    [InlineData(2, 37, 3, 13)]
    [InlineData(1, 65, 2, 100)]
    public void Attention_fused_bf16_matches_cpu(int b, int t, int nh, int hs)
    {
        int seed = NewSeed(), c = nh * hs;
        var x = Normal(new Random(seed), (long)b * t * 3 * c);
        var bits = ToBf16Bits(x);
        var want = new float[b * t * c];
        float scale = 1f / MathF.Sqrt(hs);
        CpuOps.Attention(want, x, b, t, c, nh, scale);
        using var q = EmuBuffer.From(bits);
        using var o = new EmuBuffer((want.Length + 1) / 2, ints: true);
        o.Halves.Fill(0x7FC0);
        EmuKernels.AttentionFusedBf16(o, q, b, t, nh, hs, scale);
        // fp32 arithmetic inside: only the output's rounding to bf16 (2^-9 relative).
        AssertClose(want, Widen(o, want.Length), 1e-6, Math.Pow(2, -8), $"attention_fused_bf16 seed {seed}", nanMatchesNan: false);
    }

    [Theory]
    [InlineData(1, 7, 0, 16, 2, 8)]
    [InlineData(2, 1, 19, 24, 3, 64)]
    [InlineData(2, 5, 33, 40, 2, 128)]
    public void Cached_attention_bf16_matches_cpu(int b, int tNew, int past, int maxT, int nh, int hs)
    {
        int seed = NewSeed(), c = nh * hs;
        var rng = new Random(seed);
        var qkv = Normal(rng, b * tNew * 3 * c);
        var kc = Normal(rng, b * maxT * c);
        var vc = Normal(rng, b * maxT * c);
        var qBits = ToBf16Bits(qkv);
        var kBits = ToBf16Bits(kc);
        var vBits = ToBf16Bits(vc);
        float scale = 1f / MathF.Sqrt(hs);
        var want = new float[b * tNew * c];
        CpuOps.AttentionCached(want, qkv, kc, vc, b, tNew, past, maxT, c, nh, scale);
        using var q = EmuBuffer.From(qBits);
        using var kb = EmuBuffer.From(kBits);
        using var vb = EmuBuffer.From(vBits);
        using var o = new EmuBuffer((want.Length + 1) / 2, ints: true);
        o.Halves.Fill(0x7FC0);
        EmuKernels.KvCacheWriteBf16(kb, vb, q, b, tNew, past, maxT, c);
        EmuKernels.AttentionCachedBf16(o, q, kb, vb, b, tNew, past, maxT, nh, hs, scale);
        AssertClose(kc, Widen(kb, kc.Length), 0, 0, $"kv_cache_write_bf16 keys, seed {seed}");
        AssertClose(vc, Widen(vb, vc.Length), 0, 0, $"kv_cache_write_bf16 values, seed {seed}");
        AssertClose(want, Widen(o, want.Length), 1e-6, Math.Pow(2, -8), $"attention_cached_bf16 seed {seed}", nanMatchesNan: false);
    }
}

using LearningCurves.Engine.Backends;
using Xunit;
using static LearningCurves.Kernels.Tests.EmuTestUtil;

namespace LearningCurves.Kernels.Tests;

/// <summary>
/// The fused rotary of the prefill attention kernels (attention_bf16_hs64 / _hs128, attention_tf32_hs64 / _hs128,
/// attention_fp32_hs64 / _hs128 with R &gt; 0) on the kernel emulator: the attention of the unrotated qkv with the
/// angle tables must give bit for bit the output of rotary_forward(_bf16) followed by the same kernel without rotary,
/// and must leave qkv as it was. Shapes: T = 1, 2, 127, 128, 129 (either side of the 64- and 32-row tiles), head sizes
/// 64 and 128, grouped-query attention (NKV &lt; NH), partial rotary (R &lt; HS, Pythia's quarter) and R = HS.
/// </summary>
public class EmuRotaryAttentionTests
{
    public EmuRotaryAttentionTests() => EmuLibrary.Require();

    private static readonly (int B, int T, int NH, int NKV, int HS, int R)[] Common =
    [
        // B, T, NH, NKV, HS, R
        (1, 1, 2, 1, 64, 64),
        (2, 2, 4, 2, 128, 32),
        (1, 127, 2, 2, 64, 16),
        (1, 128, 4, 1, 128, 128),
        (2, 129, 2, 1, 64, 64),
        (1, 129, 3, 3, 128, 32),
        (1, 33, 2, 2, 64, 2),   // the smallest rotary: one pair per head
    ];

    public static TheoryData<int, int, int, int, int, int> Shapes
    {
        get
        {
            var d = new TheoryData<int, int, int, int, int, int>();
            foreach (var (b, t, nh, nkv, hs, r) in Common) d.Add(b, t, nh, nkv, hs, r);
            return d;
        }
    }

    public static TheoryData<int, int, int, int, int, int> Fp32Shapes
    {
        get
        {
            var d = Shapes;
            d.Add(2, 33, 4, 2, 80, 20); // a head size of attention_fp32_hs128 that is not 128, an odd half (10)
            d.Add(1, 31, 1, 1, 26, 26); // attention_fp32_hs64 below 64: full rotary on an odd half (13)
            return d;
        }
    }

    private static (EmuBuffer Cos, EmuBuffer Sin) Tables(int t, int r, double theta)
    {
        var cos = new float[t * (r / 2)];
        var sin = new float[t * (r / 2)];
        CpuOps.RotaryTable(t, r, theta, 0, cos, sin);
        return (EmuBuffer.From(cos), EmuBuffer.From(sin));
    }

    private static void Rotary(string kernel, EmuBuffer qkv, EmuBuffer cos, EmuBuffer sin, int b, int t, int nh, int nkv, int hs, int r)
    {
        long pairs = (long)b * t * (nh + nkv) * (r / 2);
        EmuKernels.Launch(kernel, new Dim3((uint)((pairs + 255) / 256)), 256, 0, qkv, cos, sin, b, t, nh, nkv, hs, r);
    }

    /// <summary>Fails at the first differing bit pattern, printing the first few.</summary>
    internal static void AssertSameBits<T>(ReadOnlySpan<T> want, ReadOnlySpan<T> got, Func<T, string> show, string what) where T : IEquatable<T>
    {
        Assert.Equal(want.Length, got.Length);
        var bad = new List<string>();
        int count = 0;
        for (int i = 0; i < want.Length; i++)
        {
            if (want[i].Equals(got[i])) continue;
            count++;
            if (bad.Count < 8) bad.Add($"[{i}] separate {show(want[i])} fused {show(got[i])}");
        }
        Assert.True(count == 0, $"{what}: {count} of {want.Length} elements differ: {string.Join("; ", bad)}");
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Bf16_fused_rotary_is_bit_identical(int b, int t, int nh, int nkv, int hs, int r)
    {
        int seed = NewSeed();
        var rng = new Random(seed);
        var x = Normal(rng, (long)b * t * (nh + 2 * nkv) * hs);
        var bits = new ushort[x.Length];
        Bf16.FromFloat(x, bits);
        float scale = 1f / MathF.Sqrt(hs);
        var (cos, sin) = Tables(t, r, rng.Next(2) == 0 ? 10000 : 500000);
        using var _c = cos;
        using var _s = sin;
        long n = (long)b * t * nh * hs;

        using var rotated = EmuBuffer.From(bits);
        Rotary("rotary_forward_bf16", rotated, cos, sin, b, t, nh, nkv, hs, r);
        using var o1 = new EmuBuffer((n + 1) / 2, ints: true);
        o1.Halves.Fill(0x7FC0);
        EmuKernels.AttentionBf16(o1, rotated, b, t, nh, hs, scale, nkv);

        using var plain = EmuBuffer.From(bits);
        using var o2 = new EmuBuffer((n + 1) / 2, ints: true);
        o2.Halves.Fill(0x7FC0);
        EmuKernels.AttentionBf16(o2, plain, b, t, nh, hs, scale, nkv, cos, sin, r);

        string what = $"attention_bf16 B={b} T={t} NH={nh} NKV={nkv} HS={hs} R={r} seed {seed}";
        AssertSameBits<ushort>(o1.Halves[..(int)n], o2.Halves[..(int)n], v => $"0x{v:x4}", what);
        AssertSameBits<ushort>(bits, plain.Halves[..bits.Length], v => $"0x{v:x4}", what + " (qkv untouched)");
        Assert.DoesNotContain((ushort)0x7FC0, o2.Halves[..(int)n].ToArray());
        // The rotation did something: without it the output differs (R > 0 turns every position but 0).
        if (t > 1)
        {
            using var o3 = new EmuBuffer((n + 1) / 2, ints: true);
            EmuKernels.AttentionBf16(o3, plain, b, t, nh, hs, scale, nkv);
            Assert.False(o3.Halves[..(int)n].SequenceEqual(o2.Halves[..(int)n]), what + ": the rotary changed nothing");
        }
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Tf32_fused_rotary_is_bit_identical(int b, int t, int nh, int nkv, int hs, int r) =>
        Fp32Storage(b, t, nh, nkv, hs, r, tf32: true);

    [Theory]
    [MemberData(nameof(Fp32Shapes))]
    public void Fp32_fused_rotary_is_bit_identical(int b, int t, int nh, int nkv, int hs, int r) =>
        Fp32Storage(b, t, nh, nkv, hs, r, tf32: false);

    private static void Fp32Storage(int b, int t, int nh, int nkv, int hs, int r, bool tf32)
    {
        int seed = NewSeed();
        var rng = new Random(seed);
        var x = Normal(rng, (long)b * t * (nh + 2 * nkv) * hs);
        float scale = 1f / MathF.Sqrt(hs);
        var (cos, sin) = Tables(t, r, rng.Next(2) == 0 ? 10000 : 500000);
        using var _c = cos;
        using var _s = sin;
        long n = (long)b * t * nh * hs;
        void Run(EmuBuffer o, EmuBuffer q, EmuBuffer? c, EmuBuffer? s, int rr)
        {
            if (tf32) EmuKernels.AttentionTf32(o, q, b, t, nh, hs, scale, nkv, c, s, rr);
            else EmuKernels.AttentionFp32(o, q, b, t, nh, hs, scale, nkv, c, s, rr);
        }

        using var rotated = EmuBuffer.From(x);
        Rotary("rotary_forward", rotated, cos, sin, b, t, nh, nkv, hs, r);
        using var o1 = new EmuBuffer(n);
        o1.Floats.Fill(float.NaN);
        Run(o1, rotated, null, null, 0);

        using var plain = EmuBuffer.From(x);
        using var o2 = new EmuBuffer(n);
        o2.Floats.Fill(float.NaN);
        Run(o2, plain, cos, sin, r);

        string what = $"attention_{(tf32 ? "tf32" : "fp32")} B={b} T={t} NH={nh} NKV={nkv} HS={hs} R={r} seed {seed}";
        static string Show(uint v) => $"{BitConverter.UInt32BitsToSingle(v):R} (0x{v:x8})";
        AssertSameBits<uint>(Bits(o1.Floats), Bits(o2.Floats), Show, what);
        AssertSameBits<uint>(Bits(x), Bits(plain.Floats), Show, what + " (qkv untouched)");
        Assert.DoesNotContain(o2.Floats.ToArray(), float.IsNaN);
        // And rotary_forward itself rounds each product and sum on its own (as CpuOps.Rotary; no FMA contraction).
        var cosH = cos.Floats.ToArray();
        var sinH = sin.Floats.ToArray();
        var turned = x.ToArray();
        int rs = (nh + 2 * nkv) * hs, half = r / 2;
        for (int row = 0; row < b * t; row++)
        for (int part = 0; part < nh + nkv; part++)
        for (int i = 0; i < half; i++)
        {
            int p = row * rs + part * hs + i, tt = row % t;
            float x1 = turned[p], x2 = turned[p + half], c = cosH[tt * half + i], s = sinH[tt * half + i];
            turned[p] = x1 * c - x2 * s;
            turned[p + half] = x2 * c + x1 * s;
        }
        AssertSameBits<uint>(Bits(turned), Bits(rotated.Floats), Show, what + " (rotary_forward against separate roundings)");
    }

    private static uint[] Bits(ReadOnlySpan<float> x)
    {
        var u = new uint[x.Length];
        for (int i = 0; i < x.Length; i++) u[i] = BitConverter.SingleToUInt32Bits(x[i]);
        return u;
    }
}

using System.Numerics;
using System.Numerics.Tensors;
using LearningCurves.Engine.Backends;
using Xunit;

namespace LearningCurves.Engine.Tests;

/// <summary>
/// The CPU's vectorised element-wise ops (CpuVector with the VectorOps operators, through CpuOps) against float64
/// scalar references written here from the definitions, at every length from 0 to three vectors plus one (every tail),
/// and at a long one that runs in parallel chunks; values from seeded random draws with the seed printed.
/// </summary>
public class CpuVectorTests
{
    public static TheoryData<int> Lengths()
    {
        var d = new TheoryData<int>();
        for (int n = 0; n <= 3 * Vector<float>.Count + 1; n++) d.Add(n);
        d.Add(1003);
        d.Add(70_001); // parallel chunks with a short last one
        return d;
    }

    private static float[] Draw(Random rng, int n, double scale)
    {
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float)((rng.NextDouble() * 2 - 1) * scale);
        return x;
    }

    private static void Close(double want, float got, double atol, double rtol, string what)
    {
        if (!(Math.Abs(got - want) <= atol + rtol * Math.Abs(want))) Assert.Fail($"{what}: want {want:R} got {got:R}");
    }

    private static double Erf(double x)
    {
        // float64 erf: its Taylor series below 3, erfc's continued fraction above.
        double ax = Math.Abs(x), r;
        if (ax < 3)
        {
            double term = ax, sum = ax;
            for (int k = 1; k < 200; k++)
            {
                term *= -ax * ax / k;
                sum += term / (2 * k + 1);
            }
            r = 2 / Math.Sqrt(Math.PI) * sum;
        }
        else
        {
            double f = 0; // erfc continued fraction, evaluated from the tail
            for (int k = 60; k >= 1; k--) f = k / 2.0 / (ax + f);
            r = 1 - Math.Exp(-ax * ax) / Math.Sqrt(Math.PI) / (ax + f);
        }
        return x < 0 ? -r : r;
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public void Gelu_forms_silu_swiglu_and_the_adds_match_float64(int n)
    {
        int seed = Random.Shared.Next();
        var rng = new Random(seed);
        var x = Draw(rng, n, 6);
        var y = Draw(rng, n, 3);
        var z = Draw(rng, n, 1);
        var g = x.ToArray();
        CpuOps.Gelu(g);
        var e = x.ToArray();
        CpuOps.GeluErf(e);
        var s = new float[n];
        CpuVector.Map<VectorOps.Silu>(x, s);
        var sw = new float[n];
        CpuOps.SwiGlu(sw, x, y, 1, n, n);
        var a = x.ToArray();
        CpuOps.Add(a, y);
        var ab = x.ToArray();
        if (n > 0) CpuOps.AddBias(ab, y, z, 1, n);
        for (int i = 0; i < n; i++)
        {
            double v = x[i], sig = 1 / (1 + Math.Exp(-v));
            string at = $"n={n} i={i} x={x[i]:R} seed {seed}";
            Close(0.5 * v * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v))), g[i], 1e-6, 1e-6, $"gelu tanh {at}");
            Close(0.5 * v * (1 + Erf(v / Math.Sqrt(2))), e[i], 1e-6, 1e-6, $"gelu erf {at}");
            Close(v * sig, s[i], 1e-6, 1e-6, $"silu {at}");
            Close(v * sig * y[i], sw[i], 1e-6, 1e-6, $"swiglu {at}");
            Assert.Equal(x[i] + y[i], a[i]);
            if (n > 0) Assert.Equal(x[i] + (y[i] + z[i]), ab[i]);
        }
    }

    [Fact]
    public void Exp_is_within_two_ulp_over_the_float_range()
    {
        int seed = Random.Shared.Next(), w = Vector<float>.Count;
        var rng = new Random(seed);
        var x = new float[64 * 1024];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 175.5 - 87.2); // -87.2 .. 88.3
        x[0] = 0;
        x[1] = -0f;
        for (int i = 0; i < x.Length; i += w)
        {
            var got = VectorOps.Exp(new Vector<float>(x, i));
            for (int j = 0; j < w; j++)
            {
                double want = Math.Exp(x[i + j]);
                if (Math.Abs(got[j] - want) > 2.5e-7 * want) Assert.Fail($"exp({x[i + j]:R}) = {got[j]:R}, want {want:R} (seed {seed})");
            }
        }
        var edge = VectorOps.Exp(new Vector<float>(float.NaN));
        Assert.True(float.IsNaN(edge[0]));
        Assert.InRange(VectorOps.Exp(new Vector<float>(-100f))[0], 0f, 1e-38f);
        Assert.Equal(float.PositiveInfinity, VectorOps.Exp(new Vector<float>(100f))[0]);
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public void Layer_norm_and_rmsnorm_rows_match_float64(int c)
    {
        if (c == 0) return; // a row has at least one value
        int seed = Random.Shared.Next();
        var rng = new Random(seed);
        var x = Draw(rng, c, 4);
        for (int i = 0; i < c; i++) x[i] += 100; // |mean| >> std: a one-pass variance would lose digits here
        var w = Draw(rng, c, 1);
        var b = Draw(rng, c, 1);
        const float eps = 1e-5f;
        var ln = new float[c];
        var (mean, rstd) = CpuOps.LayerNormRow(ln, x, w, b, eps);
        var rms = new float[c];
        CpuOps.RmsNorm(rms, x, w, 1, c, eps);
        double m = x.Sum(v => (double)v) / c, var = x.Sum(v => (v - m) * (v - m)) / c, r = 1 / Math.Sqrt(var + eps);
        double ms = x.Sum(v => (double)v * v) / c, rr = 1 / Math.Sqrt(ms + eps);
        // The mean is a float32 vector sum: its error bound grows with the values each lane adds (all positive here).
        Close(m, mean, 0, (c / (double)Vector<float>.Count + Vector<float>.Count + 2) * Math.Pow(2, -24), $"mean C={c} seed {seed}");
        Close(r, rstd, 0, 1e-5, $"rstd C={c} seed {seed}");
        for (int i = 0; i < c; i++)
        {
            // Besides rounding, the float32 mean's own error (bounded above) moves every output by |mean - m| r |w|.
            Close((x[i] - m) * r * w[i] + b[i], ln[i], 2e-5 + Math.Abs(mean - m) * r * Math.Abs(w[i]), 1e-5, $"layernorm C={c} i={i} seed {seed}");
            Close(x[i] * rr * w[i], rms[i], 1e-6, 1e-6, $"rmsnorm C={c} i={i} seed {seed}");
        }
    }

    /// <summary>
    /// The one-pass ops give the bits of the multi-pass TensorPrimitives forms they replaced (commit 4362525's CpuOps,
    /// written again here as the reference): the same float32 operations in the same order, the same exp, the same
    /// float32 mean. Only the layer norm's float64 variance sums in another order, which would change rstd only at a
    /// float rounding boundary (about 1e-16 relative against float's 6e-8): not seen here. This is what keeps the demo's
    /// outputs byte-identical across the change.
    /// </summary>
    [Theory]
    [MemberData(nameof(Lengths))]
    public void The_one_pass_ops_give_the_bits_of_the_multi_pass_forms_they_replaced(int n)
    {
        // Below 4 floats TensorPrimitives computes scalar (MathF.Exp), the vector driver does not; no model has a
        // tensor that small, and the 4096-float chunks the old ops took leave no remainder of 1..3 when the width is a
        // multiple of 4.
        if (n < 4) return;
        int seed = Random.Shared.Next();
        var rng = new Random(seed);
        var x = Draw(rng, n, 6);
        const float geluScale = 0.7978845608028654f;

        var want = x.ToArray();
        var u = new float[n];
        TensorPrimitives.Multiply(want, want, u);
        TensorPrimitives.Multiply(u, 0.044715f, u);
        TensorPrimitives.Add(u, 1f, u);
        TensorPrimitives.Multiply(u, want, u);
        TensorPrimitives.Multiply(u, 2f * geluScale, u);
        TensorPrimitives.Sigmoid(u, u);
        TensorPrimitives.Multiply(u, want, want);
        var got = x.ToArray();
        CpuOps.Gelu(got);
        SameBits(want, got, $"gelu n={n} seed {seed}");

        want = x.ToArray();
        var a = new float[n];
        var t = new float[n];
        TensorPrimitives.Abs(want, a);
        TensorPrimitives.Multiply(a, 0.5f * 0.70710678f, t);
        TensorPrimitives.Add(t, 1f, t);
        TensorPrimitives.Reciprocal(t, t);
        Array.Fill(u, 0.17087277f);
        foreach (float coef in new[] { -0.82215223f, 1.48851587f, -1.13520398f, 0.27886807f, -0.18628806f, 0.09678418f, 0.37409196f, 1.00002368f, -1.26551223f })
            TensorPrimitives.MultiplyAdd(u, t, coef, u);
        TensorPrimitives.Multiply(a, a, a);
        TensorPrimitives.MultiplyAdd(a, -0.5f, u, u);
        TensorPrimitives.Exp(u, u);
        TensorPrimitives.Multiply(u, t, u);
        TensorPrimitives.Abs(want, a);
        TensorPrimitives.Multiply(u, a, u);
        TensorPrimitives.Multiply(u, 0.5f, u);
        TensorPrimitives.Max(want, 0f, want);
        TensorPrimitives.Subtract(want, u, want);
        got = x.ToArray();
        CpuOps.GeluErf(got);
        SameBits(want, got, $"exact gelu n={n} seed {seed}");

        var w = Draw(rng, n, 1);
        var b = Draw(rng, n, 1);
        const float eps = 1e-5f;
        float mean = TensorPrimitives.Sum(x) / n;
        double var = 0;
        for (int i = 0; i < n; i++)
        {
            double d = x[i] - mean;
            var += d * d;
        }
        float rstd = (float)(1.0 / Math.Sqrt(var / n + eps));
        want = new float[n];
        TensorPrimitives.Subtract(x, mean, want);
        TensorPrimitives.Multiply(want, rstd, want);
        TensorPrimitives.FusedMultiplyAdd(want, w, b, want);
        got = new float[n];
        var (gotMean, gotRstd) = CpuOps.LayerNormRow(got, x, w, b, eps);
        SameBits([mean, rstd], [gotMean, gotRstd], $"layer norm mean, rstd n={n} seed {seed}");
        SameBits(want, got, $"layer norm n={n} seed {seed}");
    }

    private static void SameBits(float[] want, float[] got, string what)
    {
        for (int i = 0; i < want.Length; i++)
            if (BitConverter.SingleToInt32Bits(want[i]) != BitConverter.SingleToInt32Bits(got[i]))
                Assert.Fail($"{what}: first difference at {i}: want {want[i]:R} got {got[i]:R}");
    }
}

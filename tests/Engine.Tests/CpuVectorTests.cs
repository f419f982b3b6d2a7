using System.Numerics;
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
        Assert.Equal(0f, VectorOps.Exp(new Vector<float>(-100f))[0]);
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
        Close(m, mean, 0, 1e-7, $"mean C={c} seed {seed}");
        Close(r, rstd, 0, 1e-5, $"rstd C={c} seed {seed}");
        for (int i = 0; i < c; i++)
        {
            Close((x[i] - m) * r * w[i] + b[i], ln[i], 2e-5, 1e-5, $"layernorm C={c} i={i} seed {seed}");
            Close(x[i] * rr * w[i], rms[i], 1e-6, 1e-6, $"rmsnorm C={c} i={i} seed {seed}");
        }
    }
}

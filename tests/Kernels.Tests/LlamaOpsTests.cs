using LearningCurves.Engine.Backends;
using Xunit;
using static LearningCurves.Kernels.Tests.GpuTestSupport;

namespace LearningCurves.Kernels.Tests;

/// <summary>
/// The LLaMA-family ops (issue 23 item 4) on every backend (the CPU, and the CUDA backend: a GPU, or the software GPU in
/// CI), each body run on both against a float64 scalar reference written here from the definitions: grouped-query
/// attention (full and cached, the split-K decoding path too) at GQA ratios 1, 2, 4 and 8 with head sizes 64, 128 and
/// an odd one, rotary embedding with kv heads, rope_theta and partial rotary, RMSNorm and the fused residual + RMSNorm,
/// SwiGLU (two inputs and a fused gate|up product), QK-norm and clamp; fp32 and bf16 buffers; sizes off every block
/// and vector multiple; outputs poisoned with NaN first; seeds fresh per run and printed on a mismatch.
/// </summary>
[Trait("Category", "Gpu")]
[Collection("GPU")]
public class LlamaOpsTests
{
    private static IBackend Make(string backend, Precision p) => backend == "cpu" ? new CpuBackend(p) : Open(p);

    /// <summary>One bf16 step (2^-8 relative): an output rounded once from an fp32 result.</summary>
    private const double Bf16Step = 1.0 / 128;

    private static IDeviceBuffer Put(IBackend be, float[] x, DType t)
    {
        var d = be.Allocate(x.Length, t);
        be.Write(d, x);
        return d;
    }

    /// <summary>Random values, rounded to bf16 (held as floats) when the buffer will be bf16.</summary>
    private static float[] Values(Random rng, long n, DType t, float std = 1f)
    {
        var x = Normal(rng, n, std);
        if (t == DType.Bf16) CpuOps.RoundToBf16(x);
        return x;
    }

    public static TheoryData<string, Precision, int, int, int, int, int> AttentionShapes()
    {
        var d = new TheoryData<string, Precision, int, int, int, int, int>();
        foreach (var backend in new[] { "cpu", "cuda" })
        {
            foreach (var p in new[] { Precision.Fp32, Precision.Bf16 })
            {
                d.Add(backend, p, 2, 37, 4, 4, 64);   // ratio 1
                d.Add(backend, p, 1, 70, 4, 2, 128);  // ratio 2
                d.Add(backend, p, 2, 33, 8, 2, 40);   // ratio 4, odd head size (SIMT kernels)
                d.Add(backend, p, 1, 19, 32, 4, 64);  // ratio 8: TinyLlama's 32 heads / 4 kv heads
            }
            d.Add(backend, Precision.Tf32, 1, 65, 8, 2, 64);
        }
        return d;
    }

    /// <summary>Grouped-query attention over the whole sequence, then as a prompt into the caches and one decoding step
    /// (the single-pass cached kernel, and on CUDA the split-K kernels forced on).</summary>
    [Theory]
    [MemberData(nameof(AttentionShapes))]
    public void Grouped_query_attention(string backend, Precision p, int b, int t, int heads, int kvHeads, int hs)
    {
        using var be = Make(backend, p);
        var type = p == Precision.Bf16 ? DType.Bf16 : DType.F32;
        int seed = Random.Shared.Next(), c = heads * hs, kvc = kvHeads * hs, rs = c + 2 * kvc, maxT = t + 3;
        var rng = new Random(seed);
        float scale = 1f / MathF.Sqrt(hs);
        var qkv = Values(rng, (long)b * t * rs, type);
        double maxV = qkv.Max(v => Math.Abs(v));
        // bf16: the tensor-core kernels round the probabilities to bf16 (2.5 * 2^-9 * max |v|); tf32 rounds q, k, v, p.
        double atol = type == DType.Bf16 ? 2.5 * Math.Pow(2, -9) * maxV + 1e-5 : p == Precision.Tf32 ? EmuTensorCoreTests.Tf32Atol(qkv) : 2e-5;
        double rtol = type == DType.Bf16 ? Bf16Step : p == Precision.Tf32 ? Math.Pow(2, -9) : 2e-4;
        string what = $"{backend} {p} B={b} T={t} NH={heads} NKV={kvHeads} HS={hs} seed {seed}";

        var want = new float[(long)b * t * c];
        var noCache = new float[(long)b * maxT * kvc];
        ReferenceAttention(want, qkv, noCache.ToArray(), noCache.ToArray(), b, t, 0, t, heads, kvHeads, hs, scale);
        using var dq = Put(be, qkv, type);
        using var o = Poisoned(be, want.Length, type);
        be.Attention(o, dq, b, t, heads, kvHeads, hs, scale);
        AssertClose(want, Get(be, o, want.Length), atol, rtol, $"attention {what}");

        // The prompt through the cache (past 0), then one token at position t.
        var kc = Values(rng, (long)b * maxT * kvc, type);
        var vc = Values(rng, (long)b * maxT * kvc, type);
        using var dk = Put(be, kc, type);
        using var dv = Put(be, vc, type);
        using var o2 = Poisoned(be, want.Length, type);
        be.AttentionCached(o2, dq, dk, dv, b, t, 0, maxT, heads, kvHeads, hs, scale);
        AssertClose(want, Get(be, o2, want.Length), 1e-5 + (type == DType.Bf16 ? 0 : 1e-5), type == DType.Bf16 ? Bf16Step : 2e-4, $"cached prompt {what}");
        var step = Values(rng, (long)b * rs, type);
        var wantK = kc.ToArray();
        var wantV = vc.ToArray();
        for (int bi = 0; bi < b; bi++)
        {
            for (int j = 0; j < t; j++)
            {
                Array.Copy(qkv, ((long)bi * t + j) * rs + c, wantK, ((long)bi * maxT + j) * kvc, kvc);
                Array.Copy(qkv, ((long)bi * t + j) * rs + c + kvc, wantV, ((long)bi * maxT + j) * kvc, kvc);
            }
        }
        var wantStep = new float[(long)b * c];
        ReferenceAttention(wantStep, step, wantK, wantV, b, 1, t, maxT, heads, kvHeads, hs, scale);
        foreach (bool split in backend == "cuda" ? new[] { false, true } : new[] { false })
        {
            if (be is CudaBackend cuda) cuda.SplitAttentionFrom = split ? 1 : CudaBackend.SplitChunk + 1;
            using var dk2 = Put(be, Get(be, dk, kc.Length), type);
            using var dv2 = Put(be, Get(be, dv, vc.Length), type);
            using var ds = Put(be, step, type);
            using var o3 = Poisoned(be, wantStep.Length, type);
            be.AttentionCached(o3, ds, dk2, dv2, b, 1, t, maxT, heads, kvHeads, hs, scale);
            AssertClose(wantStep, Get(be, o3, wantStep.Length), 1e-5, type == DType.Bf16 ? Bf16Step : 2e-4, $"decoding step split={split} {what}");
            AssertClose(wantK, Get(be, dk2, kc.Length), 0, 0, $"k cache {what}");
            AssertClose(wantV, Get(be, dv2, vc.Length), 0, 0, $"v cache {what}");
        }
    }

    /// <summary>float64 attention: the new keys/values of qkv (B, Tnew, (NH+2NKV)HS) written into the caches (B, maxT,
    /// NKV HS) at past.., then query i (position past+i) over cached keys 0..past+i; q head h reads kv head h/(NH/NKV).</summary>
    private static void ReferenceAttention(float[] output, float[] qkv, float[] kc, float[] vc, int b, int tNew, int past, int maxT,
        int heads, int kvHeads, int hs, float scale)
    {
        int c = heads * hs, kvc = kvHeads * hs, rs = c + 2 * kvc, group = heads / kvHeads;
        for (int bi = 0; bi < b; bi++)
        {
            for (int i = 0; i < tNew; i++)
            {
                Array.Copy(qkv, ((long)bi * tNew + i) * rs + c, kc, ((long)bi * maxT + past + i) * kvc, kvc);
                Array.Copy(qkv, ((long)bi * tNew + i) * rs + c + kvc, vc, ((long)bi * maxT + past + i) * kvc, kvc);
            }
            for (int h = 0; h < heads; h++)
            {
                int kvh = h / group;
                for (int i = 0; i < tNew; i++)
                {
                    int n = past + i + 1;
                    var s = new double[n];
                    long q = ((long)bi * tNew + i) * rs + h * hs;
                    double max = double.NegativeInfinity;
                    for (int j = 0; j < n; j++)
                    {
                        long k = ((long)bi * maxT + j) * kvc + kvh * hs;
                        double dot = 0;
                        for (int d = 0; d < hs; d++) dot += (double)qkv[q + d] * kc[k + d];
                        s[j] = dot * scale;
                        max = Math.Max(max, s[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j < n; j++) sum += s[j] = Math.Exp(s[j] - max);
                    for (int d = 0; d < hs; d++)
                    {
                        double acc = 0;
                        for (int j = 0; j < n; j++) acc += s[j] * vc[((long)bi * maxT + j) * kvc + kvh * hs + d];
                        output[((long)bi * tNew + i) * c + h * hs + d] = (float)(acc / sum);
                    }
                }
            }
        }
    }

    [Theory]
    [InlineData("cpu", DType.F32, 2, 5, 8, 2, 64, 64, 500000.0, 3)]     // LLaMA / OLMo-2: full rotary, rope_theta 500,000
    [InlineData("cpu", DType.Bf16, 1, 7, 4, 4, 40, 20, 10000.0, 0)]     // partial rotary, no GQA
    [InlineData("cpu", DType.F32, 1, 3, 32, 4, 128, 128, 10000.0, 11)]  // ratio 8
    [InlineData("cuda", DType.F32, 2, 5, 8, 2, 64, 64, 500000.0, 3)]
    [InlineData("cuda", DType.Bf16, 1, 7, 4, 4, 40, 20, 10000.0, 0)]
    [InlineData("cuda", DType.Bf16, 1, 3, 32, 4, 128, 128, 10000.0, 11)]
    public void Rotary_with_kv_heads(string backend, DType type, int b, int t, int heads, int kvHeads, int hs, int r, double theta, int past)
    {
        using var be = Make(backend, Precision.Fp32);
        int seed = Random.Shared.Next(), rs = (heads + 2 * kvHeads) * hs;
        var qkv = Values(new Random(seed), (long)b * t * rs, type);
        var want = qkv.ToArray();
        int half = r / 2;
        for (long row = 0; row < (long)b * t; row++)
        {
            int pos = past + (int)(row % t);
            for (int part = 0; part < heads + kvHeads; part++) // q heads, then k heads; v untouched
            {
                long o = row * rs + (long)part * hs;
                for (int i = 0; i < half; i++)
                {
                    double angle = pos * Math.Pow(theta, -2.0 * i / r), x1 = qkv[o + i], x2 = qkv[o + i + half];
                    want[o + i] = (float)(x1 * Math.Cos(angle) - x2 * Math.Sin(angle));
                    want[o + i + half] = (float)(x2 * Math.Cos(angle) + x1 * Math.Sin(angle));
                }
            }
        }
        using var d = Put(be, qkv, type);
        be.Rotary(d, b, t, heads, kvHeads, hs, r, theta, past);
        AssertClose(want, Get(be, d, qkv.Length), 2e-6, type == DType.Bf16 ? Bf16Step : 1e-5, $"{backend} rotary {type} NH={heads} NKV={kvHeads} HS={hs} R={r} seed {seed}");
    }

    [Theory]
    [InlineData("cpu", DType.F32, 1, 1, true)]
    [InlineData("cpu", DType.Bf16, 3, 33, false)]
    [InlineData("cpu", DType.F32, 5, 2053, true)]
    [InlineData("cuda", DType.F32, 1, 1, true)]
    [InlineData("cuda", DType.Bf16, 3, 33, false)]
    [InlineData("cuda", DType.F32, 9, 773, false)]
    [InlineData("cuda", DType.Bf16, 5, 2053, true)]
    public void RmsNorm_and_the_fused_residual(string backend, DType normType, int rows, int c, bool bias)
    {
        using var be = Make(backend, Precision.Fp32);
        int seed = Random.Shared.Next();
        var rng = new Random(seed);
        var x = EmuTestUtil.Normal(rng, (long)rows * c, 1f, 0.3f);
        var y = Normal(rng, (long)rows * c);
        var bv = Normal(rng, c, 0.1f);
        var w = EmuTestUtil.Normal(rng, c, 0.2f, 1f);
        const float eps = 1e-5f;
        double rtol = normType == DType.Bf16 ? Bf16Step : 1e-5;
        string what = $"{backend} {normType} rows={rows} C={c} bias={bias} seed {seed}";
        using var dx = be.Upload(x);
        using var dw = be.Upload(w);
        using var o = Poisoned(be, x.Length, normType);
        be.RmsNorm(o, dx, dw, rows, c, eps);
        AssertClose(ReferenceRmsNorm(x, w, rows, c, eps), Get(be, o, x.Length), 1e-6, rtol, $"rmsnorm {what}");

        var res = new float[x.Length];
        for (int i = 0; i < x.Length; i++) res[i] = x[i] + (y[i] + (bias ? bv[i % c] : 0f)); // fp32, as the backends store it
        using var dy = be.Upload(y);
        using var db = be.Upload(bv);
        using var norm = Poisoned(be, x.Length, normType);
        be.ResidualRmsNorm(dx, norm, dy, bias ? db : null, dw, rows, c, eps);
        AssertClose(res, Get(be, dx, x.Length), 0, 0, $"residual {what}");
        AssertClose(ReferenceRmsNorm(res, w, rows, c, eps), Get(be, norm, x.Length), 1e-6, rtol, $"residual rmsnorm {what}");
    }

    private static float[] ReferenceRmsNorm(float[] x, float[] w, int rows, int c, float eps, int rowStride = -1, int offset = 0)
    {
        if (rowStride < 0) rowStride = c;
        var r = new float[(long)rows * c];
        for (int row = 0; row < rows; row++)
        {
            long o = (long)row * rowStride + offset;
            double ms = 0;
            for (int i = 0; i < c; i++) ms += (double)x[o + i] * x[o + i];
            double rstd = 1 / Math.Sqrt(ms / c + eps);
            for (int i = 0; i < c; i++) r[(long)row * c + i] = (float)(x[o + i] * rstd * w[i]);
        }
        return r;
    }

    [Theory]
    [InlineData("cpu", DType.F32, 1, 1)]
    [InlineData("cpu", DType.Bf16, 3, 37)]
    [InlineData("cpu", DType.F32, 5, 1003)]
    [InlineData("cuda", DType.F32, 1, 1)]
    [InlineData("cuda", DType.Bf16, 3, 37)]
    [InlineData("cuda", DType.F32, 5, 1003)]
    [InlineData("cuda", DType.Bf16, 4, 5632)] // TinyLlama's MLP width
    public void SwiGlu_from_two_products_and_from_a_fused_one(string backend, DType type, int rows, int inner)
    {
        using var be = Make(backend, type == DType.Bf16 ? Precision.Bf16 : Precision.Fp32);
        int seed = Random.Shared.Next();
        var rng = new Random(seed);
        var gateUp = Values(rng, 2L * rows * inner, type, 3f);
        var gate = new float[(long)rows * inner];
        var up = new float[gate.Length];
        var want = new float[gate.Length];
        for (int r = 0; r < rows; r++)
        {
            for (int i = 0; i < inner; i++)
            {
                double g = gateUp[2L * r * inner + i], u = gateUp[2L * r * inner + inner + i];
                gate[(long)r * inner + i] = (float)g;
                up[(long)r * inner + i] = (float)u;
                want[(long)r * inner + i] = (float)(g / (1 + Math.Exp(-g)) * u);
            }
        }
        double rtol = type == DType.Bf16 ? Bf16Step : 1e-6;
        string what = $"{backend} {type} rows={rows} inner={inner} seed {seed}";
        using var dg = Put(be, gate, type);
        using var du = Put(be, up, type);
        using var o = Poisoned(be, want.Length, type);
        be.SwiGlu(o, dg, du, rows, inner);
        AssertClose(want, Get(be, o, want.Length), 1e-6, rtol, $"swiglu {what}");
        using var dgu = Put(be, gateUp, type);
        using var o2 = Poisoned(be, want.Length, type);
        be.SwiGluFused(o2, dgu, rows, inner);
        AssertClose(want, Get(be, o2, want.Length), 1e-6, rtol, $"swiglu fused {what}");
        using var f = be.Allocate(want.Length, type == DType.Bf16 ? DType.F32 : DType.Bf16);
        Assert.Throws<ArgumentException>(() => be.SwiGlu(f, dg, du, rows, inner)); // input and output types must agree
    }

    [Theory]
    [InlineData("cpu", DType.F32, 3, 4, 4, 64)]
    [InlineData("cpu", DType.Bf16, 2, 8, 2, 40)]
    [InlineData("cuda", DType.F32, 3, 4, 4, 64)]
    [InlineData("cuda", DType.Bf16, 2, 8, 2, 40)]
    [InlineData("cuda", DType.F32, 5, 32, 4, 128)]
    public void QkNorm_normalises_q_and_k_over_all_heads(string backend, DType type, int rows, int heads, int kvHeads, int hs)
    {
        using var be = Make(backend, Precision.Fp32);
        int seed = Random.Shared.Next(), qc = heads * hs, kc = kvHeads * hs, rs = qc + 2 * kc;
        var rng = new Random(seed);
        var qkv = Values(rng, (long)rows * rs, type, 2f);
        var qw = EmuTestUtil.Normal(rng, qc, 0.2f, 1f);
        var kw = EmuTestUtil.Normal(rng, kc, 0.2f, 1f);
        var want = qkv.ToArray();
        var q = ReferenceRmsNorm(qkv, qw, rows, qc, 1e-6f, rs, 0);
        var k = ReferenceRmsNorm(qkv, kw, rows, kc, 1e-6f, rs, qc);
        for (int r = 0; r < rows; r++)
        {
            Array.Copy(q, (long)r * qc, want, (long)r * rs, qc);
            Array.Copy(k, (long)r * kc, want, (long)r * rs + qc, kc);
        }
        using var d = Put(be, qkv, type);
        using var dq = be.Upload(qw);
        using var dk = be.Upload(kw);
        be.QkNorm(d, dq, dk, rows, heads, kvHeads, hs, 1e-6f);
        AssertClose(want, Get(be, d, qkv.Length), 1e-6, type == DType.Bf16 ? Bf16Step : 1e-5, $"{backend} qk norm {type} seed {seed}");
    }

    [Theory]
    [InlineData("cpu", DType.F32)]
    [InlineData("cpu", DType.Bf16)]
    [InlineData("cuda", DType.F32)]
    [InlineData("cuda", DType.Bf16)]
    public void Clamp_limits_every_value_and_keeps_nan(string backend, DType type)
    {
        using var be = Make(backend, Precision.Fp32);
        int seed = Random.Shared.Next();
        var x = Values(new Random(seed), 1003, type, 10f);
        x[5] = float.NaN;
        x[6] = float.PositiveInfinity;
        x[7] = float.NegativeInfinity;
        const float limit = 8f;
        var want = x.Select(v => float.IsNaN(v) ? v : Math.Clamp(v, -limit, limit)).ToArray();
        using var d = Put(be, x, type);
        be.Clamp(d, x.Length, limit);
        EmuTestUtil.AssertClose(want, Get(be, d, x.Length), 0, 0, $"{backend} clamp {type} seed {seed}", nanMatchesNan: true);
    }
}

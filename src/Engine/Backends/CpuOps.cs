using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using LearningCurves.Engine.Model;

namespace LearningCurves.Engine.Backends;

/// <summary>
/// The forward-pass operations on host spans, float32. Hot loops use TensorPrimitives (vectorised, scalar tails
/// inside); independent rows or heads run in parallel. The CPU backend and the trainer both call these.
/// </summary>
public static class CpuOps
{
    private const float InvLn2 = 1.4426950408889634f;

    /// <summary>Work below this many floats runs on one thread: forking costs more than it saves.</summary>
    private const int ParallelThreshold = 1 << 15;

    /// <summary>out (B, T, C) = wte[tokens[b, t]] + wpe[t]. tokens (B, T).</summary>
    public static void Embed(Span<float> output, ReadOnlySpan<int> tokens, ReadOnlySpan<float> wte, ReadOnlySpan<float> wpe, int b, int t, int c)
    {
        Check(output.Length >= (long)b * t * c && tokens.Length >= b * t, "embed: buffers too small");
        for (int i = 0; i < b * t; i++)
        {
            int tok = tokens[i], pos = i % t;
            if ((uint)(tok * (long)c) >= (uint)wte.Length) throw new ArgumentOutOfRangeException(nameof(tokens), $"token {tok} outside the embedding table");
            TensorPrimitives.Add(wte.Slice(tok * c, c), wpe.Slice(pos * c, c), output.Slice(i * c, c));
        }
    }

    /// <summary>out (rows, C) = (x - mean) / sqrt(var + eps) * w + bias per row (population variance, float64 sums).</summary>
    public static void LayerNorm(Span<float> output, ReadOnlySpan<float> input, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, int rows, int c, float eps)
    {
        Check(output.Length >= (long)rows * c && input.Length >= (long)rows * c && weight.Length >= c && bias.Length >= c, "layernorm: buffers too small");
        unsafe
        {
            fixed (float* po = output, pi = input, pw = weight, pb = bias)
            {
                float* o = po, x = pi, w = pw, bb = pb;
                For(rows, (long)rows * c, r =>
                {
                    var xr = new ReadOnlySpan<float>(x + (long)r * c, c);
                    var orow = new Span<float>(o + (long)r * c, c);
                    LayerNormRow(orow, xr, new ReadOnlySpan<float>(w, c), new ReadOnlySpan<float>(bb, c), eps);
                });
            }
        }
    }

    /// <summary>One row of layer norm; returns (mean, rstd) for a backward pass. The mean is TensorPrimitives' float32
    /// sum over c, the variance (two passes: safer than E[x^2] - E[x]^2) a vector sum in float64 of the float32
    /// deviations, as the scalar loop before it summed them (the same float mean and, but for the order of float64
    /// additions, the same rstd); the output is one vector pass.</summary>
    public static (float Mean, float Rstd) LayerNormRow(Span<float> output, ReadOnlySpan<float> x, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, float eps)
    {
        int c = x.Length;
        float mean = TensorPrimitives.Sum(x) / c;
        double var = CpuVector.SumOfSquares(x, new VectorOps.Deviation(mean));
        float rstd = (float)(1.0 / Math.Sqrt(var / c + eps));
        CpuVector.Map(x, weight[..c], bias[..c], output, new VectorOps.NormAffine(mean, rstd));
        return (mean, rstd);
    }

    /// <summary>RMSNorm: out (rows, C) = x / sqrt(mean(x^2) + eps) * weight per row (LLaMA, OLMo-2); the mean square
    /// a float64 vector sum, the output one vector pass.</summary>
    public static void RmsNorm(Span<float> output, ReadOnlySpan<float> input, ReadOnlySpan<float> weight, int rows, int c, float eps)
    {
        Check(output.Length >= (long)rows * c && input.Length >= (long)rows * c && weight.Length >= c, "rmsnorm: buffers too small");
        unsafe
        {
            fixed (float* po = output, pi = input, pw = weight)
            {
                float* o = po, x = pi, w = pw;
                For(rows, (long)rows * c, r => RmsNormRow(new Span<float>(o + (long)r * c, c), new ReadOnlySpan<float>(x + (long)r * c, c),
                    new ReadOnlySpan<float>(w, c), eps));
            }
        }
    }

    /// <summary>One row of RMSNorm; returns 1 / rms. The output may be the input (in place).</summary>
    public static float RmsNormRow(Span<float> output, ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float eps)
    {
        int c = x.Length;
        float rstd = (float)(1.0 / Math.Sqrt(CpuVector.SumOfSquares<VectorOps.Identity>(x) / c + eps));
        CpuVector.Map(x, weight[..c], output, new VectorOps.ScaleWeight(rstd));
        return rstd;
    }

    /// <summary>OLMo-2's QK-norm in place on qkv (rows, (NH + 2 NKV) HS): RMSNorm of each row's q (NH HS values, over
    /// all heads, before the head split) with qWeight and of its k (NKV HS values) with kWeight.</summary>
    public static void QkNorm(Span<float> qkv, ReadOnlySpan<float> qWeight, ReadOnlySpan<float> kWeight, int rows, int heads, int kvHeads, int hs, float eps)
    {
        CheckHeads(heads, kvHeads, hs);
        int qc = heads * hs, kc = kvHeads * hs, rs = qc + 2 * kc;
        Check(qkv.Length >= (long)rows * rs && qWeight.Length >= qc && kWeight.Length >= kc, "qk norm: buffers too small");
        for (int r = 0; r < rows; r++)
        {
            var q = qkv.Slice(r * rs, qc);
            RmsNormRow(q, q, qWeight[..qc], eps);
            var k = qkv.Slice(r * rs + qc, kc);
            RmsNormRow(k, k, kWeight[..kc], eps);
        }
    }

    /// <summary>SwiGLU: out (rows, inner) = silu(gate) * up, silu(g) = g sigmoid(g); gate and up rows at row stride
    /// <paramref name="ld"/> (a fused gate|up product: up = gateUp[inner..], ld = 2 inner).</summary>
    public static void SwiGlu(Span<float> output, ReadOnlySpan<float> gate, ReadOnlySpan<float> up, int rows, int inner, int ld)
    {
        Check(ld >= inner && output.Length >= (long)rows * inner, "swiglu: output too small");
        Check(rows == 0 || (gate.Length >= (long)(rows - 1) * ld + inner && up.Length >= (long)(rows - 1) * ld + inner), "swiglu: inputs too small");
        for (int r = 0; r < rows; r++)
            CpuVector.Map<VectorOps.SwiGlu>(gate.Slice(r * ld, inner), up.Slice(r * ld, inner), output.Slice(r * inner, inner));
    }

    /// <summary>x = clamp(x, -limit, limit) in place (OLMo's clip_qkv); NaN stays NaN.</summary>
    public static void Clamp(Span<float> x, float limit)
    {
        for (int i = 0; i < x.Length; i++)
        {
            float v = x[i];
            x[i] = v < -limit ? -limit : (v > limit ? limit : v);
        }
    }

    /// <summary>out (rows, outDim) = input (rows, inDim) @ weight (inDim, outDim) + bias. Conv1D layout, via sgemm.</summary>
    public static void MatMul(Span<float> output, ReadOnlySpan<float> input, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, int rows, int inDim, int outDim)
    {
        Check(output.Length >= (long)rows * outDim, "matmul: output too small");
        float beta = 0;
        if (!bias.IsEmpty)
        {
            Check(bias.Length >= outDim, "matmul: bias too small");
            // Start from the bias and let sgemm accumulate onto it (beta = 1): no second pass over the output.
            for (int r = 0; r < rows; r++) bias[..outDim].CopyTo(output.Slice(r * outDim, outDim));
            beta = 1;
        }
        Blas.Sgemm(false, false, rows, outDim, inDim, 1f, input, weight, beta, output);
    }

    /// <summary>x = gelu(x), tanh form. 0.5 x (1 + tanh(u)) is written as x * sigmoid(2u), the same function. One
    /// vector pass (<see cref="VectorOps.GeluTanh"/>).</summary>
    public static void Gelu(Span<float> x) => CpuVector.Map<VectorOps.GeluTanh>(x, x);

    /// <summary>x = 0.5 x (1 + erf(x / sqrt 2)) in place: the exact GELU (GPT-NeoX's "gelu").</summary>
    /// <remarks>
    /// Written as gelu(x) = max(x, 0) - |x| erfc(|x| / sqrt 2) / 2, which has no cancellation in either tail (for x &lt; 0 it
    /// is the small second term alone). erfc is the Chebyshev-fitted form of Numerical Recipes, erfc(z) = t exp(-z^2 +
    /// P(t)) with t = 1 / (1 + z/2), fractional error below 1.2e-7 everywhere, evaluated in float32 in one vector pass
    /// (<see cref="VectorOps.GeluErf"/>).
    /// </remarks>
    public static void GeluErf(Span<float> x) => CpuVector.Map<VectorOps.GeluErf>(x, x);

    /// <summary>
    /// Rotary position embedding in place on the q and k of qkv (B, T, 3C) (q | k | v, each (NH, HS)) for tokens at
    /// positions past..past+T-1: in each head, dimensions i and i + R/2 (i &lt; R/2, R = <paramref name="rotaryDims"/>)
    /// turn by the angle pos * base^(-2i/R), the rotate_half layout of GPT-NeoX (and LLaMA); dimensions R..HS-1 are
    /// left as they are.
    /// </summary>
    public static void Rotary(Span<float> qkv, int b, int t, int c, int heads, int rotaryDims, RotaryFrequencies rotary, int past)
    {
        Check(heads > 0 && c % heads == 0, "rotary: width must be a multiple of the heads");
        Rotary(qkv, b, t, heads, heads, c / heads, rotaryDims, rotary, past);
    }

    /// <summary>Rotary embedding with grouped-query attention: qkv (B, T, (NH + 2 NKV) HS); the NH q heads and NKV k
    /// heads turn, v does not (see the overload above).</summary>
    public static void Rotary(Span<float> qkv, int b, int t, int heads, int kvHeads, int hs, int rotaryDims, RotaryFrequencies rotary, int past)
    {
        CheckHeads(heads, kvHeads, hs);
        int rs = (heads + 2 * kvHeads) * hs, parts = heads + kvHeads;
        Check(qkv.Length >= (long)b * t * rs, "rotary: qkv too small");
        Check(rotaryDims % 2 == 0 && rotaryDims >= 0 && rotaryDims <= hs, "rotary: dims must be even and at most the head size");
        int half = rotaryDims / 2;
        if (half == 0) return;
        // (T, R/2) angles, shared by every sequence and head.
        var cos = new float[t * half];
        var sin = new float[t * half];
        RotaryTable(t, rotaryDims, rotary, past, cos, sin);
        unsafe
        {
            fixed (float* pq = qkv)
            {
                float* p = pq;
                For(b * t, (long)b * t * parts * hs, r =>
                {
                    var row = new Span<float>(p + (long)r * rs, parts * hs); // q | k of one token
                    var cr = cos.AsSpan((r % t) * half, half);
                    var sr = sin.AsSpan((r % t) * half, half);
                    Span<float> x1c = stackalloc float[half];
                    Span<float> tmp = stackalloc float[half];
                    for (int part = 0; part < parts; part++)
                    {
                        var x1 = row.Slice(part * hs, half);
                        var x2 = row.Slice(part * hs + half, half);
                        x1.CopyTo(x1c);
                        // x1' = x1 cos - x2 sin; x2' = x2 cos + x1 sin
                        TensorPrimitives.Multiply(x1c, cr, x1);
                        TensorPrimitives.Multiply(x2, sr, tmp);
                        TensorPrimitives.Subtract(x1, tmp, x1);
                        TensorPrimitives.Multiply(x2, cr, x2);
                        TensorPrimitives.Multiply(x1c, sr, tmp);
                        TensorPrimitives.Add(x2, tmp, x2);
                    }
                });
            }
        }
    }

    /// <summary>cos and sin (T, R/2) of the rotary angles (past + t) * inv_freq(i) (<see cref="RotaryFrequencies.InvFreq"/>:
    /// theta^(-2i/R), scaled as the config asks), computed in double and rounded once (the angle reaches thousands of
    /// radians at long contexts, where a float angle would be off by ~1e-4); shared with the CUDA backend, which uploads
    /// this table rather than evaluating trigonometry on the device.</summary>
    public static void RotaryTable(int t, int rotaryDims, RotaryFrequencies rotary, int past, Span<float> cos, Span<float> sin)
    {
        int half = rotaryDims / 2;
        Check(cos.Length >= (long)t * half && sin.Length >= (long)t * half, "rotary table: buffers too small");
        var invFreq = new double[half];
        for (int i = 0; i < half; i++) invFreq[i] = rotary.InvFreq(i, rotaryDims);
        for (int ti = 0; ti < t; ti++)
        {
            for (int i = 0; i < half; i++)
            {
                double angle = (past + ti) * invFreq[i];
                cos[ti * half + i] = (float)Math.Cos(angle);
                sin[ti * half + i] = (float)Math.Sin(angle);
            }
        }
    }

    /// <summary>x += y.</summary>
    public static void Add(Span<float> x, ReadOnlySpan<float> y)
    {
        Check(y.Length >= x.Length, "add: y too small");
        CpuVector.Map<VectorOps.Add>(x, y[..x.Length], x);
    }

    /// <summary>x (rows, cols) += y (rows, cols) + bias (cols), as x + (y + bias) per element (kernels.cu's
    /// residual_bias_add), one vector pass per row.</summary>
    public static void AddBias(Span<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> bias, int rows, int cols)
    {
        long n = (long)rows * cols;
        Check(x.Length >= n && y.Length >= n && bias.Length >= cols, "add bias: buffers too small");
        for (int r = 0; r < rows; r++)
        {
            var xr = x.Slice(r * cols, cols);
            CpuVector.Map<VectorOps.AddSum>(xr, y.Slice(r * cols, cols), bias[..cols], xr);
        }
    }

    /// <summary>Causal self-attention. qkv (B, T, 3C) = q | k | v; out (B, T, C). One (batch, head) pair per task.</summary>
    public static void Attention(Span<float> output, ReadOnlySpan<float> qkv, int b, int t, int c, int heads, float scale) =>
        Attention(output, qkv, b, t, heads, heads, c / heads, scale);

    /// <summary>Causal self-attention with grouped-query attention: qkv (B, T, (NH + 2 NKV) HS) = q (NH heads) | k (NKV
    /// heads) | v (NKV heads); q head h reads k/v head h / (NH / NKV). out (B, T, NH HS).</summary>
    public static void Attention(Span<float> output, ReadOnlySpan<float> qkv, int b, int t, int heads, int kvHeads, int hs, float scale)
    {
        CheckHeads(heads, kvHeads, hs);
        int c = heads * hs, rs = (heads + 2 * kvHeads) * hs, group = heads / kvHeads;
        Check(output.Length >= (long)b * t * c && qkv.Length >= (long)b * t * rs, "attention: buffers too small");
        unsafe
        {
            fixed (float* po = output, pq = qkv)
            {
                float* o = po, q = pq;
                For(b * heads, (long)b * t * t * c, bh =>
                {
                    int bi = bh / heads, h = bh % heads;
                    float* kBase = q + (long)bi * t * rs + c + (h / group) * hs;
                    Span<float> att = stackalloc float[t];
                    for (int tq = 0; tq < t; tq++)
                    {
                        var query = new ReadOnlySpan<float>(q + (long)(bi * t + tq) * rs + h * hs, hs);
                        var orow = new Span<float>(o + (long)(bi * t + tq) * c + h * hs, hs);
                        AttendOne(orow, query, kBase, kBase + kvHeads * hs, rs, tq + 1, scale, att);
                    }
                });
            }
        }
    }

    private static void CheckHeads(int heads, int kvHeads, int hs) =>
        Check(heads > 0 && kvHeads > 0 && heads % kvHeads == 0 && hs > 0,
            $"attention: {heads} heads must be a positive multiple of {kvHeads} kv heads (head size {hs})");

    /// <summary>One query against n keys/values found at k0 + j * stride, v0 + j * stride; out (HS).
    /// Head sizes are short (16-128), so the dot products and updates are inlined vector loops rather than
    /// TensorPrimitives calls, whose per-call cost dominates at these lengths.</summary>
    private static unsafe void AttendOne(Span<float> output, ReadOnlySpan<float> query, float* k0, float* v0, int stride, int n, float scale, Span<float> att)
    {
        int hs = query.Length;
        var scores = att[..n];
        fixed (float* q = query, o = output)
        {
            for (int j = 0; j < n; j++) scores[j] = Dot(q, k0 + (long)j * stride, hs) * scale;
            float max = TensorPrimitives.Max(scores);
            TensorPrimitives.Subtract(scores, max, scores);
            TensorPrimitives.Exp(scores, scores);
            float inv = 1f / TensorPrimitives.Sum(scores);
            output.Clear();
            for (int j = 0; j < n; j++) Axpy(o, v0 + (long)j * stride, scores[j] * inv, hs);
        }
    }

    private static unsafe float Dot(float* a, float* b, int n)
    {
        int w = Vector<float>.Count, i = 0;
        var acc = Vector<float>.Zero;
        for (; i <= n - w; i += w) acc += Unsafe.Read<Vector<float>>(a + i) * Unsafe.Read<Vector<float>>(b + i);
        float s = Vector.Sum(acc);
        for (; i < n; i++) s += a[i] * b[i];
        return s;
    }

    /// <summary>y += alpha x.</summary>
    private static unsafe void Axpy(float* y, float* x, float alpha, int n)
    {
        int w = Vector<float>.Count, i = 0;
        var va = new Vector<float>(alpha);
        for (; i <= n - w; i += w) Unsafe.Write(y + i, Unsafe.Read<Vector<float>>(y + i) + va * Unsafe.Read<Vector<float>>(x + i));
        for (; i < n; i++) y[i] += alpha * x[i];
    }

    /// <summary>Incremental attention: new keys/values of qkv (B, Tnew, 3C) go into kCache, vCache (B, maxT, C) at
    /// past..past+Tnew-1; each new query attends to cached positions 0..its own. out (B, Tnew, C).</summary>
    public static void AttentionCached(Span<float> output, ReadOnlySpan<float> qkv, Span<float> kCache, Span<float> vCache,
        int b, int tNew, int past, int maxT, int c, int heads, float scale) =>
        AttentionCached(output, qkv, kCache, vCache, b, tNew, past, maxT, heads, heads, c / heads, scale);

    /// <summary>Incremental attention with grouped-query attention: qkv (B, Tnew, (NH + 2 NKV) HS), caches (B, maxT,
    /// NKV HS), out (B, Tnew, NH HS); as <see cref="Attention(Span{float}, ReadOnlySpan{float}, int, int, int, int, int, float)"/>.</summary>
    public static void AttentionCached(Span<float> output, ReadOnlySpan<float> qkv, Span<float> kCache, Span<float> vCache,
        int b, int tNew, int past, int maxT, int heads, int kvHeads, int hs, float scale)
    {
        CheckHeads(heads, kvHeads, hs);
        int c = heads * hs, kvc = kvHeads * hs, rs = c + 2 * kvc, group = heads / kvHeads;
        Check(past >= 0 && past + tNew <= maxT, $"attention cache: positions {past}..{past + tNew - 1} outside 0..{maxT - 1}");
        Check(kCache.Length >= (long)b * maxT * kvc && vCache.Length >= (long)b * maxT * kvc, "attention cache: caches too small");
        Check(output.Length >= (long)b * tNew * c && qkv.Length >= (long)b * tNew * rs, "attention cache: buffers too small");
        for (int bi = 0; bi < b; bi++)
        {
            for (int i = 0; i < tNew; i++)
            {
                long src = (long)(bi * tNew + i) * rs, dst = (long)(bi * maxT + past + i) * kvc;
                qkv.Slice((int)(src + c), kvc).CopyTo(kCache.Slice((int)dst, kvc));
                qkv.Slice((int)(src + c + kvc), kvc).CopyTo(vCache.Slice((int)dst, kvc));
            }
        }
        unsafe
        {
            fixed (float* po = output, pq = qkv, pk = kCache, pv = vCache)
            {
                float* o = po, q = pq, k = pk, v = pv;
                For(b * heads, (long)b * tNew * (past + tNew) * c, bh =>
                {
                    int bi = bh / heads, h = bh % heads;
                    long kv = (long)bi * maxT * kvc + (h / group) * hs;
                    Span<float> att = stackalloc float[past + tNew];
                    for (int i = 0; i < tNew; i++)
                    {
                        var query = new ReadOnlySpan<float>(q + (long)(bi * tNew + i) * rs + h * hs, hs);
                        var orow = new Span<float>(o + (long)(bi * tNew + i) * c + h * hs, hs);
                        AttendOne(orow, query, k + kv, v + kv, kvc, past + i + 1, scale, att);
                    }
                });
            }
        }
    }

    /// <summary>out (count, C) = input[rows[i], :].</summary>
    public static void GatherRows(Span<float> output, ReadOnlySpan<float> input, ReadOnlySpan<int> rows, int count, int c)
    {
        for (int i = 0; i < count; i++)
        {
            int r = rows[i];
            if (r < 0 || (long)(r + 1) * c > input.Length) throw new ArgumentOutOfRangeException(nameof(rows), $"row {r} outside the input");
            input.Slice(r * c, c).CopyTo(output.Slice(i * c, c));
        }
    }

    /// <summary>Columns of the vocabulary per sgemm in the head: big enough for sgemm efficiency, small enough that
    /// (M, chunk) logits stay in cache-friendly sizes.</summary>
    private const int HeadChunk = 2048;

    /// <summary>out (M) = surprisal in bits of targets[m] under softmax(hidden[m] @ head^T), by an online max/sum over
    /// vocabulary chunks: logits are computed chunk by chunk and never normalized or stored whole.</summary>
    public static void Surprisal(Span<float> output, ReadOnlySpan<float> hidden, ReadOnlySpan<float> head, ReadOnlySpan<int> targets, int m, int c, int v)
    {
        Check(output.Length >= m && hidden.Length >= (long)m * c && head.Length >= (long)v * c && targets.Length >= m, "surprisal: buffers too small");
        for (int i = 0; i < m; i++)
        {
            if ((uint)targets[i] >= (uint)v) throw new ArgumentOutOfRangeException(nameof(targets), $"target {targets[i]} outside 0..{v - 1}");
        }
        var tg = targets[..m].ToArray();
        var runMax = new float[m];
        var runSum = new double[m];
        var targetLogit = new float[m];
        runMax.AsSpan().Fill(float.NegativeInfinity);
        int chunk = Math.Min(HeadChunk, v);
        var logits = new float[(long)m * chunk]; // (M, chunk)
        for (int v0 = 0; v0 < v; v0 += chunk)
        {
            int vc = Math.Min(chunk, v - v0);
            Blas.Sgemm(false, true, m, vc, c, 1f, hidden, head.Slice(v0 * c, vc * c), 0f, logits);
            For(m, (long)m * vc, i =>
            {
                var z = logits.AsSpan(i * vc, vc);
                int local = tg[i] - v0;
                if ((uint)local < (uint)vc) targetLogit[i] = z[local];
                float cmax = TensorPrimitives.Max(z);
                TensorPrimitives.Subtract(z, cmax, z);
                TensorPrimitives.Exp(z, z);
                double csum = TensorPrimitives.Sum(z);
                if (cmax > runMax[i])
                {
                    runSum[i] = runSum[i] * Math.Exp(runMax[i] - cmax) + csum;
                    runMax[i] = cmax;
                }
                else
                {
                    runSum[i] += csum * Math.Exp(cmax - runMax[i]);
                }
            });
        }
        for (int i = 0; i < m; i++)
            output[i] = (float)((runMax[i] + Math.Log(runSum[i]) - targetLogit[i]) * InvLn2);
    }

    /// <summary>out (M, V) = hidden (M, C) @ head (V, C)^T.</summary>
    public static void Logits(Span<float> output, ReadOnlySpan<float> hidden, ReadOnlySpan<float> head, int m, int c, int v) =>
        Blas.Sgemm(false, true, m, v, c, 1f, hidden, head, 0f, output);

    /// <summary>Rounds each value to the nearest bfloat16 (ties to even), kept as float: the CPU's model of bf16 weights.</summary>
    public static void RoundToBf16(Span<float> x)
    {
        for (int i = 0; i < x.Length; i++)
        {
            uint bits = BitConverter.SingleToUInt32Bits(x[i]);
            if (float.IsNaN(x[i])) continue;
            bits += 0x7FFFu + ((bits >> 16) & 1u);
            x[i] = BitConverter.UInt32BitsToSingle(bits & 0xFFFF0000u);
        }
    }

    private static void For(int count, long work, Action<int> body)
    {
        if (count > 1 && work >= ParallelThreshold) Parallel.For(0, count, body);
        else for (int i = 0; i < count; i++) body(i);
    }

    private static void Check(bool ok, string what)
    {
        if (!ok) throw new ArgumentException(what);
    }
}

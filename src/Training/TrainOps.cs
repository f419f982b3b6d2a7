using System.Numerics.Tensors;
using LearningCurves.Engine.Backends;

namespace LearningCurves.Training;

/// <summary>
/// Forward pieces that keep what the backward pass needs, and their backward passes. All float32 spans, row-major;
/// matrix products go to OpenBLAS (<see cref="Blas.Sgemm"/>), row-wise work is split over cores.
/// </summary>
internal static class TrainOps
{
    // Rows per parallel chunk: big enough that scheduling costs nothing next to the work.
    private const int RowChunk = 64;

    private static void ForRows(int rows, Action<int, int> body)
    {
        int chunks = (rows + RowChunk - 1) / RowChunk;
        if (chunks <= 1) { body(0, rows); return; }
        Parallel.For(0, chunks, k => body(k * RowChunk, Math.Min(rows, (k + 1) * RowChunk)));
    }

    /// <summary>out (B, T, C) = wte[tokens] + wpe[t] (the engine's embedding op on the flat parameters).</summary>
    public static void Embed(float[] output, int[] tokens, float[] param, int wteOff, int wpeOff, int b, int t, int c, int vocab, int positions) =>
        CpuOps.Embed(output, tokens.AsSpan(0, b * t), param.AsSpan(wteOff, vocab * c), param.AsSpan(wpeOff, positions * c), b, t, c);

    /// <summary>dwte[tokens] += dout, dwpe[t] += dout. Serial: tokens repeat, so rows would collide.</summary>
    public static void EmbedBackward(float[] grad, float[] dout, int[] tokens, int wteOff, int wpeOff, int b, int t, int c)
    {
        for (int i = 0; i < b * t; i++)
        {
            var d = dout.AsSpan(i * c, c);
            var gw = grad.AsSpan(wteOff + tokens[i] * c, c);
            TensorPrimitives.Add(gw, d, gw);
            var gp = grad.AsSpan(wpeOff + (i % t) * c, c);
            TensorPrimitives.Add(gp, d, gp);
        }
    }

    /// <summary>out (N, C) = layer norm of x with weight/bias at wOff/bOff (the engine's row op); keeps mean and
    /// 1/std per row for the backward pass.</summary>
    public static void LayerNorm(float[] output, float[] mean, float[] rstd, float[] x, float[] param, int wOff, int bOff,
        int n, int c, float eps)
    {
        ForRows(n, (lo, hi) =>
        {
            var w = param.AsSpan(wOff, c);
            var bias = param.AsSpan(bOff, c);
            for (int r = lo; r < hi; r++)
                (mean[r], rstd[r]) = CpuOps.LayerNormRow(output.AsSpan(r * c, c), x.AsSpan(r * c, c), w, bias, eps);
        });
    }

    /// <summary>dx += layer norm backward; dweight, dbias accumulated into grad at wOff/bOff.</summary>
    public static void LayerNormBackward(float[] dx, float[] grad, float[] dout, float[] x, float[] mean, float[] rstd,
        float[] param, int wOff, int bOff, int n, int c)
    {
        ForRows(n, (lo, hi) =>
        {
            var w = param.AsSpan(wOff, c);
            Span<float> xhat = c <= 1024 ? stackalloc float[c] : new float[c];
            Span<float> dxhat = c <= 1024 ? stackalloc float[c] : new float[c];
            for (int r = lo; r < hi; r++)
            {
                var xr = x.AsSpan(r * c, c);
                var dr = dout.AsSpan(r * c, c);
                float m = mean[r], s = rstd[r];
                float sumD = 0, sumDX = 0;
                for (int j = 0; j < c; j++)
                {
                    xhat[j] = (xr[j] - m) * s;
                    dxhat[j] = dr[j] * w[j];
                    sumD += dxhat[j];
                    sumDX += dxhat[j] * xhat[j];
                }
                sumD /= c;
                sumDX /= c;
                var g = dx.AsSpan(r * c, c);
                for (int j = 0; j < c; j++) g[j] += s * (dxhat[j] - sumD - xhat[j] * sumDX);
            }
        });
        // Weight and bias gradients sum over rows; column-wise here so no two threads write the same element.
        var dw = grad.AsSpan(wOff, c);
        var db = grad.AsSpan(bOff, c);
        for (int r = 0; r < n; r++)
        {
            var dr = dout.AsSpan(r * c, c);
            float m = mean[r], s = rstd[r];
            var xr = x.AsSpan(r * c, c);
            for (int j = 0; j < c; j++)
            {
                dw[j] += dr[j] * (xr[j] - m) * s;
                db[j] += dr[j];
            }
        }
    }

    /// <summary>out (N, OC) = inp (N, IC) @ W (IC, OC) + bias (OC). Conv1D layout, the engine's sgemm op.</summary>
    public static void MatMul(float[] output, float[] inp, float[] param, int wOff, int bOff, int n, int ic, int oc) =>
        CpuOps.MatMul(output.AsSpan(0, n * oc), inp.AsSpan(0, n * ic), param.AsSpan(wOff, ic * oc), param.AsSpan(bOff, oc), n, ic, oc);

    /// <summary>dinp += dout @ W^T; dW += inp^T @ dout; dbias += column sums of dout.</summary>
    public static void MatMulBackward(float[] dinp, float[] grad, float[] dout, float[] inp, float[] param, int wOff, int bOff,
        int n, int ic, int oc)
    {
        Blas.Sgemm(false, true, n, ic, oc, 1f, dout.AsSpan(0, n * oc), param.AsSpan(wOff, ic * oc), 1f, dinp.AsSpan(0, n * ic));
        Blas.Sgemm(true, false, ic, oc, n, 1f, inp.AsSpan(0, n * ic), dout.AsSpan(0, n * oc), 1f, grad.AsSpan(wOff, ic * oc));
        var db = grad.AsSpan(bOff, oc);
        for (int r = 0; r < n; r++) TensorPrimitives.Add(db, dout.AsSpan(r * oc, oc), db);
    }

    private const float GeluK = 0.7978845608028654f; // sqrt(2 / pi)
    private const float GeluC = 0.044715f;

    /// <summary>out = gelu(x), tanh form; x is kept for the backward pass.</summary>
    public static void Gelu(float[] output, float[] x, int count)
    {
        x.AsSpan(0, count).CopyTo(output);
        CpuOps.Gelu(output.AsSpan(0, count));
    }

    /// <summary>dx += dout * gelu'(x).</summary>
    public static void GeluBackward(float[] dx, float[] dout, float[] x, int count)
    {
        ForRows((count + 1023) / 1024, (lo, hi) =>
        {
            int end = Math.Min(count, hi * 1024);
            for (int i = lo * 1024; i < end; i++)
            {
                float v = x[i];
                float th = MathF.Tanh(GeluK * (v + GeluC * v * v * v));
                float d = 0.5f * (1f + th) + 0.5f * v * (1f - th * th) * GeluK * (1f + 3f * GeluC * v * v);
                dx[i] += dout[i] * d;
            }
        });
    }

    /// <summary>
    /// Causal attention. qkv (B, T, 3C) = q | k | v; att (B, NH, T, T) keeps the probabilities (row t uses 0..t);
    /// out (B, T, C).
    /// </summary>
    public static void Attention(float[] output, float[] att, float[] qkv, int b, int t, int c, int nh, float scale)
    {
        int hs = c / nh, c3 = 3 * c;
        Parallel.For(0, b * nh, bh =>
        {
            int bi = bh / nh, h = bh % nh;
            for (int ti = 0; ti < t; ti++)
            {
                var q = qkv.AsSpan((bi * t + ti) * c3 + h * hs, hs);
                var p = att.AsSpan(((bi * nh + h) * t + ti) * t, t);
                float max = float.NegativeInfinity;
                for (int t2 = 0; t2 <= ti; t2++)
                {
                    float s = TensorPrimitives.Dot(q, qkv.AsSpan((bi * t + t2) * c3 + c + h * hs, hs)) * scale;
                    p[t2] = s;
                    if (s > max) max = s;
                }
                float sum = 0;
                for (int t2 = 0; t2 <= ti; t2++) { float e = MathF.Exp(p[t2] - max); p[t2] = e; sum += e; }
                float inv = 1f / sum;
                for (int t2 = 0; t2 <= ti; t2++) p[t2] *= inv;
                p[(ti + 1)..].Clear();
                var o = output.AsSpan((bi * t + ti) * c + h * hs, hs);
                o.Clear();
                for (int t2 = 0; t2 <= ti; t2++)
                {
                    var v = qkv.AsSpan((bi * t + t2) * c3 + 2 * c + h * hs, hs);
                    TensorPrimitives.MultiplyAdd(v, p[t2], o, o);
                }
            }
        });
    }

    /// <summary>dqkv += attention backward, given dout (B, T, C) and the kept probabilities.</summary>
    public static void AttentionBackward(float[] dqkv, float[] dout, float[] att, float[] qkv, int b, int t, int c, int nh, float scale)
    {
        int hs = c / nh, c3 = 3 * c;
        // Each (batch, head) owns disjoint columns of dqkv, so the work splits over them without locks.
        Parallel.For(0, b * nh, bh =>
        {
            int bi = bh / nh, h = bh % nh;
            Span<float> dp = t <= 2048 ? stackalloc float[t] : new float[t];
            for (int ti = 0; ti < t; ti++)
            {
                var p = att.AsSpan(((bi * nh + h) * t + ti) * t, t);
                var d = dout.AsSpan((bi * t + ti) * c + h * hs, hs);
                float dot = 0;
                for (int t2 = 0; t2 <= ti; t2++)
                {
                    int row = (bi * t + t2) * c3;
                    var v = qkv.AsSpan(row + 2 * c + h * hs, hs);
                    var dv = dqkv.AsSpan(row + 2 * c + h * hs, hs);
                    TensorPrimitives.MultiplyAdd(d, p[t2], dv, dv);
                    dp[t2] = TensorPrimitives.Dot(d, v);
                    dot += dp[t2] * p[t2];
                }
                int qrow = (bi * t + ti) * c3 + h * hs;
                var q = qkv.AsSpan(qrow, hs);
                var dq = dqkv.AsSpan(qrow, hs);
                for (int t2 = 0; t2 <= ti; t2++)
                {
                    float ds = p[t2] * (dp[t2] - dot) * scale;
                    int krow = (bi * t + t2) * c3 + c + h * hs;
                    TensorPrimitives.MultiplyAdd(qkv.AsSpan(krow, hs), ds, dq, dq);
                    var dk = dqkv.AsSpan(krow, hs);
                    TensorPrimitives.MultiplyAdd(q, ds, dk, dk);
                }
            }
        });
    }

    /// <summary>
    /// In place: logits (N, V) become dloss/dlogits = (softmax - onehot(target)) * gradScale. Returns the summed
    /// cross-entropy in nats (double accumulation) over the N rows. <paramref name="zeroLogits"/> more classes with
    /// logit exactly 0 (frozen all-zero head rows outside the matrix) join the softmax's normalizer.
    /// </summary>
    public static double SoftmaxCrossEntropy(float[] logits, int[] targets, int n, int v, float gradScale, int zeroLogits = 0)
    {
        var losses = new double[n];
        ForRows(n, (lo, hi) =>
        {
            for (int r = lo; r < hi; r++)
            {
                var z = logits.AsSpan(r * v, v);
                int tgt = targets[r];
                // The loss comes from the shifted target logit, not log(p[target]), which underflows for hopeless targets.
                float max = TensorPrimitives.Max(z);
                if (zeroLogits > 0) max = Math.Max(max, 0f);
                float shiftedTarget = z[tgt] - max;
                TensorPrimitives.Subtract(z, max, z);
                TensorPrimitives.Exp(z, z);
                double sum = TensorPrimitives.Sum(z) + zeroLogits * Math.Exp(-max);
                losses[r] = Math.Log(sum) - shiftedTarget;
                TensorPrimitives.Multiply(z, (float)(gradScale / sum), z);
                z[tgt] -= gradScale;
            }
        });
        double total = 0;
        foreach (var l in losses) total += l;
        return total;
    }

    /// <summary>Squared L2 norm of a vector, double accumulation over vectorised float partial sums.</summary>
    public static double SumSquares(ReadOnlySpan<float> x)
    {
        double total = 0;
        const int block = 4096;
        for (int i = 0; i < x.Length; i += block)
        {
            var s = x.Slice(i, Math.Min(block, x.Length - i));
            total += TensorPrimitives.SumOfSquares(s);
        }
        return total;
    }
}

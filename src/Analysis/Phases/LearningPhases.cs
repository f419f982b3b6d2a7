using System.Numerics;
using System.Runtime.InteropServices;
using LearningCurves.Analysis.Statistics;

namespace LearningCurves.Analysis.Phases;

/// <summary>
/// How a model's surprisals relate to n-gram surprisals over training (the paper's evidence that unigram statistics are
/// learned first and longer n-grams later).
/// </summary>
/// <param name="Steps">Training step of each checkpoint.</param>
/// <param name="MeanR">[checkpoint][n - 1]: Pearson r between model and n-gram surprisal, mean over runs.</param>
/// <param name="SdR">[checkpoint][n - 1]: its sample SD over runs (0 with one run).</param>
/// <param name="CrossRunR">[checkpoint]: mean Pearson r between the surprisals of every pair of runs (NaN with one run).</param>
/// <param name="CrossRunSd">[checkpoint]: SD of those pairwise r.</param>
/// <param name="PeakIndex">[n - 1]: checkpoint index where the mean r of that n is highest (the first on ties).</param>
/// <param name="PeakStep">[n - 1]: the step of that checkpoint.</param>
public sealed record LearningPhases(
    IReadOnlyList<long> Steps,
    double[][] MeanR,
    double[][] SdR,
    double[] CrossRunR,
    double[] CrossRunSd,
    int[] PeakIndex,
    long[] PeakStep);

/// <summary>Pure functions over arrays computing <see cref="LearningPhases"/>.</summary>
public static class LearningPhaseAnalysis
{
    // Float partial sums are flushed to double every block: vector speed, double accuracy over millions of examples.
    private const int Block = 2048;

    /// <summary>
    /// <paramref name="surprisal"/>[run][checkpoint][example] (float, finite), <paramref name="ngramSurprisal"/>[n - 1][example]
    /// (n = 1..5), <paramref name="steps"/>[checkpoint]. Parallel over runs x checkpoints.
    /// </summary>
    public static LearningPhases Compute(IReadOnlyList<IReadOnlyList<float[]>> surprisal, IReadOnlyList<double[]> ngramSurprisal, IReadOnlyList<long> steps)
    {
        ArgumentNullException.ThrowIfNull(surprisal);
        ArgumentNullException.ThrowIfNull(ngramSurprisal);
        ArgumentNullException.ThrowIfNull(steps);
        int runs = surprisal.Count, ckpts = steps.Count, orders = ngramSurprisal.Count;
        if (runs == 0) throw new ArgumentException("no runs", nameof(surprisal));
        if (orders == 0) throw new ArgumentException("no n-gram orders", nameof(ngramSurprisal));
        int n = ngramSurprisal[0].Length;
        foreach (var g in ngramSurprisal) if (g.Length != n) throw new ArgumentException("n-gram orders differ in length", nameof(ngramSurprisal));
        foreach (var run in surprisal)
        {
            if (run.Count != ckpts) throw new ArgumentException($"a run has {run.Count} checkpoints, steps {ckpts}", nameof(surprisal));
            foreach (var c in run) if (c.Length != n) throw new ArgumentException($"a checkpoint has {c.Length} examples, the n-gram surprisals {n}", nameof(surprisal));
        }

        // Centred n-gram series (float, for the vector kernels) and their norms.
        var centred = new float[orders][];
        var norms = new double[orders];
        for (int k = 0; k < orders; k++)
        {
            double mean = ngramSurprisal[k].Average();
            centred[k] = new float[n];
            double ss = 0;
            for (int i = 0; i < n; i++)
            {
                double d = ngramSurprisal[k][i] - mean;
                centred[k][i] = (float)d;
                ss += d * d;
            }
            norms[k] = Math.Sqrt(ss);
        }

        var r = new double[runs * ckpts * orders];
        var means = new double[runs * ckpts];
        var sds = new double[runs * ckpts];
        Parallel.For(0, runs * ckpts, rc =>
        {
            var x = surprisal[rc / ckpts][rc % ckpts];
            double mean = Mean(x);
            double ss = CentredSquares(x, (float)mean, out double shift);
            // ss is about the float mean; correct it to the exact mean (shift = mean of x - float mean).
            ss -= n * shift * shift;
            means[rc] = mean;
            sds[rc] = Math.Sqrt(Math.Max(ss, 0));
            for (int k = 0; k < orders; k++)
            {
                // sum (x - m) c = sum x c, because the centred series sums to (nearly) zero; use x - m anyway for accuracy.
                double dot = CentredDot(x, (float)mean, centred[k]);
                r[rc * orders + k] = Math.Clamp(dot / (sds[rc] * norms[k]), -1, 1);
            }
        });

        var meanR = new double[ckpts][];
        var sdR = new double[ckpts][];
        var tmp = new double[runs];
        for (int c = 0; c < ckpts; c++)
        {
            meanR[c] = new double[orders];
            sdR[c] = new double[orders];
            for (int k = 0; k < orders; k++)
            {
                for (int run = 0; run < runs; run++) tmp[run] = r[(run * ckpts + c) * orders + k];
                var s = MeanSd.Of(tmp);
                meanR[c][k] = s.Mean;
                sdR[c][k] = s.Sd;
            }
        }

        var cross = new double[ckpts];
        var crossSd = new double[ckpts];
        Parallel.For(0, ckpts, c =>
        {
            var pairs = new List<double>();
            for (int a = 0; a < runs; a++)
                for (int b = a + 1; b < runs; b++)
                {
                    double dot = CentredCross(surprisal[a][c], (float)means[a * ckpts + c], surprisal[b][c], (float)means[b * ckpts + c]);
                    pairs.Add(Math.Clamp(dot / (sds[a * ckpts + c] * sds[b * ckpts + c]), -1, 1));
                }
            var s = MeanSd.Of(pairs.ToArray());
            cross[c] = s.Mean;
            crossSd[c] = s.Sd;
        });

        var peak = new int[orders];
        var peakStep = new long[orders];
        for (int k = 0; k < orders; k++)
        {
            int best = -1;
            for (int c = 0; c < ckpts; c++)
                if (!double.IsNaN(meanR[c][k]) && (best < 0 || meanR[c][k] > meanR[best][k])) best = c;
            peak[k] = best;
            peakStep[k] = best < 0 ? -1 : steps[best];
        }
        return new LearningPhases(steps.ToArray(), meanR, sdR, cross, crossSd, peak, peakStep);
    }

    private static double Mean(ReadOnlySpan<float> x)
    {
        double total = 0;
        for (int b = 0; b < x.Length; b += Block)
        {
            var part = x.Slice(b, Math.Min(Block, x.Length - b));
            var v = MemoryMarshal.Cast<float, Vector<float>>(part);
            var acc = Vector<float>.Zero;
            for (int i = 0; i < v.Length; i++) acc += v[i];
            double s = Vector.Sum(acc);
            for (int i = v.Length * Vector<float>.Count; i < part.Length; i++) s += part[i];
            total += s;
        }
        return x.Length == 0 ? double.NaN : total / x.Length;
    }

    // sum (x - m)^2 with m the float mean; also returns mean(x - m), the offset to correct for.
    private static double CentredSquares(ReadOnlySpan<float> x, float m, out double shift)
    {
        double total = 0, lin = 0;
        var vm = new Vector<float>(m);
        for (int b = 0; b < x.Length; b += Block)
        {
            var part = x.Slice(b, Math.Min(Block, x.Length - b));
            var v = MemoryMarshal.Cast<float, Vector<float>>(part);
            var acc = Vector<float>.Zero;
            var accLin = Vector<float>.Zero;
            for (int i = 0; i < v.Length; i++)
            {
                var d = v[i] - vm;
                acc += d * d;
                accLin += d;
            }
            double s = Vector.Sum(acc), l = Vector.Sum(accLin);
            for (int i = v.Length * Vector<float>.Count; i < part.Length; i++)
            {
                double d = part[i] - m;
                s += d * d;
                l += d;
            }
            total += s;
            lin += l;
        }
        shift = lin / x.Length;
        return total;
    }

    private static double CentredDot(ReadOnlySpan<float> x, float m, ReadOnlySpan<float> c)
    {
        double total = 0;
        var vm = new Vector<float>(m);
        for (int b = 0; b < x.Length; b += Block)
        {
            int len = Math.Min(Block, x.Length - b);
            var px = x.Slice(b, len);
            var pc = c.Slice(b, len);
            var vx = MemoryMarshal.Cast<float, Vector<float>>(px);
            var vc = MemoryMarshal.Cast<float, Vector<float>>(pc);
            var acc = Vector<float>.Zero;
            for (int i = 0; i < vx.Length; i++) acc += (vx[i] - vm) * vc[i];
            double s = Vector.Sum(acc);
            for (int i = vx.Length * Vector<float>.Count; i < len; i++) s += (px[i] - m) * (double)pc[i];
            total += s;
        }
        return total;
    }

    private static double CentredCross(ReadOnlySpan<float> a, float ma, ReadOnlySpan<float> b, float mb)
    {
        double total = 0;
        var vma = new Vector<float>(ma);
        var vmb = new Vector<float>(mb);
        double la = 0, lb = 0;
        for (int o = 0; o < a.Length; o += Block)
        {
            int len = Math.Min(Block, a.Length - o);
            var pa = a.Slice(o, len);
            var pb = b.Slice(o, len);
            var va = MemoryMarshal.Cast<float, Vector<float>>(pa);
            var vb = MemoryMarshal.Cast<float, Vector<float>>(pb);
            var acc = Vector<float>.Zero;
            var accA = Vector<float>.Zero;
            var accB = Vector<float>.Zero;
            for (int i = 0; i < va.Length; i++)
            {
                var da = va[i] - vma;
                var db = vb[i] - vmb;
                acc += da * db;
                accA += da;
                accB += db;
            }
            double s = Vector.Sum(acc), sa = Vector.Sum(accA), sb = Vector.Sum(accB);
            for (int i = va.Length * Vector<float>.Count; i < len; i++)
            {
                double da = pa[i] - ma, db = pb[i] - mb;
                s += da * db;
                sa += da;
                sb += db;
            }
            total += s;
            la += sa;
            lb += sb;
        }
        // Correct for the float means: sum (a - ma')(b - mb') = sum (a - ma)(b - mb) + n da db with da = mean(a - ma).
        return total - la * lb / a.Length;
    }
}

namespace LearningCurves.Analysis.Metrics;

/// <summary>
/// The 4-parameter logistic of Chang &amp; Bergen (2022), decreasing from <see cref="Upper"/> to <see cref="Lower"/>:
/// f(x) = upper - (upper - lower) / (1 + exp((xmid - x) / scale)), fitted to a raw curve by least squares with a
/// Levenberg-Marquardt iteration (Marquardt's diagonal scaling, step acceptance on decrease of the residual sum of
/// squares, exponential overflow guarded). A negative scale gives an increasing curve.
/// </summary>
public readonly record struct SigmoidFit(double Upper, double Lower, double XMid, double Scale, double Sse, int Iterations)
{
    /// <summary>f(x).</summary>
    public double Evaluate(double x) => Upper - (Upper - Lower) * Logistic((x - XMid) / Scale);

    // 1 / (1 + exp(-z)) without overflow for either sign of z.
    private static double Logistic(double z)
    {
        if (z >= 0) return 1 / (1 + Math.Exp(-z));
        double e = Math.Exp(z);
        return e / (1 + e);
    }

    /// <summary>
    /// The first x in [x0, x1] where the fitted curve is at or below <paramref name="threshold"/>, solved in closed
    /// form and clipped to the range: x0 when f(x0) is already at or below it, x1 when f never gets there.
    /// </summary>
    public double Crossing(double threshold, double x0, double x1)
    {
        double f0 = Evaluate(x0), f1 = Evaluate(x1);
        if (f0 <= threshold) return x0;
        if (f1 > threshold) return x1;
        // f(x) = t  <=>  (x - xmid) / scale = ln((upper - t) / (t - lower))
        double ratio = (Upper - threshold) / (threshold - Lower);
        double x = ratio > 0 ? XMid + Scale * Math.Log(ratio) : double.NaN;
        if (double.IsFinite(x) && x >= x0 && x <= x1) return x;
        // Rounding at a nearly flat end: fall back to bisection on the monotone curve.
        double lo = x0, hi = x1;
        for (int i = 0; i < 100; i++)
        {
            double mid = 0.5 * (lo + hi);
            if (Evaluate(mid) <= threshold) hi = mid;
            else lo = mid;
        }
        return hi;
    }

    /// <summary>Fits the logistic to (x, y); x need not be sorted, at least 4 points.</summary>
    public static SigmoidFit Fit(ReadOnlySpan<double> x, ReadOnlySpan<double> y, int maxIterations = 200)
    {
        int n = x.Length;
        if (y.Length != n) throw new ArgumentException("x and y differ in length");
        if (n < 4) throw new ArgumentException("a 4-parameter fit needs at least 4 points");
        double xmin = double.PositiveInfinity, xmax = double.NegativeInfinity;
        for (int i = 0; i < n; i++)
        {
            xmin = Math.Min(xmin, x[i]);
            xmax = Math.Max(xmax, x[i]);
        }
        double range = xmax - xmin;
        if (!(range > 0)) throw new ArgumentException("x must not be constant");

        // Start: plateaus from the ends' means, midpoint where the curve first passes halfway, a scale of 1/10 the range.
        int m = Math.Max(1, n / 10);
        int[] order = Enumerable.Range(0, n).ToArray();
        var xs = x.ToArray();
        Array.Sort(xs, order);
        double upper = 0, lower = 0;
        for (int i = 0; i < m; i++)
        {
            upper += y[order[i]];
            lower += y[order[n - 1 - i]];
        }
        upper /= m;
        lower /= m;
        double half = 0.5 * (upper + lower), xmid = xmin + 0.5 * range;
        for (int i = 0; i < n; i++)
        {
            double v = y[order[i]];
            if (upper >= lower ? v <= half : v >= half)
            {
                xmid = xs[i];
                break;
            }
        }
        Span<double> p = [upper, lower, xmid, range / 10];
        Span<double> trial = stackalloc double[4];
        Span<double> jtj = stackalloc double[16];
        Span<double> jtr = stackalloc double[4];
        Span<double> a = stackalloc double[16];
        Span<double> step = stackalloc double[4];
        double sse = SumOfSquares(x, y, p);
        double mu = 1e-3;
        int it = 0;
        for (; it < maxIterations; it++)
        {
            Normal(x, y, p, jtj, jtr);
            bool improved = false;
            for (int attempt = 0; attempt < 30 && !improved; attempt++)
            {
                jtj.CopyTo(a);
                for (int i = 0; i < 4; i++) a[i * 4 + i] += mu * Math.Max(jtj[i * 4 + i], 1e-12);
                if (!Solve4(a, jtr, step))
                {
                    mu *= 10;
                    continue;
                }
                for (int i = 0; i < 4; i++) trial[i] = p[i] + step[i];
                // The scale may change sign but not collapse to a step function.
                if (Math.Abs(trial[3]) < 1e-6 * range) trial[3] = Math.CopySign(1e-6 * range, trial[3]);
                double s = SumOfSquares(x, y, trial);
                if (double.IsFinite(s) && s <= sse)
                {
                    double drop = sse - s;
                    trial.CopyTo(p);
                    improved = true;
                    mu = Math.Max(mu / 3, 1e-12);
                    bool converged = drop <= 1e-12 * Math.Max(sse, 1e-300);
                    sse = s;
                    if (converged) return new SigmoidFit(p[0], p[1], p[2], p[3], sse, it + 1);
                }
                else
                {
                    mu *= 4;
                }
            }
            if (!improved) break;
        }
        return new SigmoidFit(p[0], p[1], p[2], p[3], sse, it);
    }

    private static double SumOfSquares(ReadOnlySpan<double> x, ReadOnlySpan<double> y, ReadOnlySpan<double> p)
    {
        var f = new SigmoidFit(p[0], p[1], p[2], p[3], 0, 0);
        double s = 0;
        for (int i = 0; i < x.Length; i++)
        {
            double r = y[i] - f.Evaluate(x[i]);
            s += r * r;
        }
        return s;
    }

    // J'J and J'r for residuals r = y - f (J = df/dp).
    private static void Normal(ReadOnlySpan<double> x, ReadOnlySpan<double> y, ReadOnlySpan<double> p, Span<double> jtj, Span<double> jtr)
    {
        jtj.Clear();
        jtr.Clear();
        double upper = p[0], lower = p[1], xmid = p[2], scale = p[3], amp = upper - lower;
        Span<double> j = stackalloc double[4];
        for (int i = 0; i < x.Length; i++)
        {
            double z = (x[i] - xmid) / scale;
            double g = Logistic(z);          // weight of the lower plateau
            double f = upper - amp * g;
            double dg = g * (1 - g);          // dg/dz
            j[0] = 1 - g;
            j[1] = g;
            j[2] = amp * dg / scale;          // dz/dxmid = -1/scale
            j[3] = amp * dg * z / scale;      // dz/dscale = -z/scale
            double r = y[i] - f;
            for (int a = 0; a < 4; a++)
            {
                jtr[a] += j[a] * r;
                for (int b = 0; b <= a; b++) jtj[a * 4 + b] += j[a] * j[b];
            }
        }
        for (int a = 0; a < 4; a++)
            for (int b = a + 1; b < 4; b++) jtj[a * 4 + b] = jtj[b * 4 + a];
    }

    // Gaussian elimination with partial pivoting on a 4x4 system; false when singular.
    private static bool Solve4(Span<double> a, ReadOnlySpan<double> b, Span<double> x)
    {
        Span<double> rhs = stackalloc double[4];
        b.CopyTo(rhs);
        for (int c = 0; c < 4; c++)
        {
            int piv = c;
            for (int r = c + 1; r < 4; r++)
                if (Math.Abs(a[r * 4 + c]) > Math.Abs(a[piv * 4 + c])) piv = r;
            if (!(Math.Abs(a[piv * 4 + c]) > 0)) return false;
            if (piv != c)
            {
                for (int k = 0; k < 4; k++) (a[c * 4 + k], a[piv * 4 + k]) = (a[piv * 4 + k], a[c * 4 + k]);
                (rhs[c], rhs[piv]) = (rhs[piv], rhs[c]);
            }
            for (int r = c + 1; r < 4; r++)
            {
                double f = a[r * 4 + c] / a[c * 4 + c];
                for (int k = c; k < 4; k++) a[r * 4 + k] -= f * a[c * 4 + k];
                rhs[r] -= f * rhs[c];
            }
        }
        for (int c = 3; c >= 0; c--)
        {
            double s = rhs[c];
            for (int k = c + 1; k < 4; k++) s -= a[c * 4 + k] * x[k];
            x[c] = s / a[c * 4 + c];
        }
        return x[0] + x[1] + x[2] + x[3] is var t && double.IsFinite(t);
    }
}

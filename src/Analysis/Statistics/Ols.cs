namespace LearningCurves.Analysis.Statistics;

/// <summary>An ordinary-least-squares fit: the same quantities statsmodels' OLS results report.</summary>
public sealed class OlsFit
{
    internal OlsFit(string[] names, double[] parameters, double[] bse, double[] residuals, int n, bool intercept, double ssr, double tss)
    {
        Names = names;
        Params = parameters;
        StdErrors = bse;
        Residuals = residuals;
        N = n;
        HasIntercept = intercept;
        Ssr = ssr;
        TValues = new double[parameters.Length];
        for (int i = 0; i < parameters.Length; i++) TValues[i] = parameters[i] / bse[i];
        DfResid = n - parameters.Length;
        // statsmodels: centred R^2 when the model has a constant, uncentred otherwise; R^2 of a constant-only model is 0.
        RSquared = intercept && parameters.Length == 1 ? 0 : 1 - ssr / tss;
        int kConst = intercept ? 1 : 0;
        RSquaredAdj = 1 - (double)(n - kConst) / DfResid * (1 - RSquared);
        LogLikelihood = -0.5 * n * (Math.Log(2 * Math.PI) + Math.Log(ssr / n) + 1);
    }

    /// <summary>Parameter names: "Intercept" first when the model has one, then the predictors in order.</summary>
    public IReadOnlyList<string> Names { get; }

    public double[] Params { get; }

    /// <summary>Standard errors of the parameters (statsmodels' bse).</summary>
    public double[] StdErrors { get; }

    public double[] TValues { get; }

    /// <summary>y - Xb, one per observation.</summary>
    public double[] Residuals { get; }

    public int N { get; }

    public int DfResid { get; }

    public bool HasIntercept { get; }

    /// <summary>Sum of squared residuals.</summary>
    public double Ssr { get; }

    public double RSquared { get; }

    public double RSquaredAdj { get; }

    /// <summary>Gaussian log-likelihood at the maximum-likelihood variance SSR/n.</summary>
    public double LogLikelihood { get; }

    /// <summary>Index of a parameter by name.</summary>
    public int IndexOf(string name)
    {
        for (int i = 0; i < Names.Count; i++) if (Names[i] == name) return i;
        throw new KeyNotFoundException($"no parameter '{name}' in the fit");
    }

    public double Param(string name) => Params[IndexOf(name)];
}

/// <summary>Ordinary least squares by Householder QR of the design matrix (never forms X'X, so stays accurate).</summary>
public static class Ols
{
    public const string InterceptName = "Intercept";

    /// <summary>
    /// Fits y on the given predictor columns (each of length n), with an intercept column first when
    /// <paramref name="intercept"/> is set. Throws <see cref="ArgumentException"/> on non-finite values, too few rows or
    /// (numerically) collinear columns.
    /// </summary>
    public static OlsFit Fit(ReadOnlySpan<double> y, IReadOnlyList<double[]> predictors, IReadOnlyList<string>? names = null, bool intercept = true)
    {
        ArgumentNullException.ThrowIfNull(predictors);
        int n = y.Length;
        int p = predictors.Count + (intercept ? 1 : 0);
        if (p == 0) throw new ArgumentException("the model has no columns", nameof(predictors));
        if (names is not null && names.Count != predictors.Count) throw new ArgumentException("one name per predictor", nameof(names));
        if (n <= p) throw new ArgumentException($"{n} observations cannot fit {p} parameters", nameof(y));
        for (int j = 0; j < predictors.Count; j++)
        {
            if (predictors[j].Length != n) throw new ArgumentException($"predictor {j} has {predictors[j].Length} rows, the target {n}", nameof(predictors));
            CheckFinite(predictors[j], names?[j] ?? $"predictor {j}");
        }
        CheckFinite(y, "target");

        var label = new string[p];
        // Working copy of X, column-major: each column one contiguous span for the vector kernels.
        var a = new double[p][];
        int c0 = 0;
        if (intercept)
        {
            a[0] = new double[n];
            Array.Fill(a[0], 1.0);
            label[0] = InterceptName;
            c0 = 1;
        }
        for (int j = 0; j < predictors.Count; j++)
        {
            a[c0 + j] = (double[])predictors[j].Clone();
            label[c0 + j] = names?[j] ?? $"x{j}";
        }
        var qty = y.ToArray();
        var r = new double[p, p];
        double maxNorm = 0;
        for (int j = 0; j < p; j++) maxNorm = Math.Max(maxNorm, Math.Sqrt(VectorMath.Dot(a[j], a[j])));

        for (int j = 0; j < p; j++)
        {
            var col = a[j].AsSpan(j);
            double norm = Math.Sqrt(VectorMath.Dot(col, col));
            // A column that is (numerically) a combination of earlier ones leaves nothing after their reflections.
            if (norm <= 1e-10 * maxNorm) throw new ArgumentException($"column '{label[j]}' is collinear with earlier columns");
            double alpha = col[0] > 0 ? -norm : norm;
            col[0] -= alpha; // col now holds the Householder vector v
            double vv = VectorMath.Dot(col, col);
            for (int k = j + 1; k < p; k++)
            {
                var other = a[k].AsSpan(j);
                VectorMath.SubtractScaled(other, 2 * VectorMath.Dot(col, other) / vv, col);
                r[j, k] = other[0];
            }
            var qy = qty.AsSpan(j);
            VectorMath.SubtractScaled(qy, 2 * VectorMath.Dot(col, qy) / vv, col);
            r[j, j] = alpha;
        }

        // Back-substitution R b = (Q'y)[0..p).
        var beta = new double[p];
        for (int i = p - 1; i >= 0; i--)
        {
            double s = qty[i];
            for (int k = i + 1; k < p; k++) s -= r[i, k] * beta[k];
            beta[i] = s / r[i, i];
        }

        // Residuals from the original data (not from Q'y), so they are exact to rounding whatever the conditioning.
        var resid = y.ToArray();
        if (intercept) for (int i = 0; i < n; i++) resid[i] -= beta[0];
        for (int j = 0; j < predictors.Count; j++) VectorMath.SubtractScaled(resid, beta[c0 + j], predictors[j]);
        double ssr = VectorMath.Dot(resid, resid);
        double tss = intercept ? VectorMath.SumSquaredDeviations(y, VectorMath.Sum(y) / n) : VectorMath.Dot(y, y);

        // Cov(b) = s^2 (X'X)^-1 = s^2 R^-1 R^-T; only the diagonal is needed: the squared row norms of R^-1.
        var rinv = new double[p, p];
        for (int j = 0; j < p; j++)
        {
            rinv[j, j] = 1 / r[j, j];
            for (int i = j - 1; i >= 0; i--)
            {
                double s = 0;
                for (int k = i + 1; k <= j; k++) s += r[i, k] * rinv[k, j];
                rinv[i, j] = -s / r[i, i];
            }
        }
        double s2 = ssr / (n - p);
        var bse = new double[p];
        for (int i = 0; i < p; i++)
        {
            double s = 0;
            for (int k = i; k < p; k++) s += rinv[i, k] * rinv[i, k];
            bse[i] = Math.Sqrt(s2 * s);
        }
        return new OlsFit(label, beta, bse, resid, n, intercept, ssr, tss);
    }

    /// <summary>Residuals of y after an OLS fit on the predictors (with intercept).</summary>
    public static double[] Residualize(ReadOnlySpan<double> y, params double[][] predictors) => Fit(y, predictors).Residuals;

    private static void CheckFinite(ReadOnlySpan<double> v, string what)
    {
        for (int i = 0; i < v.Length; i++)
            if (!double.IsFinite(v[i])) throw new ArgumentException($"{what} has a non-finite value at row {i}");
    }
}

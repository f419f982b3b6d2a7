namespace LearningCurves.Analysis.Statistics;

/// <summary>One step of the sequential model comparison: the model after adding <see cref="Added"/>.</summary>
public sealed record SequentialStep(string Added, double RSquaredAdj, double LogLikelihood, double LrChi2, int Df, double P);

/// <summary>Everything the analysis fits for one target column.</summary>
/// <param name="Target">The target column.</param>
/// <param name="N">Rows used (rows with a non-finite target or predictor are dropped, as statsmodels' formula API does).</param>
/// <param name="Full">Target on all predictors with an intercept.</param>
/// <param name="Single">Each predictor alone (with an intercept), in predictor order.</param>
/// <param name="Sequential">Predictors added one at a time from the intercept-only model, with likelihood-ratio tests.</param>
/// <param name="Baseline">The first predictor; the others are also fitted on the residuals of target ~ baseline.</param>
/// <param name="OnBaselineResiduals">Residuals of target ~ baseline, regressed on each other predictor alone.</param>
public sealed record TargetAnalysis(
    string Target,
    int N,
    OlsFit Full,
    IReadOnlyList<KeyValuePair<string, OlsFit>> Single,
    IReadOnlyList<SequentialStep> Sequential,
    string Baseline,
    IReadOnlyList<KeyValuePair<string, OlsFit>> OnBaselineResiduals);

/// <summary>The regression analysis of several targets on one ordered predictor list, plus the predictors' VIFs.</summary>
public sealed record RegressionReport(
    IReadOnlyList<string> PredictorOrder,
    IReadOnlyList<TargetAnalysis> Targets,
    IReadOnlyList<KeyValuePair<string, double>> Vif);

/// <summary>
/// The paper's regressions (section 2 of the analysis issue), on any table of numeric columns: for each target the full
/// OLS model, each predictor alone, each predictor on the residuals of the first predictor's model, and the sequential
/// adjusted R^2 with likelihood-ratio chi^2 tests; VIFs of the predictors. Matches statsmodels 0.13.
/// </summary>
public static class RegressionAnalysis
{
    /// <summary>
    /// Runs the analysis. <paramref name="columns"/> maps column names to values (all of one length);
    /// <paramref name="predictors"/> gives the order of the sequential models (the paper's: unigram, ngram,
    /// context_loglen, context_logprob, contextual_div).
    /// </summary>
    public static RegressionReport Run(IReadOnlyDictionary<string, double[]> columns, IReadOnlyList<string> targets, IReadOnlyList<string> predictors)
    {
        ArgumentNullException.ThrowIfNull(columns);
        ArgumentNullException.ThrowIfNull(targets);
        ArgumentNullException.ThrowIfNull(predictors);
        if (predictors.Count == 0) throw new ArgumentException("at least one predictor is needed", nameof(predictors));
        if (targets.Count == 0) throw new ArgumentException("at least one target is needed", nameof(targets));
        if (predictors.Distinct(StringComparer.Ordinal).Count() != predictors.Count) throw new ArgumentException("a predictor is listed twice", nameof(predictors));
        foreach (var name in targets.Concat(predictors))
            if (!columns.ContainsKey(name)) throw new ArgumentException($"no column '{name}'", nameof(columns));
        foreach (var t in targets)
            if (predictors.Contains(t)) throw new ArgumentException($"'{t}' is both target and predictor", nameof(targets));

        var results = targets.Select(t => AnalyzeTarget(columns, t, predictors)).ToList();
        var xs = CompleteRows(predictors.Select(p => columns[p]).ToList());
        var vif = Vif(xs);
        return new RegressionReport(predictors.ToArray(), results, predictors.Select((p, i) => KeyValuePair.Create(p, vif[i])).ToList());
    }

    /// <summary>
    /// Variance inflation factor of each column in the design [1, columns]: 1 / (1 - R^2) of that column regressed on
    /// the others and an intercept (statsmodels' variance_inflation_factor with the constant in the design).
    /// </summary>
    public static double[] Vif(IReadOnlyList<double[]> predictors)
    {
        ArgumentNullException.ThrowIfNull(predictors);
        var v = new double[predictors.Count];
        for (int j = 0; j < predictors.Count; j++)
        {
            var others = predictors.Where((_, k) => k != j).ToList();
            v[j] = 1 / (1 - Ols.Fit(predictors[j], others).RSquared);
        }
        return v;
    }

    private static TargetAnalysis AnalyzeTarget(IReadOnlyDictionary<string, double[]> columns, string target, IReadOnlyList<string> predictors)
    {
        var all = CompleteRows(new[] { columns[target] }.Concat(predictors.Select(p => columns[p])).ToList());
        var y = all[0];
        var xs = all.Skip(1).ToArray();
        var full = Ols.Fit(y, xs, predictors);

        var single = new List<KeyValuePair<string, OlsFit>>();
        for (int j = 0; j < xs.Length; j++) single.Add(KeyValuePair.Create(predictors[j], Ols.Fit(y, [xs[j]], [predictors[j]])));

        var steps = new List<SequentialStep>();
        var previous = Ols.Fit(y, Array.Empty<double[]>());
        for (int j = 0; j < xs.Length; j++)
        {
            var fit = Ols.Fit(y, xs[..(j + 1)], predictors.Take(j + 1).ToArray());
            double lr = 2 * (fit.LogLikelihood - previous.LogLikelihood);
            steps.Add(new SequentialStep(predictors[j], fit.RSquaredAdj, fit.LogLikelihood, lr, 1, SpecialFunctions.ChiSquaredSurvival(lr, 1)));
            previous = fit;
        }

        var baseResid = single[0].Value.Residuals;
        var onResid = new List<KeyValuePair<string, OlsFit>>();
        for (int j = 1; j < xs.Length; j++) onResid.Add(KeyValuePair.Create(predictors[j], Ols.Fit(baseResid, [xs[j]], [predictors[j]])));
        return new TargetAnalysis(target, y.Length, full, single, steps, predictors[0], onResid);
    }

    // Keeps the rows where every column is finite.
    private static double[][] CompleteRows(IReadOnlyList<double[]> cols)
    {
        int n = cols[0].Length;
        foreach (var c in cols) if (c.Length != n) throw new ArgumentException("columns differ in length", nameof(cols));
        var keep = new bool[n];
        int count = 0;
        for (int i = 0; i < n; i++)
        {
            bool ok = true;
            foreach (var c in cols) ok &= double.IsFinite(c[i]);
            keep[i] = ok;
            if (ok) count++;
        }
        if (count == n) return cols.ToArray();
        return cols.Select(c =>
        {
            var o = new double[count];
            for (int i = 0, k = 0; i < n; i++) if (keep[i]) o[k++] = c[i];
            return o;
        }).ToArray();
    }
}

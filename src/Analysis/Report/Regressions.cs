using LearningCurves.Analysis.Metrics;
using LearningCurves.Analysis.Predictors;
using LearningCurves.Analysis.Statistics;
using LearningCurves.Formats;

namespace LearningCurves.Analysis.Report;

/// <summary>The regressions of the run-averaged metrics on the predictors that vary on this data; what cannot be
/// fitted becomes a note, not a failure.</summary>
internal static class Regressions
{
    /// <param name="indicators">Categorical indicator columns (POS, one level dropped) added after the predictors.</param>
    public static RegressionReport? Fit(Dictionary<string, double[]> averaged, PredictorTable predictors, int examples, List<string> notes,
        IReadOnlyList<(string Name, double[] Values)>? indicators = null)
    {
        var usable = PredictorTable.Names.Where(p => Distinct(predictors[p]) >= 2).ToList();
        foreach (var p in PredictorTable.Names.Except(usable)) notes.Add($"predictor {p} is constant or undefined on this data and was left out of the regressions");
        RegressionReport? regression = null;
        var cols = new Dictionary<string, double[]>(StringComparer.Ordinal);
        foreach (var m in Metric.Names(Metric.All)) cols[m] = averaged[m];
        foreach (var p in usable) cols[p] = predictors[p];
        foreach (var (name, values) in indicators ?? [])
        {
            cols[name] = values;
            usable.Add(name);
        }
        var targets = Metric.Names(Metric.All).Where(m => Distinct(averaged[m]) >= 2).ToList();
        if (usable.Count > 0 && examples > usable.Count + 2)
        {
            try
            {
                regression = RegressionAnalysis.Run(cols, targets, usable);
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException or UserError)
            {
                notes.Add($"the regressions could not be fitted: {e.Message}");
            }
        }
        else
        {
            notes.Add("too few examples or predictors for the regressions");
        }
        return regression;
    }

    private static int Distinct(double[] v) => v.Where(double.IsFinite).Distinct().Take(2).Count();
}

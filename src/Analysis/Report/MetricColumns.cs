using LearningCurves.Analysis.Metrics;
using LearningCurves.Analysis.Statistics;

namespace LearningCurves.Analysis.Report;

/// <summary>The metrics stage's CSV files read back by column name: per metric, each run's values and the
/// run-averaged ones, indexed by example.</summary>
internal static class MetricColumns
{
    public static (Dictionary<string, double[][]> PerRun, Dictionary<string, double[]> Averaged) Read(string metricsDir, int runs, int examples)
    {
        var perRunCsv = NumericCsv.ReadColumns(Path.Combine(metricsDir, MetricsRunner.PerRunFile), ["run", "example", .. Analyzer.PerRunMetrics]);
        var averagedCsv = NumericCsv.ReadColumns(Path.Combine(metricsDir, MetricsRunner.ExamplesFile), ["example", .. Analyzer.AllMetrics]);
        var perRun = Analyzer.PerRunMetrics.ToDictionary(m => m, _ => Enumerable.Range(0, runs).Select(_ => new double[examples]).ToArray(), StringComparer.Ordinal);
        for (int i = 0; i < perRunCsv["run"].Length; i++)
        {
            int r = (int)perRunCsv["run"][i], e = (int)perRunCsv["example"][i];
            foreach (var m in Analyzer.PerRunMetrics) perRun[m][r][e] = perRunCsv[m][i];
        }
        var averaged = Analyzer.AllMetrics.ToDictionary(m => m, _ => new double[examples], StringComparer.Ordinal);
        for (int i = 0; i < averagedCsv["example"].Length; i++)
        {
            int e = (int)averagedCsv["example"][i];
            foreach (var m in Analyzer.AllMetrics) averaged[m][e] = averagedCsv[m][i];
        }
        return (perRun, averaged);
    }
}

using LearningCurves.Analysis.Phases;
using LearningCurves.Analysis.Plots;
using LearningCurves.Analysis.Statistics;

namespace LearningCurves.Analysis.Report;

/// <summary>The report's views of the statistics and the learning phases.</summary>
internal static class ReportViews
{
    public static StatsView ToView(RegressionReport r)
    {
        static List<Coefficient> Coefs(OlsFit f) => f.Names.Select((n, i) => new Coefficient(n, f.Params[i], f.StdErrors[i], f.TValues[i])).ToList();
        static Coefficient Slope(string name, OlsFit f)
        {
            int i = f.IndexOf(name);
            return new Coefficient(name, f.Params[i], f.StdErrors[i], f.TValues[i]);
        }
        var targets = r.Targets.Select(t => new RegressionView(t.Target, t.N, Coefs(t.Full), t.Full.RSquared, t.Full.RSquaredAdj,
            t.Single.Select(kv => Slope(kv.Key, kv.Value)).ToList(),
            t.OnBaselineResiduals.Select(kv => Slope(kv.Key, kv.Value)).ToList(),
            t.Sequential.Select(s => new SequentialRow(s.Added, s.RSquaredAdj, s.LrChi2, s.Df, s.P)).ToList())).ToList();
        return new StatsView(targets, r.Vif.Select(kv => (kv.Key, kv.Value)).ToList());
    }

    public static PhasesView ToView(LearningPhases p)
    {
        var steps = p.Steps.ToArray();
        var x = ReportMath.LogSteps(steps);
        int orders = p.MeanR.Length == 0 ? 0 : p.MeanR[0].Length;
        var series = Enumerable.Range(0, orders).Select(k => new Series($"{k + 1}-gram",
            p.MeanR.Select(row => row[k]).ToArray(), p.SdR.Select(row => row[k]).ToArray(), x[p.PeakIndex[k]])).ToList();
        bool cross = p.CrossRunR.Any(double.IsFinite);
        return new PhasesView(steps, series, cross ? p.CrossRunR : steps.Select(_ => double.NaN).ToArray(), cross ? p.CrossRunSd : null);
    }
}

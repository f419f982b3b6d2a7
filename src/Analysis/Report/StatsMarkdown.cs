using System.Globalization;
using System.Text;
using LearningCurves.Analysis.Phases;
using LearningCurves.Analysis.Statistics;

namespace LearningCurves.Analysis.Report;

/// <summary>stats.md: the statistics of stats.json as Markdown tables (numbers in G6, empty where not finite).</summary>
internal static class StatsMarkdown
{
    public static string Text(RegressionReport? regression, MetricCorrelations corr, LearningPhases phases, GenerationView? gen)
    {
        var inv = CultureInfo.InvariantCulture;
        string G(double v) => double.IsFinite(v) ? v.ToString("G6", inv) : "";
        var sb = new StringBuilder();
        sb.Append("# Statistics\n\n");
        if (regression is null)
        {
            sb.Append("Regressions: not computed.\n\n");
        }
        else
        {
            foreach (var t in regression.Targets)
            {
                sb.Append(inv, $"## {t.Target} (n = {t.N}, R^2 = {G(t.Full.RSquared)}, adj. R^2 = {G(t.Full.RSquaredAdj)})\n\n");
                sb.Append("| predictor | coef | SE | t | alone | on unigram residuals |\n|---|---|---|---|---|---|\n");
                for (int i = 0; i < t.Full.Names.Count; i++)
                {
                    string n = t.Full.Names[i];
                    var alone = t.Single.FirstOrDefault(kv => kv.Key == n).Value;
                    var resid = t.OnBaselineResiduals.FirstOrDefault(kv => kv.Key == n).Value;
                    sb.Append(inv, $"| {n} | {G(t.Full.Params[i])} | {G(t.Full.StdErrors[i])} | {G(t.Full.TValues[i])} | ");
                    sb.Append(alone is null ? "" : G(alone.Param(n))).Append(" | ").Append(resid is null ? "" : G(resid.Param(n))).Append(" |\n");
                }
                sb.Append("\n| + predictor | adj. R^2 | LR chi^2 | df | p |\n|---|---|---|---|---|\n");
                foreach (var s in t.Sequential) sb.Append(inv, $"| {s.Added} | {G(s.RSquaredAdj)} | {G(s.LrChi2)} | {s.Df} | {G(s.P)} |\n");
                sb.Append('\n');
            }
            sb.Append("## VIF\n\n| predictor | VIF |\n|---|---|\n");
            foreach (var (k, v) in regression.Vif) sb.Append(inv, $"| {k} | {G(v)} |\n");
            sb.Append('\n');
        }
        sb.Append("## Metric correlations (run-averaged)\n\n| |").AppendJoin("", corr.Metrics.Select(m => $" {m} |")).Append("\n|---|").AppendJoin("", corr.Metrics.Select(_ => "---|")).Append('\n');
        for (int i = 0; i < corr.Metrics.Count; i++)
        {
            sb.Append(inv, $"| {corr.Metrics[i]} |");
            for (int j = 0; j < corr.Metrics.Count; j++) sb.Append(' ').Append(G(corr.RunAveraged[i, j])).Append(" |");
            sb.Append('\n');
        }
        sb.Append("\n## Correlation between runs (mean +- SD over pairs)\n\n| metric | mean | SD |\n|---|---|---|\n");
        for (int i = 0; i < corr.Metrics.Count; i++) sb.Append(inv, $"| {corr.Metrics[i]} | {G(corr.BetweenRuns[i].Mean)} | {G(corr.BetweenRuns[i].Sd)} |\n");
        sb.Append("\n## Learning phases: peak of the correlation with n-gram surprisal\n\n| n | peak step | peak r |\n|---|---|---|\n");
        for (int k = 0; k < phases.PeakStep.Length; k++)
            sb.Append(inv, $"| {k + 1} | {phases.PeakStep[k]} | {G(phases.MeanR[phases.PeakIndex[k]][k])} |\n");
        if (gen is not null)
        {
            sb.Append("\n## Generated text (mean over prompts)\n\n| run | step | rep. 1 | rep. 2 | rep. 3 | rep. 4 | distinct-1 | distinct-2 | longest span |\n|---|---|---|---|---|---|---|---|---|\n");
            foreach (var g in gen.Rows)
            {
                var r = g.Repetition;
                sb.Append(inv, $"| {g.Run} | {g.Step} | {G(r.RepeatedShare[0])} | {G(r.RepeatedShare[1])} | {G(r.RepeatedShare[2])} | {G(r.RepeatedShare[3])} | {G(r.DistinctN[0])} | {G(r.DistinctN[1])} | {G(r.LongestRepeatedSpan)} |\n");
            }
        }
        return sb.ToString();
    }
}

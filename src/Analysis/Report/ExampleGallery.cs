using LearningCurves.Analysis.Metrics;
using LearningCurves.Analysis.Plots;
using LearningCurves.Analysis.Smoothing;
using LearningCurves.Formats.EvalSets;
using LearningCurves.Formats.Tokenization;

namespace LearningCurves.Analysis.Report;

/// <summary>The report's example curves.</summary>
internal static class ExampleGallery
{
    /// <summary>Six example curves of run 0, from early- to late-acquired plus the most forgettable.</summary>
    public static List<CurvePanel> Build(long[] steps, IReadOnlyList<float[]> run0, Dictionary<string, double[][]> perRun,
        Dictionary<string, double[]> averaged, double chance, EvalSet eval, TextTokenizer tokenizer)
    {
        var aoa = perRun[Metric.Aoa.Name][0];
        var order = Enumerable.Range(0, aoa.Length).Where(i => double.IsFinite(aoa[i])).OrderBy(i => aoa[i]).ToList();
        if (order.Count == 0) return [];
        var picks = new List<int>();
        foreach (double q in new[] { 0.05, 0.3, 0.55, 0.8, 0.97 })
        {
            int i = order[(int)Math.Round(q * (order.Count - 1))];
            if (!picks.Contains(i)) picks.Add(i);
        }
        var forget = perRun[Metric.Forgettability.Name][0];
        int most = Enumerable.Range(0, forget.Length).Where(i => double.IsFinite(forget[i])).DefaultIfEmpty(-1).MaxBy(i => i < 0 ? 0 : forget[i]);
        if (most >= 0 && !picks.Contains(most)) picks.Add(most);

        int first = Array.FindIndex(steps, s => s > 0);
        if (first < 0 || steps.Length - first < 4) return [];
        var x = steps.Skip(first).Select(s => Math.Log10(s)).ToArray();
        var smoother = new SplineSmoother(x);
        var panels = new List<CurvePanel>();
        foreach (int e in picks)
        {
            var y = Enumerable.Range(first, steps.Length - first).Select(k => (double)run0[k][e]).ToArray();
            var fit = PenalizedSpline.Fit(smoother, y);
            double threshold = 0.5 * chance + 0.5 * fit.Grid.Min();
            int seq = eval.Targets[2 * e], pos = eval.Targets[2 * e + 1];
            var context = eval.Tokens.AsSpan(seq * eval.SeqLen + Math.Max(0, pos - 4), Math.Min(4, pos)).ToArray();
            string ctx = TokenText.Decode(tokenizer, context).ReplaceLineEndings(" ");
            string target = TokenText.Decode(tokenizer, [eval.Tokens[seq * eval.SeqLen + pos]]).ReplaceLineEndings(" ");
            string label = $"…{Clip(ctx, 24)} [{Clip(target, 12)}]  AoA {Math.Pow(10, aoa[e]):N0}";
            panels.Add(new CurvePanel(label, x, y, fit.GridX.ToArray(), fit.Grid.ToArray(), double.IsFinite(aoa[e]) ? aoa[e] : null, threshold));
        }
        return panels;
    }

    private static string Clip(string s, int n) => s.Length <= n ? s : "…" + s[^n..];
}

using System.Globalization;
using System.Net;
using System.Text;
using LearningCurves.Formats.IO;
using LearningCurves.Analysis.Generation;
using LearningCurves.Analysis.Plots;

namespace LearningCurves.Analysis.Report;

/// <summary>
/// Draws the figures of a <see cref="ReportData"/> into OUT/plots/*.png and writes OUT/report.html: one
/// self-contained page (figures embedded as base64, styles inline, no scripts or outside requests) that follows the
/// paper's order: learning phases over training, individual learning curves, the metrics, then what predicts them.
/// </summary>
public static class ReportWriter
{
    public const string HtmlFile = "report.html";
    public const string PlotsDir = "plots";

    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>Writes the plots and the page; returns the files written, relative to <paramref name="outDir"/>.</summary>
    public static IReadOnlyList<string> Write(ReportData data, string outDir)
    {
        var (page, written) = WritePlots(data, outDir);
        AtomicFile.WriteAllBytes(Path.Combine(outDir, HtmlFile), page);
        return [.. written, HtmlFile];
    }

    /// <summary>Writes the plots and returns the page (UTF-8, for <see cref="HtmlFile"/>) without writing it, so that a
    /// caller can commit it together with other files; <c>Written</c>: the plots, relative to <paramref name="outDir"/>.</summary>
    public static (byte[] Page, IReadOnlyList<string> Written) WritePlots(ReportData data, string outDir)
    {
        ArgumentNullException.ThrowIfNull(data);
        var plotsDir = Path.Combine(outDir, PlotsDir);
        Directory.CreateDirectory(plotsDir);
        var written = new List<string>();
        var html = new StringBuilder(1 << 20);

        string Figure(string name, byte[] png, string alt)
        {
            string rel = $"{PlotsDir}/{name}.png";
            AtomicFile.WriteAllBytes(Path.Combine(outDir, rel), png);
            written.Add(rel);
            return $"<img src=\"data:image/png;base64,{Convert.ToBase64String(png)}\" alt=\"{E(alt)}\">";
        }

        Head(html, data);
        Overview(html, data);
        PhasesSection(html, data, Figure);
        GallerySection(html, data, Figure);
        MetricsSection(html, data, Figure);
        AnnotationsSection(html, data, Figure);
        StatsSection(html, data);
        NotesSection(html, data, written);
        html.Append("</main></body></html>\n");
        return (Encoding.UTF8.GetBytes(html.ToString()), written);
    }

    private static void Head(StringBuilder h, ReportData d)
    {
        h.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
        h.Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
        h.Append($"<title>{E(d.Title)}</title><style>{Css}</style></head><body><main>\n");
        h.Append($"<header><h1>{E(d.Title)}</h1><p class=\"sub\">Per-token learning curves during pre-training, analysed as in ");
        h.Append("Chang, Tu &amp; Bergen (TACL 2024), <i>Characterizing Learning Curves During Language Model Pre-Training</i>.</p></header>\n");
    }

    private static void Overview(StringBuilder h, ReportData d)
    {
        var s = d.Suite;
        h.Append("<section id=\"overview\"><h2>What was analysed</h2><div class=\"cards\">");
        Card(h, "runs", s.Runs.Count.ToString(Inv), string.Join(", ", s.Runs));
        Card(h, "checkpoints per run", s.Checkpoints.ToString(Inv), $"steps {s.FirstStep:N0} to {s.LastStep:N0}");
        Card(h, "examples", s.Examples.ToString("N0", Inv), "target tokens in context");
        Card(h, "training tokens", s.TrainingTokens > 0 ? s.TrainingTokens.ToString("N0", Inv) : "n/a", s.TrainingSource);
        Card(h, "chance surprisal", $"{F(s.ChanceBits, 2)} bits", "log2 of the vocabulary size");
        h.Append("</div>");
        h.Append($"<p class=\"note\">Eval set: <code>{E(s.EvalSet)}</code>. Surprisal is in bits; steps are shown on a log scale.</p>");
        h.Append("<p>The story in the paper's order: <a href=\"#phases\">learning phases</a> over the whole training run, ");
        h.Append("<a href=\"#curves\">individual learning curves</a>, <a href=\"#metrics\">the metrics</a> that summarise them, ");
        h.Append("and <a href=\"#predictors\">what predicts</a> how early, how stably and how finally a token is learned.</p></section>\n");
    }

    private static void PhasesSection(StringBuilder h, ReportData d, Func<string, byte[], string, string> figure)
    {
        h.Append("<section id=\"phases\"><h2>1. Learning phases over training</h2>");
        var p = d.Phases;
        if (p is null)
        {
            Missing(h, "the n-gram and cross-run correlations were not computed (see the notes below)");
        }
        else
        {
            var x = p.LogSteps;
            h.Append("<p>At each checkpoint, the Pearson correlation between the model's surprisal and the surprisal of an ");
            h.Append("n-gram model of the training data (with backoff). A peak for a larger n after the peak for a smaller n ");
            h.Append("is the paper's evidence that models first fit unigram frequencies, then progressively longer contexts.</p>");
            h.Append("<div class=\"row\"><div class=\"fig\">");
            h.Append(figure("ngram_correlation", ReportPlots.OverTraining("Correlation with n-gram surprisal", "Pearson r (mean over runs)", x, p.Ngram), "n-gram correlation over training"));
            h.Append("</div><div class=\"nums\"><table><tr><th>n-gram</th><th>peak step</th><th>peak r</th><th>final r</th></tr>");
            foreach (var ser in p.Ngram)
            {
                int k = ser.PeakX is double px ? Array.FindIndex(x, v => Math.Abs(v - px) < 1e-12) : ArgMax(ser.Y);
                if (k < 0) k = ArgMax(ser.Y);
                h.Append($"<tr><td>{E(ser.Name)}</td><td>{p.Steps[k]:N0}</td><td>{F(ser.Y[k], 3)}</td><td>{F(ser.Y[^1], 3)}</td></tr>");
            }
            h.Append("</table></div></div>");

            var cross = new List<Series> { new("between runs", p.CrossRunMean, p.CrossRunSd) };
            h.Append("<p>The mean pairwise correlation of surprisal between runs with different seeds: how much the runs agree ");
            h.Append("about which tokens are easy at each point of training.</p><div class=\"row\"><div class=\"fig\">");
            h.Append(figure("crossrun_correlation", ReportPlots.OverTraining("Correlation between runs", "Pearson r (mean over pairs)", x, cross), "cross-run correlation"));
            h.Append("</div><div class=\"nums\"><table><tr><th>step</th><th>r</th><th>SD</th></tr>");
            foreach (int k in SampleIndices(p.Steps.Length, 8))
                h.Append($"<tr><td>{p.Steps[k]:N0}</td><td>{F(p.CrossRunMean[k], 3)}</td><td>{(p.CrossRunSd is null ? "" : F(p.CrossRunSd[k], 3))}</td></tr>");
            h.Append("</table></div></div>");
        }
        GenerationPart(h, d, figure);
        h.Append("</section>\n");
    }

    private static void GenerationPart(StringBuilder h, ReportData d, Func<string, byte[], string, string> figure)
    {
        h.Append("<h3>Generated text along training</h3>");
        var g = d.Generation;
        if (g is null || g.Rows.Count == 0)
        {
            Missing(h, "no text was generated (see the notes below)");
            return;
        }
        h.Append($"<p>Continuations of eval-set prompts at the checkpoints nearest each power of ten of the step count ");
        h.Append($"(temperature {F(g.Temperature, 2)}, up to {g.MaxTokens} tokens, seed {g.Seed}). The paper noted by eye that early ");
        h.Append("checkpoints repeat themselves; here that is measured: the share of n-gram occurrences that belong to a repeated n-gram, ");
        h.Append("distinct-n, and the longest span that occurs twice.</p>");
        // Average over runs at each step, for the figure.
        var bySteps = g.Rows.GroupBy(r => r.Step).OrderBy(x => x.Key).ToList();
        var steps = bySteps.Select(x => x.Key).ToArray();
        var x = ReportMath.LogSteps(steps);
        var series = new List<Series>();
        for (int n = 1; n <= TextRepetition.MaxN; n++)
        {
            int k = n - 1;
            series.Add(new Series($"repeated {n}-grams", bySteps.Select(s => s.Average(r => r.Repetition.RepeatedShare[k])).ToArray()));
        }
        series.Add(new Series("distinct-2", bySteps.Select(s => s.Average(r => r.Repetition.DistinctN[1])).ToArray()));
        h.Append("<div class=\"row\"><div class=\"fig\">");
        h.Append(figure("generation_repetition", ReportPlots.OverTraining("Repetition in generated text", "share", x, series), "repetition over training"));
        h.Append("</div><div class=\"nums\"><table><tr><th>step</th><th>rep. 1</th><th>rep. 2</th><th>rep. 4</th><th>dist. 2</th><th>longest</th></tr>");
        foreach (var s in bySteps)
        {
            double R(Func<GenerationRow, double> f) => s.Average(f);
            h.Append($"<tr><td>{s.Key:N0}</td><td>{F(R(r => r.Repetition.RepeatedShare[0]), 2)}</td><td>{F(R(r => r.Repetition.RepeatedShare[1]), 2)}</td>");
            h.Append($"<td>{F(R(r => r.Repetition.RepeatedShare[3]), 2)}</td><td>{F(R(r => r.Repetition.DistinctN[1]), 2)}</td><td>{F(R(r => r.Repetition.LongestRepeatedSpan), 1)}</td></tr>");
        }
        h.Append("</table></div></div>");
        // One run's samples are enough to read; the same prompt at every step shows the change.
        string firstRun = g.Rows[0].Run;
        var samples = g.Rows.Where(r => r.Run == firstRun).OrderBy(r => r.Step).ToList();
        h.Append($"<details open><summary>The first prompt's continuation at each checkpoint ({E(firstRun)})</summary>");
        h.Append($"<p class=\"note\">Prompt (its end): <span class=\"promptline\">{E(ClipStart(samples[0].SamplePrompt, 240))}</span></p>");
        h.Append("<table class=\"samples\"><tr><th>step</th><th>generated</th></tr>");
        foreach (var r in samples)
            h.Append($"<tr><td>{r.Step:N0}</td><td class=\"gen\">{E(Clip(r.SampleText, 600))}</td></tr>");
        h.Append("</table></details>");
    }

    private static void GallerySection(StringBuilder h, ReportData d, Func<string, byte[], string, string> figure)
    {
        h.Append("<section id=\"curves\"><h2>2. Learning curves of individual tokens</h2>");
        if (d.Gallery.Count == 0)
        {
            Missing(h, "no example curves to show");
        }
        else
        {
            h.Append("<p>Surprisal of single tokens in context over training (first run): raw values as points, the GAM-smoothed curve as a line, ");
            h.Append("and the age of acquisition (AoA) as a dashed line where the smoothed curve first falls halfway from chance to its minimum ");
            h.Append("(the dotted line). Examples range from early- to late-acquired.</p>");
            h.Append("<div class=\"wide\">");
            h.Append(figure("curve_gallery", ReportPlots.CurveGallery(d.Gallery), "example learning curves"));
            h.Append("</div>");
        }
        h.Append("</section>\n");
    }

    private static void MetricsSection(StringBuilder h, ReportData d, Func<string, byte[], string, string> figure)
    {
        h.Append("<section id=\"metrics\"><h2>3. Learning-curve metrics</h2>");
        if (d.Metrics.Count == 0)
        {
            Missing(h, "no metrics were computed");
            h.Append("</section>\n");
            return;
        }
        h.Append("<p>Each example's curve is summarised by five metrics, averaged over runs: final surprisal and within-run variability ");
        h.Append("over the last checkpoints, age of acquisition, forgettability (the total rise of the smoothed curve) and cross-run ");
        h.Append("variability. Left, the distribution over examples; middle, against the token's training frequency.</p>");
        foreach (var m in d.Metrics)
        {
            string key = Slug(m.Name);
            h.Append($"<h3>{E(m.Name)}</h3><p class=\"note\">{E(m.Description)}</p><div class=\"row three\"><div class=\"fig\">");
            h.Append(figure($"dist_{key}", ReportPlots.Distribution(m.Name, m.Values), $"distribution of {m.Name}"));
            h.Append("</div>");
            double rFreq = double.NaN;
            if (d.LogFrequency is { } lf && lf.Length == m.Values.Length)
            {
                h.Append("<div class=\"fig\">");
                h.Append(figure($"freq_{key}", ReportPlots.AgainstFrequency(m.Name, lf, m.Values), $"{m.Name} against frequency"));
                h.Append("</div>");
                rFreq = ReportMath.Pearson(lf, m.Values);
            }
            h.Append("<div class=\"nums\"><table>");
            Row(h, "examples", m.Defined.ToString("N0", Inv));
            Row(h, "mean", F(m.Mean, 3));
            Row(h, "SD", F(m.Sd, 3));
            Row(h, "median", F(m.Median, 3));
            Row(h, "10th / 90th pct", $"{F(m.Quantile(0.1), 3)} / {F(m.Quantile(0.9), 3)}");
            Row(h, "r with log freq.", F(rFreq, 3));
            var between = d.Correlations?.BetweenRuns.FirstOrDefault(b => b.Metric == m.Name);
            if (between is { } b) Row(h, "r between runs", $"{F(b.Mean, 3)} ± {F(b.Sd, 3)}");
            h.Append("</table></div></div>");
        }
        if (d.Correlations is { } c)
        {
            h.Append("<h3>How the metrics relate</h3><p>Pearson correlations between metrics over examples: run-averaged values above the ");
            h.Append("diagonal");
            h.Append(c.Concatenated is null ? "" : ", runs concatenated below it");
            h.Append(".</p><table class=\"matrix\"><tr><th></th>");
            foreach (var name in c.Metrics) h.Append($"<th>{E(name)}</th>");
            h.Append("</tr>");
            for (int i = 0; i < c.Metrics.Count; i++)
            {
                h.Append($"<tr><th>{E(c.Metrics[i])}</th>");
                for (int j = 0; j < c.Metrics.Count; j++)
                {
                    double v = i == j ? 1 : i < j || c.Concatenated is null ? c.Averaged[i, j] : c.Concatenated[i, j];
                    h.Append($"<td style=\"background:{Heat(v)}\">{(i == j ? "" : F(v, 2))}</td>");
                }
                h.Append("</tr>");
            }
            h.Append("</table>");
        }
        h.Append("</section>\n");
    }

    /// <summary>Metrics by part of speech and the UMAP embedding of the curves (docs/annotations.md).</summary>
    private static void AnnotationsSection(StringBuilder h, ReportData d, Func<string, byte[], string, string> figure)
    {
        h.Append("<section id=\"annotations\"><h2>Part of speech and the map of the curves</h2>");
        if (d.PosBreakdown is { Count: > 0 } rows)
        {
            h.Append("<p>Run-averaged means by the Universal POS tag of the word each example belongs to.</p><table><tr><th>POS</th><th>examples</th>");
            foreach (var (m, _) in rows[0].Means) h.Append($"<th>{E(m)}</th>");
            h.Append("</tr>");
            foreach (var r in rows)
            {
                h.Append($"<tr><td>{E(r.Tag)}</td><td>{r.Count.ToString(Inv)}</td>");
                foreach (var (_, v) in r.Means) h.Append($"<td>{G(v)}</td>");
                h.Append("</tr>");
            }
            h.Append("</table>");
        }
        else
        {
            Missing(h, "POS tags (see the notes)");
        }
        if (d.UmapFigures.Count > 0)
        {
            h.Append("<p>UMAP of the smoothed curves (each point one example; metrics/umap.npy).</p><div class=\"row\">");
            foreach (var (name, caption, png) in d.UmapFigures) h.Append($"<div class=\"fig\">{figure(name, png, "UMAP " + caption)}<p class=\"note\">{E(caption)}</p></div>");
            h.Append("</div>");
        }
        else
        {
            Missing(h, "the UMAP embedding (see the notes)");
        }
        h.Append("</section>");
    }

    private static void StatsSection(StringBuilder h, ReportData d)
    {
        h.Append("<section id=\"predictors\"><h2>4. What predicts the metrics</h2>");
        if (d.Stats is not { } s || s.Targets.Count == 0)
        {
            Missing(h, "the regressions were not computed (see the notes below)");
            h.Append("</section>\n");
            return;
        }
        h.Append("<p>Ordinary least squares on the run-averaged metrics. Predictors: <b>unigram</b> (log2 training frequency of the target), ");
        h.Append("<b>ngram</b> (5-gram log2 probability, residualized on unigram), <b>context_loglen</b> (log2 position), ");
        h.Append("<b>context_logprob</b> (mean unigram log2 probability of the context) and <b>contextual_div</b> (frequency-adjusted contextual diversity). ");
        h.Append("Sequential models add one predictor at a time; the likelihood-ratio χ² tests each addition.</p>");
        foreach (var t in s.Targets)
        {
            h.Append($"<h3>{E(t.Target)}</h3><div class=\"row\"><div class=\"nums\"><table><caption>full model (n = {t.N:N0}, R² = {F(t.RSquared, 3)}, adj. R² = {F(t.AdjRSquared, 3)})</caption>");
            h.Append("<tr><th>predictor</th><th>coef.</th><th>SE</th><th>t</th><th>alone</th><th>on unigram resid.</th></tr>");
            foreach (var c in t.Full)
            {
                var alone = t.Single.FirstOrDefault(x => x.Name == c.Name);
                var resid = t.OnUnigramResiduals.FirstOrDefault(x => x.Name == c.Name);
                string cls = c.Name == "Intercept" ? "" : c.Value < 0 ? " class=\"neg\"" : " class=\"pos\"";
                h.Append($"<tr><td>{E(c.Name)}</td><td{cls}>{G(c.Value)}</td><td>{G(c.StdError)}</td><td>{F(c.T, 2)}</td>");
                h.Append($"<td>{(alone is null ? "" : G(alone.Value))}</td><td>{(resid is null ? "" : G(resid.Value))}</td></tr>");
            }
            h.Append("</table></div><div class=\"nums\"><table><caption>sequential models</caption><tr><th>+ predictor</th><th>adj. R²</th><th>χ²</th><th>p</th></tr>");
            foreach (var q in t.Sequential)
                h.Append($"<tr><td>{E(q.Added)}</td><td>{F(q.AdjRSquared, 4)}</td><td>{F(q.LrChi2, 1)}</td><td>{P(q.P)}</td></tr>");
            h.Append("</table></div></div>");
        }
        if (s.Vifs.Count > 0)
        {
            h.Append("<h3>Collinearity</h3><table><tr><th>predictor</th><th>VIF</th></tr>");
            foreach (var (name, vif) in s.Vifs) h.Append($"<tr><td>{E(name)}</td><td>{F(vif, 2)}</td></tr>");
            h.Append("</table>");
        }
        h.Append("</section>\n");
    }

    private static void NotesSection(StringBuilder h, ReportData d, List<string> plots)
    {
        h.Append("<section id=\"files\"><h2>Notes and files</h2>");
        if (d.Notes.Count > 0)
        {
            h.Append("<ul class=\"notes\">");
            foreach (var n in d.Notes) h.Append($"<li>{E(n)}</li>");
            h.Append("</ul>");
        }
        h.Append("<table><tr><th>file</th><th>contents</th></tr>");
        foreach (var (file, what) in d.Files) h.Append($"<tr><td><code>{E(file)}</code></td><td>{E(what)}</td></tr>");
        h.Append($"<tr><td><code>{PlotsDir}/</code></td><td>the {plots.Count} figures of this page as PNG files</td></tr></table>");
        h.Append("</section>\n");
    }

    private static void Card(StringBuilder h, string label, string value, string detail) =>
        h.Append($"<div class=\"card\"><div class=\"label\">{E(label)}</div><div class=\"value\">{E(value)}</div><div class=\"detail\">{E(detail)}</div></div>");

    private static void Row(StringBuilder h, string k, string v) => h.Append($"<tr><td>{E(k)}</td><td>{E(v)}</td></tr>");

    private static void Missing(StringBuilder h, string why) => h.Append($"<p class=\"missing\">Not shown: {E(why)}.</p>");

    // Control characters (decoded byte tokens can be any byte) are shown as a middle dot rather than dropped silently.
    private static string E(string s) => WebUtility.HtmlEncode(new string(s.Select(ch => char.IsControl(ch) && ch != '\n' ? '·' : ch).ToArray()));

    private static string F(double v, int digits) => double.IsFinite(v) ? v.ToString("F" + digits.ToString(Inv), Inv) : "–";

    private static string G(double v) => double.IsFinite(v) ? v.ToString("G4", Inv) : "–";

    private static string P(double p) => !double.IsFinite(p) ? "–" : p < 1e-300 ? "&lt; 1e-300" : p < 1e-3 ? p.ToString("0.0e0", Inv) : p.ToString("F3", Inv);

    private static string Clip(string s, int max) => s.Length <= max ? s : s[..max] + "…";

    private static string ClipStart(string s, int max) => s.Length <= max ? s : "…" + s[^max..];

    private static string Slug(string s) => new(s.Select(ch => char.IsAsciiLetterOrDigit(ch) ? char.ToLowerInvariant(ch) : '_').ToArray());

    /// <summary>A light red (negative) to light blue (positive) background for a correlation.</summary>
    private static string Heat(double r)
    {
        if (!double.IsFinite(r)) return "#fff";
        double a = Math.Min(1, Math.Abs(r));
        int fade(int full) => (int)Math.Round(255 - a * (255 - full));
        return r >= 0 ? $"rgb({fade(120)},{fade(170)},{fade(225)})" : $"rgb({fade(230)},{fade(130)},{fade(120)})";
    }

    private static int ArgMax(double[] y)
    {
        int best = 0;
        for (int i = 1; i < y.Length; i++)
        {
            if (!double.IsNaN(y[i]) && (double.IsNaN(y[best]) || y[i] > y[best])) best = i;
        }
        return best;
    }

    /// <summary>Up to <paramref name="count"/> indices spread evenly over 0..n-1, first and last included.</summary>
    internal static IEnumerable<int> SampleIndices(int n, int count)
    {
        if (n <= count) return Enumerable.Range(0, n);
        return Enumerable.Range(0, count).Select(i => (int)Math.Round(i * (n - 1) / (double)(count - 1))).Distinct();
    }

    private const string Css = """
        :root { --ink:#1d2733; --muted:#5b6776; --line:#e3e8ee; --accent:#1f77b4; --bg:#f6f8fa; }
        * { box-sizing: border-box; }
        body { margin:0; background:var(--bg); color:var(--ink); font: 15px/1.55 "DejaVu Sans", "Segoe UI", Helvetica, Arial, sans-serif; }
        main { max-width: 1180px; margin: 0 auto; padding: 28px 32px 60px; background:#fff; min-height:100vh; }
        header h1 { margin: 0 0 4px; font-size: 28px; letter-spacing: -0.3px; }
        .sub { color: var(--muted); margin: 0 0 18px; }
        h2 { font-size: 21px; margin: 38px 0 10px; padding-bottom: 6px; border-bottom: 2px solid var(--line); }
        h3 { font-size: 17px; margin: 26px 0 6px; color: #24405e; }
        p { margin: 8px 0; max-width: 900px; }
        .note { color: var(--muted); font-size: 13.5px; }
        .missing { color: #8a5a00; background: #fff7e0; border-left: 4px solid #f0b400; padding: 8px 12px; }
        .cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 10px 0 12px; }
        .card { flex: 1 1 170px; border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; background: #fbfcfd; }
        .card .label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .5px; }
        .card .value { font-size: 22px; font-weight: 600; margin: 2px 0; }
        .card .detail { color: var(--muted); font-size: 12.5px; overflow-wrap: anywhere; }
        .row { display: flex; flex-wrap: wrap; gap: 18px; align-items: flex-start; margin: 10px 0 16px; }
        .fig img, .wide img { max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 6px; display: block; }
        .row .fig { flex: 0 1 auto; }
        .three .fig img { max-width: 420px; }
        .nums { flex: 1 1 240px; }
        table { border-collapse: collapse; font-size: 13.5px; margin: 6px 0; font-variant-numeric: tabular-nums; }
        caption { text-align: left; color: var(--muted); font-size: 12.5px; padding-bottom: 4px; }
        th, td { padding: 4px 10px; border-bottom: 1px solid var(--line); text-align: right; }
        th:first-child, td:first-child { text-align: left; }
        th { background: #f1f4f7; font-weight: 600; white-space: nowrap; }
        td.neg { color: #b2302a; } td.pos { color: #1f5f99; }
        table.matrix td { min-width: 64px; text-align: center; }
        table.samples td, table.samples th { text-align: left; vertical-align: top; font-size: 13px; }
        .promptline { font-family: "DejaVu Sans Mono", monospace; font-size: 12px; color: var(--ink); }
        table.samples td.gen { font-family: "DejaVu Sans Mono", monospace; font-size: 12px; white-space: pre-wrap; }
        details summary { cursor: pointer; color: var(--accent); margin: 6px 0; }
        code { background: #f1f4f7; padding: 1px 5px; border-radius: 4px; font-size: 12.5px; }
        ul.notes li { color: #5a4a00; }
        a { color: var(--accent); }
        """;
}

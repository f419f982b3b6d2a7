using System.Globalization;
using System.Text;
using LearningCurves.Analysis.Metrics;
using LearningCurves.Analysis.Plots;
using LearningCurves.Analysis.Pos;
using LearningCurves.Analysis.Umap;
using LearningCurves.Formats.EvalSets;
using LearningCurves.Formats.IO;
using LearningCurves.Formats.Tokenization;

namespace LearningCurves.Analysis.Report;

/// <summary>One POS tag's examples and their run-averaged metric means.</summary>
public sealed record PosRow(string Tag, int Count, IReadOnlyList<(string Metric, double Mean)> Means);

/// <summary>
/// The annotations of `analyze` (docs/annotations.md): each example's Universal POS tag (the `pos` column, indicator
/// predictors in the regressions, a per-tag breakdown), and the UMAP embedding of the smoothed curves (umap.npy in the
/// metrics folder, and its plots).
/// </summary>
public static class Annotations
{
    /// <summary>Tags with fewer examples than this are pooled as "other" in the regression indicators.</summary>
    public const int MinIndicatorCount = 20;

    /// <summary>The UPOS tag of each example, or null (with a note) where festlex-poslex is not in the cache.</summary>
    public static string[]? PosTags(EvalSet eval, TextTokenizer tokenizer, List<string> notes)
    {
        ArgumentNullException.ThrowIfNull(notes);
        var dir = PosModel.DefaultDir;
        if (!PosModel.Present(dir))
        {
            notes.Add($"POS tags were not computed: the tagger's data (festlex-poslex) is not in {dir}; `build.ps1 setup` fetches it");
            return null;
        }
        return TargetPos.Tag(eval, tokenizer, new PosTagger(PosModel.Load(dir)));
    }

    /// <summary>
    /// Indicator columns pos_TAG (1 where the example's tag is TAG) for the tags with at least
    /// <see cref="MinIndicatorCount"/> examples, the commonest of them left out as the reference level; the rest (and
    /// the rare tags) fall in the reference together. Empty with fewer than two such tags.
    /// </summary>
    public static List<(string Name, double[] Values)> Indicators(string[] pos)
    {
        ArgumentNullException.ThrowIfNull(pos);
        var levels = pos.GroupBy(t => t).Where(g => g.Count() >= MinIndicatorCount)
            .OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal).Select(g => g.Key).ToList();
        var result = new List<(string, double[])>();
        if (levels.Count < 2) return result;
        foreach (var level in levels.Skip(1)) result.Add(($"pos_{level}", pos.Select(t => t == level ? 1.0 : 0.0).ToArray()));
        return result;
    }

    /// <summary>The reference level <see cref="Indicators"/> leaves out (the commonest tag), or null.</summary>
    public static string? ReferenceLevel(string[] pos) =>
        pos.GroupBy(t => t).Where(g => g.Count() >= MinIndicatorCount).OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => g.Key).FirstOrDefault();

    /// <summary>Per tag (commonest first): count and the mean of each run-averaged metric (those of
    /// <paramref name="averaged"/>, in column order) over its finite values.</summary>
    public static List<PosRow> Breakdown(string[] pos, Dictionary<string, double[]> averaged)
    {
        ArgumentNullException.ThrowIfNull(pos);
        ArgumentNullException.ThrowIfNull(averaged);
        var names = Metric.Names(Metric.All).Where(averaged.ContainsKey).ToArray();
        return pos.Select((t, i) => (t, i)).GroupBy(x => x.t).OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => new PosRow(g.Key, g.Count(), names.Select(m =>
            {
                var v = g.Select(x => averaged[m][x.i]).Where(double.IsFinite).ToArray();
                return (m, v.Length > 0 ? v.Average() : double.NaN);
            }).ToList())).ToList();
    }

    public static string BreakdownMarkdown(IReadOnlyList<PosRow> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder("## Metrics by part of speech (run-averaged means)\n\n| POS | examples |");
        if (rows.Count == 0) return sb.Append("\n").ToString();
        foreach (var (m, _) in rows[0].Means) sb.Append(' ').Append(m).Append(" |");
        sb.Append("\n|---|---|").Append(string.Concat(rows[0].Means.Select(_ => "---|"))).Append('\n');
        foreach (var r in rows)
        {
            sb.Append(inv, $"| {r.Tag} | {r.Count} |");
            foreach (var (_, v) in r.Means) sb.Append(' ').Append(double.IsFinite(v) ? v.ToString("G6", inv) : "").Append(" |");
            sb.Append('\n');
        }
        return sb.Append('\n').ToString();
    }

    /// <summary>Embeds the smoothed curves of <paramref name="metricsDir"/> (umap.npy there) and returns the embedding,
    /// or null with a note when there are too few examples.</summary>
    public static float[]? Umap(string metricsDir, int examples, TextWriter log, List<string> notes)
    {
        ArgumentNullException.ThrowIfNull(notes);
        if (examples < 20)
        {
            notes.Add($"the UMAP embedding was not computed: {examples} examples (it needs at least 20)");
            return null;
        }
        CurveEmbedding.Run(metricsDir, examples, examplesFirst: false, new UmapOptions { Seed = 0 }, log);
        return Npy.ReadFloats(Path.Combine(metricsDir, CurveEmbedding.File)).Data;
    }

    /// <summary>The UMAP figures: coloured by AoA, final surprisal, log frequency and POS (when present).</summary>
    public static List<(string Name, string Caption, byte[] Png)> UmapFigures(float[] embedding, Dictionary<string, double[]> averaged, double[]? logFreq, string[]? pos)
    {
        ArgumentNullException.ThrowIfNull(embedding);
        ArgumentNullException.ThrowIfNull(averaged);
        var figs = new List<(string, string, byte[])>
        {
            ("umap_aoa", "coloured by age of acquisition (log10 step)", UmapPlots.Continuous("UMAP of the curves: AoA", embedding, averaged[Metric.Aoa.Name])),
            ("umap_final_surprisal", "coloured by final surprisal (bits)", UmapPlots.Continuous("UMAP of the curves: final surprisal", embedding, averaged[Metric.FinalSurprisal.Name])),
        };
        if (logFreq is not null) figs.Add(("umap_frequency", "coloured by log10 training frequency", UmapPlots.Continuous("UMAP of the curves: log10 frequency", embedding, logFreq)));
        if (pos is not null) figs.Add(("umap_pos", "coloured by part of speech (UPOS)", UmapPlots.Categorical("UMAP of the curves: POS", embedding, pos)));
        return figs;
    }
}

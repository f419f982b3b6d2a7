using System.Globalization;
using ScottPlot;

namespace LearningCurves.Analysis.Plots;

/// <summary>
/// The UMAP embedding of the learning curves (umap.npy) as scatter plots: coloured by a continuous value (AoA, final
/// surprisal, log frequency) in 8 quantile bands of the viridis map, or by a category (POS tag: the 7 commonest and
/// "other"). At most <c>maxPoints</c> points are drawn, an even subsample in example order.
/// </summary>
public static class UmapPlots
{
    private static Plot NewPlot(string title)
    {
        var plot = new Plot();
        plot.Font.Set(ReportPlots.FontName);
        plot.FigureBackground.Color = Colors.White;
        plot.DataBackground.Color = Colors.White;
        plot.Grid.MajorLineColor = Colors.Black.WithAlpha(0.08);
        plot.Title(title, size: 14);
        plot.XLabel("UMAP 1", size: 12);
        plot.YLabel("UMAP 2", size: 12);
        return plot;
    }

    private static int Stride(int n, int maxPoints) => Math.Max(1, (n + maxPoints - 1) / maxPoints);

    public static byte[] Continuous(string title, ReadOnlySpan<float> embedding, ReadOnlySpan<double> values, int maxPoints = 20000, int width = 520, int height = 420)
    {
        int n = values.Length;
        if (embedding.Length != 2 * n) throw new ArgumentException($"the embedding has {embedding.Length / 2} points, the values {n}");
        var idx = new List<int>();
        int stride = Stride(n, maxPoints);
        for (int i = 0; i < n; i += stride) if (double.IsFinite(values[i])) idx.Add(i);
        var plot = NewPlot(title);
        if (idx.Count > 0)
        {
            var vals = values.ToArray();
            var sorted = idx.Select(i => vals[i]).Order().ToArray();
            const int bands = 8;
            var cuts = Enumerable.Range(1, bands - 1).Select(b => sorted[(int)((long)b * (sorted.Length - 1) / bands)]).ToArray();
            var map = new ScottPlot.Colormaps.Viridis();
            var xs = new List<double>[bands];
            var ys = new List<double>[bands];
            for (int b = 0; b < bands; b++)
            {
                xs[b] = [];
                ys[b] = [];
            }
            var emb = embedding.ToArray();
            foreach (int i in idx)
            {
                int b = 0;
                while (b < bands - 1 && vals[i] > cuts[b]) b++;
                xs[b].Add(emb[2 * i]);
                ys[b].Add(emb[2 * i + 1]);
            }
            for (int b = 0; b < bands; b++)
            {
                if (xs[b].Count == 0) continue;
                var pts = plot.Add.ScatterPoints(xs[b].ToArray(), ys[b].ToArray());
                pts.Color = map.GetColor((double)b / (bands - 1)).WithAlpha(0.6);
                pts.MarkerSize = idx.Count > 5000 ? 2 : 4;
                double lo = b == 0 ? sorted[0] : cuts[b - 1], hi = b == bands - 1 ? sorted[^1] : cuts[b];
                pts.LegendText = string.Create(CultureInfo.InvariantCulture, $"{lo:G3} to {hi:G3}");
            }
            plot.ShowLegend(Edge.Right);
        }
        return plot.GetImageBytes(width, height, ImageFormat.Png);
    }

    public static byte[] Categorical(string title, ReadOnlySpan<float> embedding, IReadOnlyList<string> categories, int maxPoints = 20000, int width = 520, int height = 420)
    {
        ArgumentNullException.ThrowIfNull(categories);
        int n = categories.Count;
        if (embedding.Length != 2 * n) throw new ArgumentException($"the embedding has {embedding.Length / 2} points, the categories {n}");
        var top = categories.GroupBy(c => c).OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal).Take(7).Select(g => g.Key).ToList();
        var plot = NewPlot(title);
        int stride = Stride(n, maxPoints);
        var emb = embedding.ToArray();
        var groups = top.Append("other").ToList();
        for (int gi = 0; gi < groups.Count; gi++)
        {
            var xs = new List<double>();
            var ys = new List<double>();
            for (int i = 0; i < n; i += stride)
            {
                bool inGroup = gi < top.Count ? categories[i] == groups[gi] : !top.Contains(categories[i]);
                if (!inGroup) continue;
                xs.Add(emb[2 * i]);
                ys.Add(emb[2 * i + 1]);
            }
            if (xs.Count == 0) continue;
            var pts = plot.Add.ScatterPoints(xs.ToArray(), ys.ToArray());
            pts.Color = ReportPlots.ColorAt(gi).WithAlpha(0.6);
            pts.MarkerSize = n / stride > 5000 ? 2 : 4;
            pts.LegendText = groups[gi];
        }
        plot.ShowLegend(Edge.Right);
        return plot.GetImageBytes(width, height, ImageFormat.Png);
    }
}

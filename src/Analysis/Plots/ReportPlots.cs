using ScottPlot;

namespace LearningCurves.Analysis.Plots;

/// <summary>One example's learning curve for the gallery: x in log10(step), surprisal in bits.</summary>
public sealed record CurvePanel(string Label, double[] LogSteps, double[] Raw, double[] SmoothedLogSteps, double[] Smoothed,
    double? Aoa, double? AoaThreshold);

/// <summary>One line over training for a multi-line plot, with an optional band of +- <see cref="Sd"/>.</summary>
public sealed record Series(string Name, double[] Y, double[]? Sd = null, double? PeakX = null);

/// <summary>
/// The report's figures, drawn with ScottPlot 5 and returned as PNG bytes. Training steps are shown on a log10 axis
/// labelled with the steps themselves. Every figure uses the same font and palette so the page reads as one piece.
/// </summary>
public static class ReportPlots
{
    /// <summary>The font every figure uses; DejaVu Sans is what the Debian images carry (fonts-dejavu-core).</summary>
    public const string FontName = "DejaVu Sans";

    private static readonly Color[] Palette =
    [
        Color.FromHex("#1f77b4"), Color.FromHex("#d62728"), Color.FromHex("#2ca02c"), Color.FromHex("#9467bd"),
        Color.FromHex("#ff7f0e"), Color.FromHex("#17becf"), Color.FromHex("#8c564b"), Color.FromHex("#e377c2"),
    ];

    public static Color ColorAt(int i) => Palette[i % Palette.Length];

    /// <summary>A grid of example curves: raw points, the smoothed curve, the AoA as a vertical line.</summary>
    public static byte[] CurveGallery(IReadOnlyList<CurvePanel> panels, int columns = 3, int panelWidth = 360, int panelHeight = 260)
    {
        ArgumentNullException.ThrowIfNull(panels);
        if (panels.Count == 0) throw new ArgumentException("no curves to draw", nameof(panels));
        columns = Math.Clamp(columns, 1, panels.Count);
        int rows = (panels.Count + columns - 1) / columns;
        var multi = new Multiplot();
        var placeholder = multi.GetPlot(0); // a new Multiplot starts with one empty plot
        multi.Layout = new ScottPlot.MultiplotLayouts.Grid(rows, columns);
        for (int i = 0; i < panels.Count; i++)
        {
            var p = panels[i];
            var plot = NewPlot();
            var raw = plot.Add.ScatterPoints(p.LogSteps, p.Raw);
            raw.Color = ColorAt(0).WithAlpha(0.35);
            raw.MarkerSize = 3;
            raw.LegendText = "raw";
            var smooth = plot.Add.ScatterLine(p.SmoothedLogSteps, p.Smoothed);
            smooth.Color = ColorAt(0);
            smooth.LineWidth = 2.5f;
            smooth.LegendText = "smoothed";
            if (p.AoaThreshold is double th)
            {
                var h = plot.Add.HorizontalLine(th);
                h.Color = Colors.Gray;
                h.LinePattern = LinePattern.Dotted;
                h.LineWidth = 1;
            }
            if (p.Aoa is double aoa)
            {
                var v = plot.Add.VerticalLine(aoa);
                v.Color = ColorAt(1);
                v.LineWidth = 2;
                v.LinePattern = LinePattern.Dashed;
                v.LegendText = "AoA";
            }
            plot.Title(p.Label, size: 13);
            plot.YLabel("surprisal (bits)", size: 12);
            LogStepAxis(plot, p.LogSteps);
            if (i == 0)
            {
                plot.ShowLegend(Alignment.UpperRight);
                plot.Legend.FontSize = 10;
            }
            else
            {
                plot.HideLegend();
            }
            multi.AddPlot(plot);
        }
        multi.RemovePlot(placeholder);
        return multi.Render(columns * panelWidth, rows * panelHeight).GetImageBytes(ImageFormat.Png);
    }

    /// <summary>A histogram of one metric's values (NaNs dropped) with the mean marked.</summary>
    public static byte[] Distribution(string metric, ReadOnlySpan<double> values, int width = 480, int height = 320)
    {
        var finite = Finite(values);
        var plot = NewPlot();
        if (finite.Length > 0)
        {
            int bins = Math.Clamp((int)Math.Sqrt(finite.Length), 10, 60);
            double min = finite.Min(), max = finite.Max();
            if (max <= min) max = min + 1;
            var hist = ScottPlot.Statistics.Histogram.WithBinCount(bins, min, max);
            hist.AddRange(finite);
            var bars = plot.Add.Histogram(hist);
            bars.BarWidthFraction = 0.92;
            foreach (var b in bars.Bars)
            {
                b.FillColor = ColorAt(0).WithAlpha(0.75);
                b.LineWidth = 0;
            }
            var mean = plot.Add.VerticalLine(finite.Average());
            mean.Color = ColorAt(1);
            mean.LineWidth = 2;
            mean.LegendText = "mean";
            plot.ShowLegend(Alignment.UpperRight);
            plot.Axes.Margins(bottom: 0);
        }
        plot.Title(metric, size: 14);
        plot.XLabel(metric, size: 12);
        plot.YLabel("examples", size: 12);
        return plot.GetImageBytes(width, height, ImageFormat.Png);
    }

    /// <summary>
    /// A metric against log10 frequency: at most <paramref name="maxPoints"/> points drawn (an even subsample, so the
    /// picture of a million examples stays readable) and the mean in 20 equal-width frequency bins as a line.
    /// </summary>
    public static byte[] AgainstFrequency(string metric, ReadOnlySpan<double> logFrequency, ReadOnlySpan<double> values,
        int maxPoints = 4000, int width = 480, int height = 320)
    {
        if (logFrequency.Length != values.Length) throw new ArgumentException("frequency and metric lengths differ");
        var xs = new List<double>();
        var ys = new List<double>();
        for (int i = 0; i < values.Length; i++)
        {
            if (double.IsFinite(values[i]) && double.IsFinite(logFrequency[i]))
            {
                xs.Add(logFrequency[i]);
                ys.Add(values[i]);
            }
        }
        var plot = NewPlot();
        if (xs.Count > 0)
        {
            int stride = Math.Max(1, (xs.Count + maxPoints - 1) / maxPoints);
            var sx = xs.Where((_, i) => i % stride == 0).ToArray();
            var sy = ys.Where((_, i) => i % stride == 0).ToArray();
            var pts = plot.Add.ScatterPoints(sx, sy);
            pts.Color = ColorAt(0).WithAlpha(0.25);
            pts.MarkerSize = 3;
            var (bx, by) = BinnedMeans(xs, ys, 20);
            if (bx.Length > 1)
            {
                var line = plot.Add.Scatter(bx, by);
                line.Color = ColorAt(1);
                line.LineWidth = 2.5f;
                line.MarkerSize = 5;
                line.LegendText = "binned mean";
                plot.ShowLegend(Alignment.UpperRight);
            }
        }
        plot.Title($"{metric} vs frequency", size: 14);
        plot.XLabel("log10 frequency of the token in training", size: 12);
        plot.YLabel(metric, size: 12);
        return plot.GetImageBytes(width, height, ImageFormat.Png);
    }

    /// <summary>
    /// Lines over training (x = log10 step), each with an optional +- SD band and an optional marked peak.
    /// </summary>
    public static byte[] OverTraining(string title, string yLabel, double[] logSteps, IReadOnlyList<Series> series,
        int width = 720, int height = 400)
    {
        ArgumentNullException.ThrowIfNull(logSteps);
        ArgumentNullException.ThrowIfNull(series);
        var plot = NewPlot();
        for (int s = 0; s < series.Count; s++)
        {
            var ser = series[s];
            if (ser.Y.Length != logSteps.Length) throw new ArgumentException($"series '{ser.Name}' has {ser.Y.Length} values for {logSteps.Length} steps");
            var color = ColorAt(s);
            if (ser.Sd is { } sd)
            {
                var lo = ser.Y.Zip(sd, (y, d) => y - (double.IsFinite(d) ? d : 0)).ToArray();
                var hi = ser.Y.Zip(sd, (y, d) => y + (double.IsFinite(d) ? d : 0)).ToArray();
                var band = plot.Add.FillY(logSteps, hi, lo);
                band.FillColor = color.WithAlpha(0.15);
                band.LineWidth = 0;
            }
            var line = plot.Add.Scatter(logSteps, ser.Y);
            line.Color = color;
            line.LineWidth = 2;
            line.MarkerSize = logSteps.Length > 40 ? 0 : 4;
            line.LegendText = ser.Name;
            if (ser.PeakX is double px)
            {
                int k = NearestIndex(logSteps, px);
                var m = plot.Add.Marker(logSteps[k], ser.Y[k]);
                m.Color = color;
                m.MarkerSize = 11;
                m.MarkerShape = MarkerShape.FilledDiamond;
                var v = plot.Add.VerticalLine(px);
                v.Color = color.WithAlpha(0.6);
                v.LineWidth = 1;
                v.LinePattern = LinePattern.Dotted;
            }
        }
        plot.Title(title, size: 15);
        plot.YLabel(yLabel, size: 13);
        LogStepAxis(plot, logSteps);
        plot.ShowLegend(Edge.Right);
        return plot.GetImageBytes(width, height, ImageFormat.Png);
    }

    private static Plot NewPlot()
    {
        var plot = new Plot();
        plot.Font.Set(FontName);
        plot.FigureBackground.Color = Colors.White;
        plot.DataBackground.Color = Colors.White;
        plot.Grid.MajorLineColor = Colors.Black.WithAlpha(0.08);
        return plot;
    }

    /// <summary>x holds log10(step); ticks at whole powers of ten read as steps (1, 10, 100, 1k ...).</summary>
    private static void LogStepAxis(Plot plot, double[] logSteps)
    {
        var finite = Finite(logSteps);
        if (finite.Length == 0) return;
        int lo = (int)Math.Floor(finite.Min()), hi = (int)Math.Ceiling(finite.Max());
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        for (int e = lo; e <= hi; e++) ticks.AddMajor(e, StepLabel(e));
        plot.Axes.Bottom.TickGenerator = ticks;
        plot.XLabel("training step (log scale)", size: 12);
    }

    private static string StepLabel(int exponent) => exponent switch
    {
        < 0 => $"1e{exponent}",
        < 3 => Math.Pow(10, exponent).ToString("0", System.Globalization.CultureInfo.InvariantCulture),
        < 6 => $"{Math.Pow(10, exponent - 3):0}k",
        < 9 => $"{Math.Pow(10, exponent - 6):0}M",
        _ => $"1e{exponent}",
    };

    private static double[] Finite(ReadOnlySpan<double> values)
    {
        var list = new List<double>(values.Length);
        foreach (double v in values)
        {
            if (double.IsFinite(v)) list.Add(v);
        }
        return list.ToArray();
    }

    private static int NearestIndex(double[] xs, double x)
    {
        int best = 0;
        for (int i = 1; i < xs.Length; i++)
        {
            if (Math.Abs(xs[i] - x) < Math.Abs(xs[best] - x)) best = i;
        }
        return best;
    }

    /// <summary>Means of y in <paramref name="bins"/> equal-width bins of x; empty bins are left out.</summary>
    internal static (double[] X, double[] Y) BinnedMeans(IReadOnlyList<double> xs, IReadOnlyList<double> ys, int bins)
    {
        double min = xs.Min(), max = xs.Max();
        if (max <= min) return ([min], [ys.Average()]);
        var sum = new double[bins];
        var sx = new double[bins];
        var n = new int[bins];
        for (int i = 0; i < xs.Count; i++)
        {
            int b = Math.Min(bins - 1, (int)((xs[i] - min) / (max - min) * bins));
            sum[b] += ys[i];
            sx[b] += xs[i];
            n[b]++;
        }
        var bx = new List<double>();
        var by = new List<double>();
        for (int b = 0; b < bins; b++)
        {
            if (n[b] == 0) continue;
            bx.Add(sx[b] / n[b]);
            by.Add(sum[b] / n[b]);
        }
        return (bx.ToArray(), by.ToArray());
    }
}

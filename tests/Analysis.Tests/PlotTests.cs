using LearningCurves.Analysis.Plots;
using SkiaSharp;
using Xunit;

namespace LearningCurves.Analysis.Tests;

public class PlotTests
{
    /// <summary>Decodes a PNG and counts the pixels that are not (near) white: a drawn figure has many.</summary>
    internal static (int Width, int Height, double InkShare, int Colors) Inspect(byte[] png)
    {
        Assert.True(png.Length > 8 && png[0] == 0x89 && png[1] == (byte)'P' && png[2] == (byte)'N' && png[3] == (byte)'G', "not a PNG");
        using var bmp = SKBitmap.Decode(png);
        Assert.NotNull(bmp);
        int ink = 0;
        var colors = new HashSet<uint>();
        for (int y = 0; y < bmp.Height; y += 2)
        {
            for (int x = 0; x < bmp.Width; x += 2)
            {
                var c = bmp.GetPixel(x, y);
                if (c.Red < 235 || c.Green < 235 || c.Blue < 235) ink++;
                if (colors.Count < 5000) colors.Add((uint)c);
            }
        }
        return (bmp.Width, bmp.Height, ink / (double)((bmp.Width + 1) / 2 * ((bmp.Height + 1) / 2)), colors.Count);
    }

    private static void Save(string name, byte[] png)
    {
        var dir = Environment.GetEnvironmentVariable("LC_PLOT_DUMP");
        if (dir is not null) File.WriteAllBytes(Path.Combine(dir, name), png);
    }

    private static double[] LogSteps(int k) => Enumerable.Range(1, k).Select(i => 4.0 * i / k + 1).ToArray();

    [Fact]
    public void Gallery_renders_every_panel_with_ink()
    {
        var rng = new Random(3);
        var x = LogSteps(60);
        var panels = Enumerable.Range(0, 5).Select(e =>
        {
            double mid = 2 + 0.5 * e;
            var smooth = x.Select(v => 3 + 12 / (1 + Math.Exp(4 * (v - mid)))).ToArray();
            var raw = smooth.Select(v => v + rng.NextDouble() * 2 - 1).ToArray();
            return new CurvePanel($"example {e}", x, raw, x, smooth, mid, 9.0);
        }).ToList();
        var png = ReportPlots.CurveGallery(panels, columns: 3, panelWidth: 300, panelHeight: 220);
        Save("gallery.png", png);
        var (w, h, ink, colors) = Inspect(png);
        Assert.Equal(900, w);
        Assert.Equal(440, h);
        Assert.InRange(ink, 0.02, 0.6);
        Assert.True(colors > 20, $"only {colors} colours: text and lines did not render");
    }

    [Fact]
    public void Distribution_and_frequency_plots_render_and_ignore_nans()
    {
        var rng = new Random(5);
        int n = 3001 + rng.Next(100);
        var freq = Enumerable.Range(0, n).Select(_ => rng.NextDouble() * 6).ToArray();
        var metric = freq.Select(f => 10 - f + rng.NextDouble()).ToArray();
        metric[7] = double.NaN;
        var dist = ReportPlots.Distribution("aoa", metric);
        var vs = ReportPlots.AgainstFrequency("aoa", freq, metric, maxPoints: 1000);
        Save("dist.png", dist);
        Save("freq.png", vs);
        foreach (var png in new[] { dist, vs })
        {
            var (w, h, ink, _) = Inspect(png);
            Assert.Equal((480, 320), (w, h));
            Assert.InRange(ink, 0.02, 0.7);
        }
        // A metric with no finite value still gives a (labelled) figure instead of throwing.
        Inspect(ReportPlots.Distribution("empty", [double.NaN, double.NaN]));
    }

    [Fact]
    public void Over_training_plot_marks_peaks_and_checks_lengths()
    {
        var x = LogSteps(40);
        var series = Enumerable.Range(1, 5).Select(n => new Series($"{n}-gram",
            x.Select(v => Math.Exp(-Math.Pow(v - 1 - 0.6 * n, 2))).ToArray(),
            x.Select(_ => 0.05).ToArray(), 1 + 0.6 * n)).ToList();
        var png = ReportPlots.OverTraining("n-gram correlation", "Pearson r", x, series);
        Save("ngram.png", png);
        var (_, _, ink, colors) = Inspect(png);
        Assert.InRange(ink, 0.02, 0.7);
        Assert.True(colors > 20);
        Assert.Throws<ArgumentException>(() => ReportPlots.OverTraining("t", "y", x, [new Series("bad", [1, 2])]));
    }

    [Fact]
    public void Binned_means_average_within_equal_width_bins()
    {
        var (bx, by) = ReportPlots.BinnedMeans([0, 0.1, 0.9, 1.0], [1, 3, 10, 20], 2);
        Assert.Equal(2, bx.Length);
        Assert.Equal(0.05, bx[0], 12);
        Assert.Equal(0.95, bx[1], 12);
        Assert.Equal(2, by[0], 12);
        Assert.Equal(15, by[1], 12);
    }
}

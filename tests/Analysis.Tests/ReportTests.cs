using System.Diagnostics;
using System.Text.RegularExpressions;
using LearningCurves.Analysis.Generation;
using LearningCurves.Analysis.Plots;
using LearningCurves.Analysis.Report;
using LearningCurves.Tests.Common;
using Xunit;

namespace LearningCurves.Analysis.Tests;

public partial class ReportTests
{
    /// <summary>A report with every section filled from synthetic numbers of realistic shape.</summary>
    internal static ReportData Synthetic(int seed, int examples = 400)
    {
        var rng = new Random(seed);
        long[] steps = [0, 10, 30, 100, 300, 1000, 3000, 10000, 30000, 100000];
        var x = ReportMath.LogSteps(steps);
        var logFreq = Enumerable.Range(0, examples).Select(_ => rng.NextDouble() * 6).ToArray();
        var aoa = logFreq.Select(f => 4.5 - 0.4 * f + rng.NextDouble() * 0.5).ToArray();
        var final = logFreq.Select(f => 9 - f + rng.NextDouble() * 2).ToArray();
        var metrics = new[]
        {
            new MetricSummary("final_surprisal", "mean surprisal over the last checkpoints (bits)", final),
            new MetricSummary("aoa", "age of acquisition, log10(step)", aoa),
        };
        var gallery = Enumerable.Range(0, 6).Select(e =>
        {
            double mid = 1.5 + 0.5 * e;
            var smooth = x.Select(v => 3 + 12 / (1 + Math.Exp(3 * (v - mid)))).ToArray();
            return new CurvePanel($"\"tok{e}\" <after> the", x, smooth.Select(v => v + rng.NextDouble() - 0.5).ToArray(), x, smooth, mid, 9);
        }).ToList();
        var ngram = Enumerable.Range(1, 5).Select(n =>
        {
            var y = x.Select(v => 0.9 * Math.Exp(-Math.Pow(v - 1 - 0.5 * n, 2) / 2)).ToArray();
            return new Series($"{n}-gram", y, y.Select(_ => 0.02).ToArray(), x[Array.IndexOf(y, y.Max())]);
        }).ToList();
        var gen = steps.Where(s => s is 10 or 100 or 1000 or 10000 or 100000).SelectMany(s => new[] { "run0", "run1" }.Select(run =>
        {
            var toks = Enumerable.Range(0, 64).Select(i => s < 1000 ? i % 3 : rng.Next(100)).ToArray();
            return new GenerationRow(run, s, TextRepetition.Measure(toks), 8, "Once upon a <time>", s < 1000 ? "the the the the" : "a varied sentence & more");
        })).ToList();
        string[] predictors = ["unigram", "ngram", "context_loglen"];
        RegressionView Reg(string target) => new(target, examples,
            [new("Intercept", 5, 0.1, 50), new("unigram", -0.5, 0.01, -50), new("ngram", -0.2, 0.02, -10), new("context_loglen", 0.01, 0.02, 0.5)],
            0.61, 0.6,
            predictors.Select(p => new Coefficient(p, -0.3, 0.01, -30)).ToList(),
            predictors.Skip(1).Select(p => new Coefficient(p, -0.1, 0.01, -10)).ToList(),
            predictors.Select((p, i) => new SequentialRow(p, 0.4 + 0.1 * i, 900.0 / (i + 1), 1, Math.Pow(10, -100 / (i + 1)))).ToList());
        return new ReportData
        {
            Title = "Learning curves <test>",
            Suite = new SuiteSummary(["run0", "run1"], steps.Length, 0, 100000, examples, "/data/eval", 123456789, "train.txt", Math.Log2(50257)),
            Gallery = gallery,
            Metrics = metrics,
            LogFrequency = logFreq,
            Correlations = new CorrelationView(["final_surprisal", "aoa"], new double[,] { { 1, 0.7 }, { 0.7, 1 } }, new double[,] { { 1, 0.65 }, { 0.65, 1 } },
                [("final_surprisal", 0.9, 0.01), ("aoa", 0.8, 0.02)]),
            Stats = new StatsView([Reg("final_surprisal"), Reg("aoa")], predictors.Select(p => (p, 1.2)).ToList()),
            Phases = new PhasesView(steps, ngram, x.Select(v => 0.2 + 0.07 * v).ToArray(), x.Select(_ => 0.03).ToArray()),
            Generation = new GenerationView(gen, 0.3, 64, 7),
            PosBreakdown = Annotations.Breakdown(logFreq.Select(f => f > 3 ? "DET" : "NOUN").ToArray(),
                new Dictionary<string, double[]> { ["final_surprisal"] = final, ["aoa"] = aoa }),
            UmapFigures =
            [
                ("umap_aoa", "coloured by AoA", LearningCurves.Analysis.Plots.UmapPlots.Continuous("AoA", logFreq.SelectMany(f => new[] { (float)f, (float)(f * f) }).ToArray(), aoa)),
                ("umap_pos", "coloured by POS", LearningCurves.Analysis.Plots.UmapPlots.Categorical("POS", logFreq.SelectMany(f => new[] { (float)f, (float)(f * f) }).ToArray(), logFreq.Select(f => f > 3 ? "DET" : "NOUN").ToList())),
            ],
            Notes = ["a note"],
            Files = [("table.csv", "the table")],
        };
    }

    [Fact]
    public void Report_is_one_self_contained_page_with_every_section()
    {
        var dir = TestPaths.TempDir();
        var files = ReportWriter.Write(Synthetic(Random.Shared.Next()), dir);
        var html = File.ReadAllText(Path.Combine(dir, ReportWriter.HtmlFile));
        Assert.Contains(ReportWriter.HtmlFile, files);
        foreach (var id in new[] { "overview", "phases", "curves", "metrics", "annotations", "predictors", "files" })
            Assert.Contains($"<section id=\"{id}\">", html, StringComparison.Ordinal);
        Assert.DoesNotContain("Not shown", html, StringComparison.Ordinal);
        // Every figure is embedded, and also saved as a PNG beside the page.
        var images = ImgSrc().Matches(html).Select(m => m.Groups[1].Value).ToList();
        int plots = files.Count(f => f.EndsWith(".png", StringComparison.Ordinal));
        Assert.Equal(plots, images.Count);
        Assert.True(plots >= 8, $"{plots} figures");
        Assert.All(images, src => Assert.StartsWith("data:image/png;base64,", src, StringComparison.Ordinal));
        foreach (var f in files) Assert.True(File.Exists(Path.Combine(dir, f)), f);
        // Nothing fetched from elsewhere, user text escaped.
        Assert.DoesNotMatch(@"(src|href)=""(https?:|//)", html);
        Assert.Contains("Learning curves &lt;test&gt;", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<time>", html, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFiles(dir, "*.tmp", SearchOption.AllDirectories));
    }

    [Fact]
    public void Missing_sections_say_so_instead_of_failing()
    {
        var full = Synthetic(1);
        var bare = new ReportData { Title = "bare", Suite = full.Suite, Notes = ["generation skipped: no checkpoints"] };
        var dir = TestPaths.TempDir();
        ReportWriter.Write(bare, dir);
        var html = File.ReadAllText(Path.Combine(dir, ReportWriter.HtmlFile));
        Assert.Equal(7, Regex.Matches(html, "Not shown").Count); // the five sections, POS tags and the UMAP embedding
        Assert.Contains("generation skipped", html, StringComparison.Ordinal);
    }

    [Fact]
    public void Headless_chromium_renders_the_report()
    {
        var chromium = Chromium.Find();
        Assert.SkipWhen(chromium is null, "chromium is not installed (Debian package 'chromium'; build.ps1 setup installs it)");
        var dir = TestPaths.TempDir();
        ReportWriter.Write(Synthetic(Random.Shared.Next()), dir);
        var shot = Path.Combine(dir, "screenshot.png");
        var (code, log) = Chromium.Screenshot(chromium!, Path.Combine(dir, ReportWriter.HtmlFile), shot, 1280, 2400, TimeSpan.FromSeconds(90));
        Assert.True(File.Exists(shot), $"no screenshot (exit {code}): {log}");
        var dump = Environment.GetEnvironmentVariable("LC_PLOT_DUMP");
        if (dump is not null) File.Copy(shot, Path.Combine(dump, "report-screenshot.png"), overwrite: true);
        var (w, h, ink, colors) = PlotTests.Inspect(File.ReadAllBytes(shot));
        Assert.Equal((1280, 2400), (w, h));
        // A blank or error page is nearly one colour; the report has text, tables and figures.
        Assert.True(ink > 0.03, $"screenshot is almost blank ({ink:P1} ink)");
        Assert.True(colors > 200, $"screenshot has only {colors} colours");
    }

    [GeneratedRegex("<img src=\"([^\"]*)\"")]
    private static partial Regex ImgSrc();
}

/// <summary>Finding and driving headless Chromium for the report test.</summary>
internal static class Chromium
{
    public static string? Find()
    {
        foreach (var name in new[] { "chromium", "chromium-browser", "google-chrome" })
        {
            foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
            {
                var p = Path.Combine(dir, name);
                if (File.Exists(p)) return p;
            }
        }
        return null;
    }

    public static (int ExitCode, string Log) Screenshot(string exe, string htmlPath, string pngPath, int width, int height, TimeSpan timeout)
    {
        var profile = Path.Combine(Path.GetTempPath(), "lc-chromium-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(profile);
        var psi = new ProcessStartInfo(exe)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[]
        {
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--hide-scrollbars", $"--user-data-dir={profile}", $"--screenshot={pngPath}",
            $"--window-size={width},{height}", new Uri(Path.GetFullPath(htmlPath)).AbsoluteUri,
        })
        {
            psi.ArgumentList.Add(a);
        }
        try
        {
            using var p = Process.Start(psi)!;
            var err = p.StandardError.ReadToEndAsync();
            var output = p.StandardOutput.ReadToEndAsync();
            if (!p.WaitForExit(timeout))
            {
                p.Kill(entireProcessTree: true);
                return (-1, "timed out");
            }
            p.WaitForExit();
            return (p.ExitCode, (output.Result + err.Result).Trim());
        }
        finally
        {
            try
            {
                Directory.Delete(profile, recursive: true);
            }
            catch (IOException)
            {
                // Chromium may still be letting go of its profile; the temp folder is cleaned by the OS.
            }
        }
    }
}

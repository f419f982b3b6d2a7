using LearningCurves.Analysis.Smoothing;
using LearningCurves.Tests.Common;
using Xunit;
using LearningCurves.Formats.IO;

namespace LearningCurves.Analysis.Tests;

/// <summary>The smoother against pyGAM 0.9.0 references (../shared/fixtures/gam-paper-grid).</summary>
public sealed class SmoothingFixtureTests(ITestOutputHelper output)
{
    [Fact]
    public void SmoothedCurvesLambdaAndGridMatchPyGam()
    {
        var dir = TestPaths.SharedFixture("gam-paper-grid");
        var (curves, shape) = Npy.ReadDoubles(Path.Combine(dir, "curves.npy"));
        var (steps, _) = Npy.ReadInt64(Path.Combine(dir, "steps.npy"));
        var (gam, _) = Npy.ReadDoubles(Path.Combine(dir, "gam_curves.npy"));
        var (lam, _) = Npy.ReadDoubles(Path.Combine(dir, "gam_lam.npy"));
        var (grid, _) = Npy.ReadDoubles(Path.Combine(dir, "gam_grid.npy"));
        int r = (int)shape[0], e = (int)shape[1], k = (int)shape[2], n = k - 1, g = 1000;
        Assert.Equal(0, steps[0]);
        var x = steps.Skip(1).Select(s => Math.Log10(s)).ToArray();
        var smoother = new SplineSmoother(x);
        int total = r * e, bad = 0;
        double maxFit = 0, maxGrid = 0;
        for (int c = 0; c < total; c++)
        {
            var y = curves.AsSpan(c * k + 1, n);
            var fit = PenalizedSpline.Fit(smoother, y);
            double dFit = 0, dGrid = 0;
            for (int i = 0; i < n; i++) dFit = Math.Max(dFit, Math.Abs(fit.Fitted[i] - gam[c * n + i]));
            for (int i = 0; i < g; i++) dGrid = Math.Max(dGrid, Math.Abs(fit.Grid[i] - grid[c * g + i]));
            bool sameLam = Math.Abs(fit.Lambda - lam[c]) <= 1e-12 * lam[c];
            maxFit = Math.Max(maxFit, dFit);
            maxGrid = Math.Max(maxGrid, dGrid);
            if (dFit > 1e-6 || dGrid > 1e-6 || !sameLam)
            {
                bad++;
                output.WriteLine($"curve run {c / e} example {c % e}: lambda {fit.Lambda:R} vs pyGAM {lam[c]:R}, max |fit diff| {dFit:E3}, max |grid diff| {dGrid:E3}");
            }
        }
        output.WriteLine($"{total - bad}/{total} curves match; max |fit diff| {maxFit:E3}, max |grid diff| {maxGrid:E3}");
        Assert.True(bad <= total / 100, $"{bad} of {total} curves differ from pyGAM (see output)");
    }
}

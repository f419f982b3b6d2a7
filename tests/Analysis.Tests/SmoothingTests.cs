using LearningCurves.Analysis.Numerics;
using LearningCurves.Analysis.Smoothing;
using Xunit;

namespace LearningCurves.Analysis.Tests;

/// <summary>The smoother against a direct dense solve of the same problem, on grids other than the paper's.</summary>
public sealed class SmoothingTests(ITestOutputHelper output)
{
    /// <summary>The textbook route: X'X + P formed and solved for every lambda, H's trace from the full hat matrix.</summary>
    private static (int Best, double[] Fitted) Reference(double[] x, double[] y, IReadOnlyList<double> lambdas)
    {
        var basis = new BSplineBasis(x.Min(), x.Max());
        int n = x.Length, p = basis.Count + 1;
        var X = new double[n * p];
        for (int i = 0; i < n; i++)
        {
            basis.Evaluate(x[i], X.AsSpan(i * p, basis.Count));
            X[i * p + p - 1] = 1;
        }
        var xt = DenseLinearAlgebra.Transpose(X, n, p);
        var xtx = DenseLinearAlgebra.Multiply(xt, p, n, X, p);
        var s = SplineSmoother.SecondDifferencePenalty(basis.Count, p);
        int best = -1;
        double bestGcv = double.PositiveInfinity;
        double[] bestFit = [];
        for (int l = 0; l < lambdas.Count; l++)
        {
            var a = new double[p * p];
            for (int i = 0; i < p * p; i++) a[i] = xtx[i] + lambdas[l] * s[i];
            for (int i = 0; i < p; i++) a[i * p + i] += SplineSmoother.Ridge;
            var ainvXt = DenseLinearAlgebra.SolveSpd(a, p, xt, n); // (p, n)
            var h = DenseLinearAlgebra.Multiply(X, n, p, ainvXt, n);
            double tr = 0, rss = 0;
            var fit = new double[n];
            for (int i = 0; i < n; i++)
            {
                tr += h[i * n + i];
                for (int j = 0; j < n; j++) fit[i] += h[i * n + j] * y[j];
                rss += (y[i] - fit[i]) * (y[i] - fit[i]);
            }
            double gcv = n * rss / ((n - 1.4 * tr) * (n - 1.4 * tr));
            if (gcv < bestGcv)
            {
                bestGcv = gcv;
                best = l;
                bestFit = fit;
            }
        }
        return (best, bestFit);
    }

    [Theory]
    [InlineData(20, 11)]
    [InlineData(27, 12)]
    [InlineData(33, 13)]
    [InlineData(40, 14)]
    [InlineData(221, 15)]
    [InlineData(37, -1)] // a fresh seed each run
    public void BatchedSmootherMatchesDirectSolveOnIrregularGrids(int checkpoints, int seed)
    {
        var rng = seed < 0 ? new Random() : new Random(seed);
        // Irregular, increasing steps; x = log10(step).
        var steps = new long[checkpoints];
        long s = 0;
        for (int i = 0; i < checkpoints; i++) steps[i] = s += 1 + rng.Next(1, 5000) * (i + 1);
        var x = steps.Select(v => Math.Log10(v)).ToArray();
        var smoother = new SplineSmoother(x);
        int curves = 37; // spans the vector and scalar-tail paths of the block kernels
        var y = new double[checkpoints * curves];
        for (int c = 0; c < curves; c++)
        {
            double mid = x[0] + (x[^1] - x[0]) * rng.NextDouble(), hi = 16, lo = 12 * rng.NextDouble(), noise = 2 * rng.NextDouble();
            for (int i = 0; i < checkpoints; i++)
                y[i * curves + c] = lo + (hi - lo) / (1 + Math.Exp((x[i] - mid) * 4)) + noise * (rng.NextDouble() - 0.5);
        }
        var block = smoother.CreateBlock(curves + 3);
        smoother.Smooth(y, curves, curves, block);
        double maxDiff = 0;
        for (int c = 0; c < curves; c++)
        {
            var yc = Enumerable.Range(0, checkpoints).Select(i => y[i * curves + c]).ToArray();
            var (best, fit) = Reference(x, yc, smoother.Lambdas);
            Assert.True(best == block.LambdaIndex[c], $"curve {c}: lambda index {block.LambdaIndex[c]}, direct solve {best}");
            for (int i = 0; i < checkpoints; i++)
            {
                double d = Math.Abs(fit[i] - block.Fitted[i * block.Capacity + c]);
                maxDiff = Math.Max(maxDiff, d);
                Assert.True(d < 1e-8, $"curve {c} point {i}: {block.Fitted[i * block.Capacity + c]:R} vs direct {fit[i]:R}");
            }
        }
        output.WriteLine($"{checkpoints} points: max |diff| vs direct solve {maxDiff:E2}");
        // trace(H) from the hat matrix agrees with the precomputed edof.
        var h = smoother.HatMatrix(3);
        double tr = 0;
        for (int i = 0; i < checkpoints; i++) tr += h[i * checkpoints + i];
        Assert.True(Math.Abs(tr - smoother.EffectiveDof(3)) < 1e-9, $"trace {tr} vs edof {smoother.EffectiveDof(3)}");
    }

    [Fact]
    public void OneCurveFitAcceptsUnsortedXAndEvaluatesAnywhere()
    {
        var rng = new Random(21);
        int n = 300;
        var x = Enumerable.Range(0, n).Select(_ => rng.NextDouble() * 5 - 1).ToArray();
        var y = x.Select(v => Math.Sin(v) + 0.1 * (rng.NextDouble() - 0.5)).ToArray();
        var fit = PenalizedSpline.Fit(x, y);
        Assert.Equal(n, fit.Fitted.Count);
        for (int i = 0; i < n; i += 17) Assert.Equal(fit.Fitted[i], fit.Evaluate(x[i]), 1e-10);
        for (int g = 0; g < fit.GridX.Count; g += 111) Assert.Equal(fit.Grid[g], fit.Evaluate(fit.GridX[g]), 1e-10);
        Assert.True(Math.Abs(fit.Evaluate(1.0) - Math.Sin(1.0)) < 0.05);
        // Outside the data the curve continues linearly.
        double x1 = x.Max(), e1 = fit.Evaluate(x1 + 1), e2 = fit.Evaluate(x1 + 2);
        Assert.Equal(e2 - e1, e1 - fit.Evaluate(x1), 1e-9);
    }

    [Fact]
    public void LinearDataIsReproducedExactly()
    {
        var x = Enumerable.Range(1, 50).Select(i => Math.Log10(i * 1000.0)).ToArray();
        var y = x.Select(v => 20 - 2 * v).ToArray();
        var fit = PenalizedSpline.Fit(x, y);
        for (int i = 0; i < x.Length; i++) Assert.Equal(y[i], fit.Fitted[i], 1e-6);
    }

    [Fact]
    public void BasisIsAPartitionOfUnity()
    {
        var basis = new BSplineBasis(-2, 7);
        var row = new double[basis.Count];
        foreach (double v in BSplineBasis.Linspace(-2, 7, 101))
        {
            basis.Evaluate(v, row);
            Assert.Equal(1.0, row.Sum(), 1e-8);
            Assert.All(row, b => Assert.True(b >= -1e-15));
        }
    }
}

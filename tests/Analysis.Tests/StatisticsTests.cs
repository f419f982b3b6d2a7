using LearningCurves.Analysis.Statistics;
using Xunit;

namespace LearningCurves.Analysis.Tests;

public class StatisticsTests
{
    [Theory]
    [InlineData(0.5, 2)]
    [InlineData(3.0, 2)]
    [InlineData(40.0, 2)]
    [InlineData(1400.0, 2)]
    [InlineData(0.25, 4)]
    [InlineData(7.0, 4)]
    [InlineData(900.0, 4)]
    public void Chi_squared_survival_matches_closed_forms_for_even_df(double x, int df)
    {
        // df = 2: exp(-x/2); df = 4: exp(-x/2) (1 + x/2).
        double expected = Math.Exp(-x / 2) * (df == 4 ? 1 + x / 2 : 1);
        double got = SpecialFunctions.ChiSquaredSurvival(x, df);
        Assert.True(Math.Abs(got - expected) <= 1e-13 * expected, $"x={x} df={df}: expected {expected:R}, got {got:R}");
    }

    [Fact]
    public void Regularized_gammas_are_complementary_and_log_gamma_is_exact_at_integers()
    {
        var rng = new Random(Environment.TickCount);
        for (int i = 0; i < 200; i++)
        {
            double a = 0.05 + rng.NextDouble() * 30, x = rng.NextDouble() * 60;
            double s = SpecialFunctions.RegularizedGammaP(a, x) + SpecialFunctions.RegularizedGammaQ(a, x);
            Assert.True(Math.Abs(s - 1) < 1e-13, $"P+Q = {s:R} at a={a}, x={x}");
        }
        double logFact = 0;
        for (int n = 1; n < 60; n++)
        {
            Assert.True(Math.Abs(SpecialFunctions.LogGamma(n) - logFact) <= 1e-13 * Math.Max(1, logFact), $"lgamma({n})");
            logFact += Math.Log(n);
        }
        Assert.Equal(0.5 * Math.Log(Math.PI), SpecialFunctions.LogGamma(0.5), 14);
    }

    [Fact]
    public void Ols_recovers_parameters_and_agrees_with_normal_equations()
    {
        foreach (int seed in new[] { 7, Environment.TickCount })
        {
            var rng = new Random(seed);
            // Sizes that leave every remainder of the vector width.
            foreach (int n in new[] { 9, 10, 11, 12, 13, 101, 1003 })
            {
                var x1 = Enumerable.Range(0, n).Select(_ => rng.NextDouble() * 10 - 5).ToArray();
                var x2 = Enumerable.Range(0, n).Select(_ => rng.NextDouble() * 3 + 100).ToArray();
                var y = Enumerable.Range(0, n).Select(i => 1.5 - 2 * x1[i] + 0.25 * x2[i] + (rng.NextDouble() - 0.5)).ToArray();
                var fit = Ols.Fit(y, [x1, x2], ["a", "b"]);
                var normal = NormalEquations(y, [x1, x2]);
                for (int j = 0; j < 3; j++)
                    Assert.True(Math.Abs(fit.Params[j] - normal[j]) <= 1e-7 * (1 + Math.Abs(normal[j])),
                        $"seed {seed} n {n} param {j}: QR {fit.Params[j]:R} vs normal equations {normal[j]:R}");
                Assert.Equal(["Intercept", "a", "b"], fit.Names);
                // Residuals are orthogonal to every column.
                Assert.True(Math.Abs(fit.Residuals.Sum()) < 1e-9 * n);
                Assert.True(Math.Abs(fit.Residuals.Zip(x1, (r, v) => r * v).Sum()) < 1e-8 * n);
                Assert.InRange(fit.RSquared, 0, 1);
            }
        }
    }

    [Fact]
    public void Ols_rejects_collinear_and_non_finite_columns()
    {
        var x = new double[] { 1, 2, 3, 4, 5, 6 };
        var y = new double[] { 2, 1, 4, 3, 6, 5 };
        Assert.Throws<ArgumentException>(() => Ols.Fit(y, [x, x.Select(v => 2 * v + 1).ToArray()]));
        Assert.Throws<ArgumentException>(() => Ols.Fit(y, [new double[] { 1, 2, double.NaN, 4, 5, 6 }]));
        Assert.Throws<ArgumentException>(() => Ols.Fit(y.AsSpan(0, 2), [new double[] { 1, 2 }]));
    }

    [Fact]
    public void Pearson_skips_nan_pairs_and_between_runs_summarises_pairs()
    {
        var a = new double[] { 1, 2, 3, double.NaN, 5 };
        var b = new double[] { 2, 4, 6, 100, 10 };
        Assert.Equal(1.0, Correlation.Pearson(a, b), 12);
        Assert.Equal(-1.0, Correlation.Pearson(a, b.Select(v => -v).ToArray()), 12);
        Assert.True(double.IsNaN(Correlation.Pearson(new double[] { 1, 1, 1 }, new double[] { 1, 2, 3 })));
        var runs = new[] { new double[] { 1, 2, 3, 4 }, new double[] { 1, 2, 3, 5 }, new double[] { 4, 3, 2, 1 } };
        var s = Correlation.BetweenRuns(runs);
        var rs = new[] { Correlation.Pearson(runs[0], runs[1]), Correlation.Pearson(runs[0], runs[2]), Correlation.Pearson(runs[1], runs[2]) };
        double mean = rs.Average();
        Assert.Equal(mean, s.Mean, 12);
        Assert.Equal(Math.Sqrt(rs.Sum(r => (r - mean) * (r - mean)) / 2), s.Sd, 12);
        Assert.Equal(3, s.Count);
    }

    [Fact]
    public void Metric_correlations_average_and_concatenate_runs()
    {
        var rng = new Random(3);
        int n = 50;
        var m1 = new[] { Rand(rng, n), Rand(rng, n) };
        var m2 = new[] { m1[0].Select(v => 2 * v).ToArray(), m1[1].Select(v => 2 * v).ToArray() };
        var c = MetricCorrelations.Compute(["a", "b"], [m1, m2]);
        Assert.Equal(1.0, c.RunAveraged[0, 1], 12);
        Assert.Equal(1.0, c.Concatenated[1, 0], 12);
        Assert.Equal(Correlation.Pearson(m1[0], m1[1]), c.BetweenRuns[0].Mean, 12);
    }

    private static double[] Rand(Random rng, int n) => Enumerable.Range(0, n).Select(_ => rng.NextDouble()).ToArray();

    // (X'X) b = X'y by Gaussian elimination with partial pivoting: an independent route to the same estimate.
    private static double[] NormalEquations(double[] y, double[][] xs)
    {
        var cols = new[] { Enumerable.Repeat(1.0, y.Length).ToArray() }.Concat(xs).ToArray();
        int p = cols.Length;
        var m = new double[p, p + 1];
        for (int i = 0; i < p; i++)
        {
            for (int j = 0; j < p; j++) m[i, j] = cols[i].Zip(cols[j], (u, v) => u * v).Sum();
            m[i, p] = cols[i].Zip(y, (u, v) => u * v).Sum();
        }
        for (int k = 0; k < p; k++)
        {
            int piv = k;
            for (int i = k + 1; i < p; i++) if (Math.Abs(m[i, k]) > Math.Abs(m[piv, k])) piv = i;
            for (int j = 0; j <= p; j++) (m[k, j], m[piv, j]) = (m[piv, j], m[k, j]);
            for (int i = k + 1; i < p; i++)
            {
                double f = m[i, k] / m[k, k];
                for (int j = k; j <= p; j++) m[i, j] -= f * m[k, j];
            }
        }
        var b = new double[p];
        for (int i = p - 1; i >= 0; i--)
        {
            double s = m[i, p];
            for (int j = i + 1; j < p; j++) s -= m[i, j] * b[j];
            b[i] = s / m[i, i];
        }
        return b;
    }
}

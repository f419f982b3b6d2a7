using LearningCurves.Analysis.Phases;
using LearningCurves.Analysis.Statistics;
using Xunit;

namespace LearningCurves.Analysis.Tests;

public class PhaseTests
{
    [Theory]
    [InlineData(1, 5)]
    [InlineData(2, 17)]
    [InlineData(3, 2049)]
    [InlineData(4, 4099)]
    [InlineData(0, 3001)]
    public void Correlations_match_a_direct_pearson(int seed, int n)
    {
        var rng = new Random(seed == 0 ? Environment.TickCount : seed);
        int runs = 3, ckpts = 4, orders = 5;
        var ngram = Enumerable.Range(0, orders).Select(_ => Enumerable.Range(0, n).Select(_ => 8 + 3 * Gauss(rng)).ToArray()).ToArray();
        // Model surprisals near 10 bits with a shared component, so r is far from 0 and centring matters.
        var surprisal = Enumerable.Range(0, runs).Select(_ => (IReadOnlyList<float[]>)Enumerable.Range(0, ckpts)
            .Select(c => Enumerable.Range(0, n).Select(i => (float)(10 + ngram[c % orders][i] * 0.5 + Gauss(rng))).ToArray()).ToArray()).ToArray();
        long[] steps = [0, 10, 100, 1000];
        var ph = LearningPhaseAnalysis.Compute(surprisal, ngram, steps);

        double maxDiff = 0;
        string worst = "";
        for (int c = 0; c < ckpts; c++)
        {
            for (int k = 0; k < orders; k++)
            {
                var rs = Enumerable.Range(0, runs).Select(r => Correlation.Pearson(surprisal[r][c].Select(v => (double)v).ToArray(), ngram[k])).ToArray();
                var s = MeanSd.Of(rs);
                Track(s.Mean, ph.MeanR[c][k], $"mean r ckpt {c} n {k + 1}");
                Track(s.Sd, ph.SdR[c][k], $"sd r ckpt {c} n {k + 1}");
            }
            var pairs = new List<double>();
            for (int a = 0; a < runs; a++)
                for (int b = a + 1; b < runs; b++) pairs.Add(Correlation.Pearson(surprisal[a][c], surprisal[b][c]));
            var cr = MeanSd.Of(pairs.ToArray());
            Track(cr.Mean, ph.CrossRunR[c], $"cross-run r ckpt {c}");
            Track(cr.Sd, ph.CrossRunSd[c], $"cross-run sd ckpt {c}");
        }
        Assert.True(maxDiff < 1e-5, $"n={n}: max diff {maxDiff:E2} at {worst}");

        void Track(double expected, double actual, string what)
        {
            double d = Math.Abs(expected - actual);
            if (d > maxDiff) { maxDiff = d; worst = $"{what}: expected {expected:R}, got {actual:R}"; }
        }
    }

    [Fact]
    public void Peaks_follow_the_order_the_model_tracks()
    {
        // Checkpoint k tracks the (k+1)-gram surprisal: unigram peaks first, 5-gram last.
        var rng = new Random(5);
        int n = 3000;
        var ngram = Enumerable.Range(0, 5).Select(_ => Enumerable.Range(0, n).Select(_ => Gauss(rng)).ToArray()).ToArray();
        var runs = Enumerable.Range(0, 2).Select(_ => (IReadOnlyList<float[]>)Enumerable.Range(0, 5)
            .Select(c => Enumerable.Range(0, n).Select(i => (float)(ngram[c][i] + 0.3 * Gauss(rng))).ToArray()).ToArray()).ToArray();
        long[] steps = [1, 10, 100, 1000, 10000];
        var ph = LearningPhaseAnalysis.Compute(runs, ngram, steps);
        Assert.Equal([0, 1, 2, 3, 4], ph.PeakIndex);
        Assert.Equal(steps, ph.PeakStep);
        Assert.All(ph.CrossRunR, r => Assert.InRange(r, 0.8, 1));
    }

    [Fact]
    public void One_run_has_no_cross_run_correlation_and_shapes_are_checked()
    {
        var one = new[] { (IReadOnlyList<float[]>)new[] { new float[] { 1, 2, 3, 5 } } };
        var ph = LearningPhaseAnalysis.Compute(one, [new double[] { 1, 2, 3, 4 }], [7]);
        Assert.True(double.IsNaN(ph.CrossRunR[0]));
        Assert.Equal(0, ph.SdR[0][0]);
        Assert.Equal(7, ph.PeakStep[0]);
        Assert.Throws<ArgumentException>(() => LearningPhaseAnalysis.Compute(one, [new double[] { 1, 2, 3 }], [7]));
        Assert.Throws<ArgumentException>(() => LearningPhaseAnalysis.Compute(one, [new double[] { 1, 2, 3, 4 }], [7, 8]));
    }

    private static double Gauss(Random rng) => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
}

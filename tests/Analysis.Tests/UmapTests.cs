using System.Globalization;
using LearningCurves.Analysis.Umap;
using Xunit;

namespace LearningCurves.Analysis.Tests;

/// <summary>UMAP on data with known structure: separated Gaussian clusters stay separated, trustworthiness is high,
/// the approximate neighbour graph agrees with the exact one, a seed fixes the result.</summary>
public class UmapTests
{
    /// <summary>c clusters of n/c points in d dimensions around centres 10 apart (unit spread).</summary>
    private static (float[] X, int[] Label) Clusters(int n, int d, int c, int seed)
    {
        var rng = new Random(seed);
        var centres = new double[c, d];
        for (int j = 0; j < c; j++) for (int t = 0; t < d; t++) centres[j, t] = rng.NextDouble() * 40 - 20;
        var x = new float[n * d];
        var label = new int[n];
        for (int i = 0; i < n; i++)
        {
            label[i] = i % c;
            for (int t = 0; t < d; t++)
            {
                double g = Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
                x[i * d + t] = (float)(centres[label[i], t] + g);
            }
        }
        return (x, label);
    }

    /// <summary>Every point's nearest embedded neighbours share its cluster, and the clusters' embedded extents do not
    /// reach into each other: max within-cluster spread &lt; min distance between cluster centroids.</summary>
    private static (double KnnPurity, double Separation) Separation(float[] y, int[] label, int c)
    {
        int n = label.Length;
        var cx = new double[c];
        var cy = new double[c];
        var cnt = new int[c];
        for (int i = 0; i < n; i++)
        {
            cx[label[i]] += y[2 * i];
            cy[label[i]] += y[2 * i + 1];
            cnt[label[i]]++;
        }
        for (int j = 0; j < c; j++)
        {
            cx[j] /= cnt[j];
            cy[j] /= cnt[j];
        }
        double radius = 0;
        for (int i = 0; i < n; i++) radius = Math.Max(radius, Math.Sqrt(Math.Pow(y[2 * i] - cx[label[i]], 2) + Math.Pow(y[2 * i + 1] - cy[label[i]], 2)));
        double gap = double.PositiveInfinity;
        for (int a = 0; a < c; a++) for (int b = a + 1; b < c; b++) gap = Math.Min(gap, Math.Sqrt(Math.Pow(cx[a] - cx[b], 2) + Math.Pow(cy[a] - cy[b], 2)));
        int same = 0;
        for (int i = 0; i < n; i++)
        {
            int best = -1;
            float bd = float.PositiveInfinity;
            for (int j = 0; j < n; j++)
            {
                if (j == i) continue;
                float dd = MathF.Pow(y[2 * i] - y[2 * j], 2) + MathF.Pow(y[2 * i + 1] - y[2 * j + 1], 2);
                if (dd < bd) (bd, best) = (dd, j);
            }
            if (label[best] == label[i]) same++;
        }
        return ((double)same / n, gap / radius);
    }

    [Theory]
    [InlineData(600, 10, 4, 1, 5000)]
    [InlineData(1000, 40, 6, 2, 5000)]
    [InlineData(1500, 20, 5, 3, 100)] // approximate neighbour graph
    public void Separated_clusters_stay_separated_and_the_embedding_is_trustworthy(int n, int d, int c, int seed, int exactLimit)
    {
        var (x, label) = Clusters(n, d, c, seed);
        var y = Umap.Umap.Embed(x, n, d, new UmapOptions { Seed = (ulong)seed, ExactLimit = exactLimit, Epochs = 200 }, out var timing);
        Assert.Equal(2 * n, y.Length);
        Assert.All(y, v => Assert.True(float.IsFinite(v)));
        var (purity, sep) = Separation(y, label, c);
        double trust = Umap.Umap.Trustworthiness(x, d, y, n, 10);
        string msg = string.Create(CultureInfo.InvariantCulture,
            $"n={n} d={d} clusters={c} ({(timing.ExactKnn ? "exact" : "approximate")} kNN): 1-NN purity {purity:F4}, centroid gap / max cluster radius {sep:F2}, trustworthiness(k=10) {trust:F4}; {timing.Edges} edges, kNN {timing.Knn:F2} s, graph {timing.Graph:F2} s, layout {timing.Layout:F2} s");
        TestContext.Current.SendDiagnosticMessage(msg);
        Console.WriteLine(msg);
        Assert.Equal(1.0, purity);
        Assert.True(sep > 1, msg);
        Assert.True(trust > 0.9, msg);
    }

    [Fact]
    public void A_seed_fixes_the_embedding_and_another_seed_changes_it()
    {
        var (x, _) = Clusters(800, 12, 3, 9);
        var o = new UmapOptions { Seed = 5, ExactLimit = 100, Epochs = 60 };
        var a = Umap.Umap.Embed(x, 800, 12, o, out _);
        var b = Umap.Umap.Embed(x, 800, 12, o, out _);
        var c = Umap.Umap.Embed(x, 800, 12, o with { Seed = 6 }, out _);
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
    }

    [Fact]
    public void The_approximate_neighbours_recall_almost_all_exact_ones()
    {
        var rng = new Random(4);
        int n = 3000, d = 16, k = 15;
        var x = Enumerable.Range(0, n * d).Select(_ => (float)rng.NextDouble()).ToArray();
        var (ei, _) = Umap.Umap.ExactKnn(x, n, d, k);
        var (ai, ad) = Umap.Umap.ApproximateKnn(x, n, d, k, 1);
        int hit = 0;
        for (int i = 0; i < n; i++)
        {
            var set = ei.AsSpan(i * k, k).ToArray().ToHashSet();
            for (int t = 0; t < k; t++) if (set.Contains(ai[i * k + t])) hit++;
            for (int t = 1; t < k; t++) Assert.True(ad[i * k + t - 1] <= ad[i * k + t]);
        }
        double recall = (double)hit / (n * k);
        TestContext.Current.SendDiagnosticMessage($"approximate kNN recall on uniform 16-d data: {recall:F4}");
        Assert.True(recall > 0.95, $"recall {recall}");
    }

    [Fact]
    public void The_curve_fit_matches_the_known_parameters_for_the_defaults()
    {
        // min_dist 0.1, spread 1: a about 1.58, b about 0.90 (values published with the reference implementation).
        var (a, b) = Umap.Umap.FitCurve(0.1, 1.0);
        Assert.InRange(a, 1.50, 1.65);
        Assert.InRange(b, 0.87, 0.93);
    }

    [Fact]
    public void Trustworthiness_is_one_for_an_isometry_and_lower_for_a_shuffle()
    {
        var rng = new Random(2);
        int n = 300;
        var x = Enumerable.Range(0, 2 * n).Select(_ => (float)rng.NextDouble()).ToArray();
        var rotated = new float[2 * n];
        for (int i = 0; i < n; i++)
        {
            rotated[2 * i] = -x[2 * i + 1] * 3;
            rotated[2 * i + 1] = x[2 * i] * 3;
        }
        Assert.Equal(1.0, Umap.Umap.Trustworthiness(x, 2, rotated, n, 10), 12);
        var shuffled = x.ToArray();
        for (int i = n - 1; i > 0; i--)
        {
            int j = rng.Next(i + 1);
            (shuffled[2 * i], shuffled[2 * j]) = (shuffled[2 * j], shuffled[2 * i]);
            (shuffled[2 * i + 1], shuffled[2 * j + 1]) = (shuffled[2 * j + 1], shuffled[2 * i + 1]);
        }
        Assert.InRange(Umap.Umap.Trustworthiness(x, 2, shuffled, n, 10), 0.3, 0.7);
    }
}

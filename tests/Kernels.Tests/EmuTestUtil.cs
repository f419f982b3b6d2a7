using System.Globalization;
using System.Text;
using Xunit;

namespace LearningCurves.Kernels.Tests;

/// <summary>Random data and tolerant comparisons for the emulated kernel tests.</summary>
internal static class EmuTestUtil
{
    /// <summary>A fresh seed per call, printed in every failure so a case can be replayed.</summary>
    public static int NewSeed() => Random.Shared.Next();

    public static float[] Normal(Random rng, long n, float std = 1f, float mean = 0f)
    {
        var a = new float[n];
        for (long i = 0; i < n; i++)
        {
            double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
            a[i] = mean + std * (float)(Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        }
        return a;
    }

    public static int[] Ints(Random rng, int n, int maxExclusive) => Enumerable.Range(0, n).Select(_ => rng.Next(maxExclusive)).ToArray();

    /// <summary>
    /// Asserts |got - want| &lt;= atol + rtol |want| everywhere (NaN where NaN is wanted counts as a match when
    /// <paramref name="nanMatchesNan"/>); the message lists the first bad values and the max difference.
    /// </summary>
    public static void AssertClose(ReadOnlySpan<float> want, ReadOnlySpan<float> got, double atol, double rtol, string context, bool nanMatchesNan = true)
    {
        Assert.True(want.Length == got.Length, $"{context}: {got.Length} values, expected {want.Length}");
        double maxDiff = 0;
        int bad = 0;
        var sb = new StringBuilder();
        for (int i = 0; i < want.Length; i++)
        {
            double w = want[i], g = got[i], d = Math.Abs(w - g);
            bool ok = d <= atol + rtol * Math.Abs(w) || (nanMatchesNan && double.IsNaN(w) && double.IsNaN(g));
            if (double.IsNaN(d) && !ok) d = double.PositiveInfinity;
            maxDiff = Math.Max(maxDiff, d);
            if (!ok && bad++ < 8) sb.Append(CultureInfo.InvariantCulture, $"\n  [{i}] want {w:R} got {g:R} (diff {d:E3})");
        }
        Assert.True(bad == 0, $"{context}: {bad} of {want.Length} values off (max diff {maxDiff:E3}, atol {atol:E1}, rtol {rtol:E1}){sb}");
    }
}

using System.Numerics;
namespace LearningCurves.Analysis.Statistics;

/// <summary>Mean and sample standard deviation (n - 1) of a set of values, with how many there were.</summary>
public readonly record struct MeanSd(double Mean, double Sd, int Count)
{
    public static MeanSd Of(ReadOnlySpan<double> values)
    {
        int n = 0;
        double sum = 0;
        foreach (var v in values) if (!double.IsNaN(v)) { sum += v; n++; }
        if (n == 0) return new MeanSd(double.NaN, double.NaN, 0);
        double mean = sum / n, ss = 0;
        foreach (var v in values) if (!double.IsNaN(v)) ss += (v - mean) * (v - mean);
        return new MeanSd(mean, n > 1 ? Math.Sqrt(ss / (n - 1)) : 0, n);
    }
}

/// <summary>Pearson correlations. Pairs where either value is NaN are left out (pairwise-complete).</summary>
public static class Correlation
{
    /// <summary>Pearson r between two equally long series; NaN when fewer than 2 complete pairs or a constant series.</summary>
    public static double Pearson(ReadOnlySpan<double> a, ReadOnlySpan<double> b) => PearsonOf(a, b);

    /// <summary>Pearson r for float series (accumulated in double).</summary>
    public static double Pearson(ReadOnlySpan<float> a, ReadOnlySpan<float> b) => PearsonOf(a, b);

    /// <summary>One body for both element types; the JIT specialises it per type, so the float path stays as fast.</summary>
    private static double PearsonOf<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (a.Length != b.Length) throw new ArgumentException($"lengths differ ({a.Length} vs {b.Length})", nameof(b));
        // Two passes (means, then centred sums) rather than one pass of raw sums, which cancels badly for large means.
        int n = 0;
        double sa = 0, sb = 0;
        for (int i = 0; i < a.Length; i++)
        {
            if (T.IsNaN(a[i]) || T.IsNaN(b[i])) continue;
            sa += double.CreateTruncating(a[i]);
            sb += double.CreateTruncating(b[i]);
            n++;
        }
        if (n < 2) return double.NaN;
        double ma = sa / n, mb = sb / n, sab = 0, saa = 0, sbb = 0;
        for (int i = 0; i < a.Length; i++)
        {
            if (T.IsNaN(a[i]) || T.IsNaN(b[i])) continue;
            double da = double.CreateTruncating(a[i]) - ma, db = double.CreateTruncating(b[i]) - mb;
            sab += da * db;
            saa += da * da;
            sbb += db * db;
        }
        return saa > 0 && sbb > 0 ? Math.Clamp(sab / Math.Sqrt(saa * sbb), -1, 1) : double.NaN;
    }

    /// <summary>The symmetric matrix of pairwise Pearson r between columns (1 on the diagonal).</summary>
    public static double[,] Matrix(IReadOnlyList<double[]> columns)
    {
        ArgumentNullException.ThrowIfNull(columns);
        int k = columns.Count;
        var m = new double[k, k];
        for (int i = 0; i < k; i++)
        {
            m[i, i] = 1;
            for (int j = i + 1; j < k; j++) m[i, j] = m[j, i] = Pearson(columns[i], columns[j]);
        }
        return m;
    }

    /// <summary>Pearson r between every pair of runs (i &lt; j) of one quantity, summarised as mean and SD over pairs.</summary>
    public static MeanSd BetweenRuns(IReadOnlyList<double[]> runs)
    {
        ArgumentNullException.ThrowIfNull(runs);
        var rs = new List<double>();
        for (int i = 0; i < runs.Count; i++)
            for (int j = i + 1; j < runs.Count; j++) rs.Add(Pearson(runs[i], runs[j]));
        return MeanSd.Of(rs.ToArray());
    }
}

/// <summary>How the metrics relate: to each other (run-averaged, and runs concatenated) and across runs.</summary>
public sealed record MetricCorrelations(
    IReadOnlyList<string> Metrics,
    double[,] RunAveraged,
    double[,] Concatenated,
    IReadOnlyList<MeanSd> BetweenRuns)
{
    /// <summary>
    /// <paramref name="perRun"/>[metric][run][example]: each metric's value per run and example (NaN = undefined). The
    /// run-averaged value of an example averages its defined runs.
    /// </summary>
    public static MetricCorrelations Compute(IReadOnlyList<string> metrics, IReadOnlyList<IReadOnlyList<double[]>> perRun)
    {
        ArgumentNullException.ThrowIfNull(metrics);
        ArgumentNullException.ThrowIfNull(perRun);
        if (metrics.Count != perRun.Count) throw new ArgumentException("one entry of perRun per metric", nameof(perRun));
        int runs = perRun.Count == 0 ? 0 : perRun[0].Count;
        int n = runs == 0 ? 0 : perRun[0][0].Length;
        foreach (var m in perRun)
        {
            if (m.Count != runs) throw new ArgumentException("every metric needs the same number of runs", nameof(perRun));
            foreach (var r in m) if (r.Length != n) throw new ArgumentException("every run needs the same number of examples", nameof(perRun));
        }
        var averaged = new List<double[]>();
        var concatenated = new List<double[]>();
        var between = new List<MeanSd>();
        foreach (var m in perRun)
        {
            var avg = new double[n];
            for (int i = 0; i < n; i++)
            {
                double s = 0;
                int c = 0;
                foreach (var r in m) if (!double.IsNaN(r[i])) { s += r[i]; c++; }
                avg[i] = c > 0 ? s / c : double.NaN;
            }
            averaged.Add(avg);
            var cat = new double[checked(n * runs)];
            for (int r = 0; r < runs; r++) m[r].CopyTo(cat, r * n);
            concatenated.Add(cat);
            between.Add(Correlation.BetweenRuns(m));
        }
        return new MetricCorrelations(metrics, Correlation.Matrix(averaged), Correlation.Matrix(concatenated), between);
    }
}

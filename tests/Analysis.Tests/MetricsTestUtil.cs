using System.Globalization;
using LearningCurves.Analysis.Metrics;
using LearningCurves.Formats.IO;
using LearningCurves.Formats.Curves;

namespace LearningCurves.Analysis.Tests;

/// <summary>Writing curve files and reading the metrics' CSV outputs back, for the metrics tests.</summary>
internal static class MetricsTestUtil
{
    /// <summary>Writes curves[r][e][k] as one file per run in the given layout; returns the paths.</summary>
    public static List<string> WriteRuns(string dir, double[][][] curves, CurveLayout layout, bool float32)
    {
        var paths = new List<string>();
        for (int r = 0; r < curves.Length; r++)
        {
            int e = curves[r].Length, k = curves[r][0].Length;
            var flat = new double[e * k];
            for (int ex = 0; ex < e; ex++)
                for (int j = 0; j < k; j++)
                    flat[layout == CurveLayout.ExamplesFirst ? ex * k + j : j * e + ex] = curves[r][ex][j];
            string path = Path.Combine(dir, $"run{r}.npy");
            long[] shape = layout == CurveLayout.ExamplesFirst ? [e, k] : [k, e];
            if (float32) Npy.Write<float>(path, Array.ConvertAll(flat, v => (float)v), shape);
            else Npy.Write<double>(path, flat, shape);
            paths.Add(path);
        }
        return paths;
    }

    /// <summary>A CSV's header and rows of numbers, each read by column name (a column added to the file moves
    /// no test's reading).</summary>
    public static (string Header, MetricRow[] Rows) ReadCsv(string path)
    {
        var lines = File.ReadAllLines(path);
        var names = lines[0].Split(',');
        var columns = names.Select((n, i) => (n, i)).ToDictionary(c => c.n, c => c.i, StringComparer.Ordinal);
        var rows = lines.Skip(1)
            .Select(l => new MetricRow(columns, l.Split(',').Select(v => double.Parse(v, NumberStyles.Float, CultureInfo.InvariantCulture)).ToArray()))
            .ToArray();
        return (lines[0], rows);
    }

    /// <summary>Paper-like steps: step(n) = round(s0 t1/(s1-s0) (exp(n (s1-s0)/t1) - 1)) up to <paramref name="maxStep"/>.</summary>
    public static long[] PaperSteps(double maxStep = 1e6)
    {
        const double s0 = 100, s1 = 25000, t1 = 1e6;
        var steps = new List<long>();
        for (int n = 0; ; n++)
        {
            double s = Math.Round(s0 * t1 / (s1 - s0) * (Math.Exp(n * (s1 - s0) / t1) - 1));
            if (s > maxStep) break;
            steps.Add((long)s);
        }
        return [.. steps];
    }
}

/// <summary>One row of a metrics CSV; <c>row["aoa"]</c> reads a column by its header name.</summary>
internal sealed class MetricRow(IReadOnlyDictionary<string, int> columns, double[] values)
{
    public double[] Values => values;

    public double this[string column] => columns.TryGetValue(column, out int i)
        ? values[i]
        : throw new KeyNotFoundException($"no column '{column}' (the file has {string.Join(", ", columns.Keys)})");
}

using System.Globalization;
using System.Text;

namespace LearningCurves.Analysis.Metrics;

/// <summary>
/// The metrics stage's two CSV tables, written from <see cref="MetricResults"/> (the columns are
/// <see cref="Metric.PerRun"/> and <see cref="Metric.All"/>, so a metric's name is written where it is declared):
/// per_run.csv (one row per run and example) and examples.csv (one row per example, run-averaged, with the cross-run
/// metric). Values are written round-trip exact.
/// </summary>
public static class MetricTables
{
    /// <summary>The header of per_run.csv.</summary>
    public static string PerRunHeader { get; } = string.Join(',', ["run", "example", .. Metric.Names(Metric.PerRun)]);

    /// <summary>The header of examples.csv.</summary>
    public static string ExamplesHeader { get; } = string.Join(',', ["example", .. Metric.Names(Metric.All)]);

    /// <summary>Writes per_run.csv to <paramref name="path"/> (flushed to the disk).</summary>
    public static void WritePerRun(MetricResults results, string path, int threads)
    {
        ArgumentNullException.ThrowIfNull(results);
        int e = results.Examples;
        Write(path, PerRunHeader, (long)results.Runs * e, threads, (row, sb) =>
        {
            int r = (int)(row / e), ex = (int)(row % e);
            sb.Append(r.ToString(CultureInfo.InvariantCulture)).Append(',').Append(ex.ToString(CultureInfo.InvariantCulture));
            foreach (var m in Metric.PerRun) Num(sb, results.Value(m, r, ex));
        });
    }

    /// <summary>Writes examples.csv to <paramref name="path"/> (flushed to the disk).</summary>
    public static void WriteExamples(MetricResults results, string path, int threads)
    {
        ArgumentNullException.ThrowIfNull(results);
        Write(path, ExamplesHeader, results.Examples, threads, (row, sb) =>
        {
            int ex = (int)row;
            sb.Append(ex.ToString(CultureInfo.InvariantCulture));
            foreach (var m in Metric.All) Num(sb, results.Averaged(m, ex));
        });
    }

    private static void Num(StringBuilder sb, double v) => sb.Append(',').Append(v.ToString("R", CultureInfo.InvariantCulture));

    // Formats rows in parallel chunks and writes them in order.
    private static void Write(string path, string header, long rows, int threads, Action<long, StringBuilder> format)
    {
        const int chunk = 32768;
        long chunks = (rows + chunk - 1) / chunk;
        int batch = Math.Max(1, threads) * 4;
        using var fs = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        using var w = new StreamWriter(fs, new UTF8Encoding(false), 1 << 20);
        w.NewLine = "\n";
        w.WriteLine(header);
        var texts = new string[batch];
        for (long c0 = 0; c0 < chunks; c0 += batch)
        {
            int m = (int)Math.Min(batch, chunks - c0);
            Parallel.For(0, m, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, threads) }, j =>
            {
                var sb = new StringBuilder(chunk * 96);
                long r0 = (c0 + j) * chunk, r1 = Math.Min(rows, r0 + chunk);
                for (long r = r0; r < r1; r++)
                {
                    format(r, sb);
                    sb.Append('\n');
                }
                texts[j] = sb.ToString();
            });
            for (int j = 0; j < m; j++) w.Write(texts[j]);
        }
        w.Flush();
        fs.Flush(flushToDisk: true);
    }
}

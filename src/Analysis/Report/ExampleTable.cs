using System.Globalization;
using System.Text;
using LearningCurves.Formats.IO;
using Parquet;
using Parquet.Schema;

namespace LearningCurves.Analysis.Report;

/// <summary>A column of the per-example table: its name and the element type (long, double or string).</summary>
public sealed record TableColumn(string Name, Type Type)
{
    public static TableColumn Long(string name) => new(name, typeof(long));

    public static TableColumn Double(string name) => new(name, typeof(double));

    public static TableColumn Text(string name) => new(name, typeof(string));
}

/// <summary>
/// Writes the per-example table as CSV and Parquet side by side, one block of rows at a time, so a table of millions
/// of rows never has to exist in memory at once: each block becomes CSV lines and one Parquet row group. Both files
/// are written under temporary names and renamed by <see cref="Complete"/>; a writer disposed without it leaves
/// nothing that looks finished. Doubles are printed round-trip exact; NaN is an empty CSV cell and NaN in Parquet.
/// </summary>
public sealed class ExampleTableWriter : IDisposable
{
    private readonly IReadOnlyList<TableColumn> _columns;
    private readonly StagedFile _csvFile, _parquetFile;
    private readonly StreamWriter _csv;
    private readonly FileStream _parquetStream;
    private readonly ParquetWriter _parquet;
    private readonly ParquetSchema _schema;
    private bool _completed;

    public ExampleTableWriter(string csvPath, string parquetPath, IReadOnlyList<TableColumn> columns)
    {
        ArgumentNullException.ThrowIfNull(columns);
        if (columns.Count == 0) throw new ArgumentException("a table needs columns", nameof(columns));
        if (columns.Select(c => c.Name).Distinct(StringComparer.Ordinal).Count() != columns.Count)
            throw new ArgumentException("column names repeat", nameof(columns));
        _columns = columns;
        _csvFile = new StagedFile(csvPath);
        _parquetFile = new StagedFile(parquetPath);
        _csv = new StreamWriter(_csvFile.TempPath, false, new UTF8Encoding(false), 1 << 20) { NewLine = "\n" };
        _csv.WriteLine(string.Join(',', columns.Select(c => Quote(c.Name))));
        _schema = new ParquetSchema(columns.Select(Field).ToArray());
        _parquetStream = new FileStream(_parquetFile.TempPath, FileMode.Create, FileAccess.ReadWrite, FileShare.None);
        var options = new ParquetOptions { CompressionMethod = CompressionMethod.Snappy };
        _parquet = ParquetWriter.CreateAsync(_schema, _parquetStream, options).GetAwaiter().GetResult();
    }

    public long Rows { get; private set; }

    /// <summary>Appends a block: one array per column (long[], double[] or string[] as declared), all of one length.</summary>
    public void WriteBlock(IReadOnlyList<Array> block)
    {
        ArgumentNullException.ThrowIfNull(block);
        if (_completed) throw new InvalidOperationException("the table is already complete");
        if (block.Count != _columns.Count) throw new ArgumentException($"{block.Count} arrays for {_columns.Count} columns");
        int n = block[0].Length;
        for (int c = 0; c < block.Count; c++)
        {
            if (block[c].Length != n) throw new ArgumentException($"column {_columns[c].Name} has {block[c].Length} rows, column {_columns[0].Name} {n}");
            if (block[c].GetType().GetElementType() != _columns[c].Type)
                throw new ArgumentException($"column {_columns[c].Name} must be {_columns[c].Type.Name}[]");
        }
        if (n == 0) return;

        var line = new StringBuilder(256);
        for (int r = 0; r < n; r++)
        {
            line.Clear();
            for (int c = 0; c < block.Count; c++)
            {
                if (c > 0) line.Append(',');
                switch (block[c])
                {
                    case long[] l:
                        line.Append(l[r].ToString(CultureInfo.InvariantCulture));
                        break;
                    case double[] d:
                        if (!double.IsNaN(d[r])) line.Append(d[r].ToString("R", CultureInfo.InvariantCulture));
                        break;
                    case string[] s:
                        line.Append(Quote(s[r] ?? ""));
                        break;
                }
            }
            _csv.WriteLine(line);
        }

        using (var group = _parquet.CreateRowGroup())
        {
            for (int c = 0; c < block.Count; c++)
            {
                var field = _schema.DataFields[c];
                var task = block[c] switch
                {
                    long[] l => group.WriteAsync<long>(field, l),
                    double[] d => group.WriteAsync<double>(field, d),
                    string[] s => group.WriteAsync(field, s),
                    _ => throw new ArgumentException($"column {_columns[c].Name}: unsupported array"),
                };
                task.GetAwaiter().GetResult();
            }
        }
        Rows += n;
    }

    /// <summary>Finishes both files and moves them to their final names.</summary>
    public void Complete()
    {
        if (_completed) return;
        _csv.Flush();
        _csv.Dispose();
        _parquet.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _parquetStream.Dispose();
        StagedFile.CommitAll(_csvFile, _parquetFile);
        _completed = true;
    }

    public void Dispose()
    {
        if (_completed) return;
        _csv.Dispose();
        _parquet.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _parquetStream.Dispose();
        _csvFile.Dispose();
        _parquetFile.Dispose();
    }

    private static DataField Field(TableColumn c) =>
        c.Type == typeof(long) ? new DataField<long>(c.Name)
        : c.Type == typeof(double) ? new DataField<double>(c.Name)
        : c.Type == typeof(string) ? new DataField<string>(c.Name)
        : throw new ArgumentException($"column {c.Name}: unsupported type {c.Type.Name}");

    /// <summary>RFC 4180 quoting where needed (comma, quote, line break).</summary>
    internal static string Quote(string s) =>
        s.AsSpan().IndexOfAny(",\"\r\n") < 0 ? s : "\"" + s.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
}

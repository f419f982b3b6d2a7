using System.Globalization;
using System.Text;
using LearningCurves.Formats;

namespace LearningCurves.Analysis.Statistics;

/// <summary>
/// Reads named numeric columns from a CSV file with a header row (RFC 4180 quoting; other columns may hold any text).
/// Empty cells and nan/NaN read as NaN. Anything else unparseable is a <see cref="UserError"/> naming file, line and column.
/// </summary>
public static class NumericCsv
{
    public static Dictionary<string, double[]> ReadColumns(string path, IReadOnlyList<string> names)
    {
        ArgumentNullException.ThrowIfNull(names);
        if (!File.Exists(path)) throw UserError.InFile(path, "no such file");
        using var reader = new StreamReader(path, Encoding.UTF8);
        var header = ReadRecord(reader) ?? throw UserError.InFile(path, "empty file (no header row)");
        var index = new int[names.Count];
        for (int j = 0; j < names.Count; j++)
        {
            index[j] = header.IndexOf(names[j]);
            if (index[j] < 0) throw UserError.InFile(path, $"no column '{names[j]}' (columns: {string.Join(", ", header)})");
        }
        var values = names.Select(_ => new List<double>()).ToArray();
        int line = 1;
        while (ReadRecord(reader) is { } rec)
        {
            line++;
            if (rec.Count == 1 && rec[0].Length == 0) continue; // blank line
            if (rec.Count != header.Count) throw UserError.InFile(path, $"line {line} has {rec.Count} fields, the header {header.Count}");
            for (int j = 0; j < names.Count; j++)
            {
                var s = rec[index[j]].Trim();
                double v;
                if (s.Length == 0 || s.Equals("nan", StringComparison.OrdinalIgnoreCase)) v = double.NaN;
                else if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out v))
                    throw UserError.InFile(path, $"line {line}, column '{names[j]}': '{s}' is not a number");
                values[j].Add(v);
            }
        }
        if (values.Length > 0 && values[0].Count == 0) throw UserError.InFile(path, "no data rows");
        var result = new Dictionary<string, double[]>(StringComparer.Ordinal);
        for (int j = 0; j < names.Count; j++) result[names[j]] = values[j].ToArray();
        return result;
    }

    // One record, or null at end of file. Quoted fields may contain commas, doubled quotes and newlines.
    private static List<string>? ReadRecord(TextReader r)
    {
        int c = r.Read();
        if (c < 0) return null;
        var fields = new List<string>();
        var sb = new StringBuilder();
        bool quoted = false;
        while (true)
        {
            if (quoted)
            {
                if (c < 0) break;
                if (c == '"')
                {
                    if (r.Peek() == '"') { sb.Append('"'); r.Read(); }
                    else quoted = false;
                }
                else sb.Append((char)c);
            }
            else if (c < 0 || c == '\n') break;
            else if (c == ',') { fields.Add(sb.ToString()); sb.Clear(); }
            else if (c == '"' && sb.Length == 0) quoted = true;
            else if (c != '\r') sb.Append((char)c);
            c = r.Read();
        }
        fields.Add(sb.ToString());
        return fields;
    }
}

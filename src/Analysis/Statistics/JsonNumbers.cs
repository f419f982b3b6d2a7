using System.Text.Json;

namespace LearningCurves.Analysis.Statistics;

/// <summary>Numbers into JSON the way every analysis file writes them: finite values as numbers (shortest round-trip
/// form), NaN and infinities as null, since JSON has no non-finite numbers; and the arrays of them (and of names).</summary>
public static class JsonNumbers
{
    public static void WriteNumberOrNull(this Utf8JsonWriter w, string name, double v)
    {
        ArgumentNullException.ThrowIfNull(w);
        if (double.IsFinite(v)) w.WriteNumber(name, v);
        else w.WriteNull(name);
    }

    public static void WriteNumberOrNullValue(this Utf8JsonWriter w, double v)
    {
        ArgumentNullException.ThrowIfNull(w);
        if (double.IsFinite(v)) w.WriteNumberValue(v);
        else w.WriteNullValue();
    }

    /// <summary>An array of numbers, non-finite ones as null.</summary>
    public static void WriteNumbers(this Utf8JsonWriter w, string name, IEnumerable<double> values) =>
        w.WriteArray(name, values, WriteNumberOrNullValue);

    /// <summary>An array of whole numbers (steps).</summary>
    public static void WriteIntegers(this Utf8JsonWriter w, string name, IEnumerable<long> values) =>
        w.WriteArray(name, values, (x, v) => x.WriteNumberValue(v));

    /// <summary>An array of strings (names).</summary>
    public static void WriteStrings(this Utf8JsonWriter w, string name, IEnumerable<string> values) =>
        w.WriteArray(name, values, (x, v) => x.WriteStringValue(v));

    /// <summary>An array of <paramref name="values"/>, each written by <paramref name="write"/>.</summary>
    private static void WriteArray<T>(this Utf8JsonWriter w, string name, IEnumerable<T> values, Action<Utf8JsonWriter, T> write)
    {
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(values);
        w.WriteStartArray(name);
        foreach (var v in values) write(w, v);
        w.WriteEndArray();
    }

    /// <summary>An array of rows, each an array of numbers (non-finite ones as null).</summary>
    public static void WriteRows(this Utf8JsonWriter w, string name, IEnumerable<IEnumerable<double>> rows)
    {
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(rows);
        w.WriteStartArray(name);
        foreach (var row in rows)
        {
            w.WriteStartArray();
            foreach (var v in row) w.WriteNumberOrNullValue(v);
            w.WriteEndArray();
        }
        w.WriteEndArray();
    }

    /// <summary>A matrix as its rows.</summary>
    public static void WriteMatrix(this Utf8JsonWriter w, string name, double[,] m)
    {
        ArgumentNullException.ThrowIfNull(m);
        w.WriteRows(name, Enumerable.Range(0, m.GetLength(0)).Select(i => Enumerable.Range(0, m.GetLength(1)).Select(j => m[i, j])));
    }
}

using System.Globalization;
using System.Text;
using LearningCurves.Formats.IO;

namespace LearningCurves.Formats.Tokenization;

/// <summary>Pre-tokenized input: whitespace-separated token ids, one sequence per line. Blank lines are skipped.</summary>
public static class TokenIdsFile
{
    /// <summary>Reads every sequence of <paramref name="path"/>; a bad id is an error naming the file and line.</summary>
    public static List<int[]> Read(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path)) throw UserError.InFile(path, "file not found");
        using var reader = new StreamReader(path, new UTF8Encoding(false, true));
        return Read(reader, path);
    }

    public static List<int[]> Read(TextReader reader, string source)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var result = new List<int[]>();
        var ids = new List<int>();
        int lineNo = 0;
        string? line;
        try
        {
            while ((line = reader.ReadLine()) is not null)
            {
                lineNo++;
                ids.Clear();
                foreach (var tok in line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries))
                {
                    if (!int.TryParse(tok, NumberStyles.None, CultureInfo.InvariantCulture, out int id))
                        throw UserError.InFile(source, $"line {lineNo}: '{Clip(tok)}' is not a token id (a non-negative integer)");
                    ids.Add(id);
                }
                if (ids.Count > 0) result.Add(ids.ToArray());
            }
        }
        catch (DecoderFallbackException)
        {
            throw UserError.InFile(source, $"line {lineNo + 1}: not valid UTF-8 text");
        }
        return result;
    }

    /// <summary>Writes sequences in the same format (atomically).</summary>
    public static void Write(string path, IEnumerable<int[]> sequences)
    {
        ArgumentNullException.ThrowIfNull(sequences);
        var sb = new StringBuilder();
        foreach (var s in sequences) sb.AppendJoin(' ', s).Append('\n');
        AtomicFile.WriteAllText(path, sb.ToString());
    }

    private static string Clip(string s) => s.Length <= 20 ? s : s[..20] + "...";
}

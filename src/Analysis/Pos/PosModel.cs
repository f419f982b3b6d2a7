using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using LearningCurves.Formats;

namespace LearningCurves.Analysis.Pos;

/// <summary>
/// The data of the part-of-speech tagger, from Debian's festlex-poslex (Festival's English POS data, from the WSJ Penn
/// Treebank): <c>wsj.wp39.poslexR</c>, a lexicon of lower-cased words with ln P(word | tag) per tag, and
/// <c>wsj.wp39.tri.ngrambin</c>, tag trigram counts. Festival's tag set is the Penn Treebank's with punctuation folded
/// into <c>punc</c>, possessive pronouns into <c>prp</c>, and <c>of</c> and <c>to</c> tags of their own.
/// </summary>
public sealed class PosModel
{
    public const string LexiconFile = "wsj.wp39.poslexR";
    public const string TrigramFile = "wsj.wp39.tri.ngrambin";

    private PosModel(string[] tags, double[] trigram, Dictionary<string, (int Tag, double LogP)[]> lexicon, string source)
    {
        Tags = tags;
        Trigram = trigram;
        Lexicon = lexicon;
        Source = source;
    }

    /// <summary>The tag names (lower case, Festival's spelling).</summary>
    public string[] Tags { get; }

    /// <summary>Counts (T, T, T) of tag trigrams (t1, t2, t3), row-major.</summary>
    public double[] Trigram { get; }

    /// <summary>Lower-cased word -> (tag, ln P(word | tag)).</summary>
    public Dictionary<string, (int Tag, double LogP)[]> Lexicon { get; }

    /// <summary>Where the data came from, for messages.</summary>
    public string Source { get; }

    public int TagCount => Tags.Length;

    public int TagIndex(string tag) => Array.IndexOf(Tags, tag);

    /// <summary>The folder setup fetches the data into: $LEARNING_CURVES_CACHE/festlex-poslex, else
    /// ~/.cache/learning-curves/festlex-poslex.</summary>
    public static string DefaultDir
    {
        get
        {
            var env = Environment.GetEnvironmentVariable("LEARNING_CURVES_CACHE");
            var root = !string.IsNullOrEmpty(env) ? env
                : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "learning-curves");
            return Path.Combine(root, "festlex-poslex");
        }
    }

    /// <summary>True when <paramref name="dir"/> holds both files.</summary>
    public static bool Present(string dir) =>
        File.Exists(Path.Combine(dir, LexiconFile)) && File.Exists(Path.Combine(dir, TrigramFile));

    /// <summary>Reads the two files of <paramref name="dir"/>; a missing or malformed file is an error naming it.</summary>
    public static PosModel Load(string dir)
    {
        ArgumentNullException.ThrowIfNull(dir);
        string tri = Path.Combine(dir, TrigramFile), lex = Path.Combine(dir, LexiconFile);
        foreach (var p in new[] { tri, lex })
        {
            if (!File.Exists(p)) throw UserError.InFile(p, "missing: the POS tagger's data (festlex-poslex) is fetched by `build.ps1 setup`");
        }
        var (tags, counts) = ReadTrigrams(tri);
        var lexicon = ReadLexicon(lex, tags);
        return new PosModel(tags, counts, lexicon, dir);
    }

    /// <summary>
    /// The binary n-gram file: a line "NgramBin_2 3", the vocabulary (tags, space-separated) on one line, the predicted
    /// vocabulary (the same) on the next, then big-endian float64 counts of every (t1, t2, t3) in row-major order, where a
    /// negative value -n stands for n - 1 zero counts.
    /// </summary>
    private static (string[] Tags, double[] Counts) ReadTrigrams(string path)
    {
        var bytes = File.ReadAllBytes(path);
        int pos = 0;
        string Line()
        {
            int nl = Array.IndexOf(bytes, (byte)'\n', pos);
            if (nl < 0) throw UserError.InFile(path, "truncated header");
            var s = Encoding.ASCII.GetString(bytes, pos, nl - pos);
            pos = nl + 1;
            return s;
        }
        var magic = Line();
        if (magic != "NgramBin_2 3") throw UserError.InFile(path, $"not a trigram file of Festival's binary format (header '{magic}')");
        var tags = Line().Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var pred = Line().Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (tags.Length == 0 || !tags.SequenceEqual(pred)) throw UserError.InFile(path, "the vocabulary and the predicted vocabulary differ");
        int t = tags.Length;
        var counts = new double[t * t * t];
        int k = 0;
        if ((bytes.Length - pos) % 8 != 0) throw UserError.InFile(path, "the counts are not a whole number of float64 values");
        for (; pos < bytes.Length; pos += 8)
        {
            double v = BitConverter.Int64BitsToDouble(BinaryPrimitives.ReadInt64BigEndian(bytes.AsSpan(pos, 8)));
            if (v < 0)
            {
                k += (int)-v - 1;
                continue;
            }
            if (k >= counts.Length) throw UserError.InFile(path, $"more than {t}^3 counts");
            counts[k++] = v;
        }
        if (k != counts.Length) throw UserError.InFile(path, $"{k} counts, expected {t}^3 = {counts.Length}");
        return (tags, counts);
    }

    /// <summary>The lexicon: a line "MNCL", then one entry per line: ("word" ((tag logp) ...) () ).</summary>
    private static Dictionary<string, (int, double)[]> ReadLexicon(string path, string[] tags)
    {
        var index = new Dictionary<string, int>();
        for (int i = 0; i < tags.Length; i++) index[tags[i]] = i;
        var lex = new Dictionary<string, (int, double)[]>(StringComparer.Ordinal);
        int lineNo = 0;
        foreach (var raw in File.ReadLines(path, Encoding.Latin1))
        {
            lineNo++;
            var line = raw.Trim();
            if (line.Length == 0 || line == "MNCL") continue;
            if (!line.StartsWith("(\"", StringComparison.Ordinal)) throw UserError.InFile(path, $"line {lineNo}: expected (\"word\" ((tag logp) ...) () )");
            int q = line.IndexOf("\" ((", 2, StringComparison.Ordinal);
            if (q < 0) throw UserError.InFile(path, $"line {lineNo}: expected (\"word\" ((tag logp) ...) () )");
            string word = line[2..q];
            var entries = new List<(int, double)>();
            int i = q + 3;
            while (i < line.Length && line[i] == '(')
            {
                int close = line.IndexOf(')', i);
                if (close < 0) break;
                var parts = line[(i + 1)..close].Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (parts.Length != 2 || !index.TryGetValue(parts[0], out int tag)
                    || !double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out double lp))
                    throw UserError.InFile(path, $"line {lineNo}: bad entry '{line[i..(close + 1)]}'");
                entries.Add((tag, lp));
                i = close + 1;
                while (i < line.Length && line[i] == ' ') i++;
            }
            if (entries.Count == 0) throw UserError.InFile(path, $"line {lineNo}: no tags for '{word}'");
            lex[word] = entries.ToArray();
        }
        if (lex.Count == 0) throw UserError.InFile(path, "no entries");
        return lex;
    }
}

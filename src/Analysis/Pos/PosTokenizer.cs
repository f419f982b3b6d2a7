namespace LearningCurves.Analysis.Pos;

/// <summary>
/// Words of a text for tagging, Penn/UD English style: whitespace-separated chunks with leading and trailing
/// punctuation split off, the clitics 's n't 're 've 'll 'd 'm and a possessive ' split from their word, "--" and a
/// dash between words split, abbreviations (Mr., St., U.S., initials) and numbers (1,234.5) kept whole. Sentences end
/// after . ? ! (not after an abbreviation).
/// </summary>
public static class PosTokenizer
{
    /// <summary>A token's character span [Start, End).</summary>
    public readonly record struct Span(int Start, int End);

    private static readonly HashSet<string> Abbreviations = new(StringComparer.OrdinalIgnoreCase)
    {
        "mr", "mrs", "ms", "dr", "st", "jr", "sr", "gen", "gov", "hon", "rev", "col", "lt", "capt", "sen", "rep", "messrs",
        "no", "vs", "etc", "co", "inc", "ltd", "corp", "jan", "feb", "mar", "apr", "aug", "sept", "sep", "oct", "nov", "dec", "ft", "mt",
    };

    private static readonly string[] Clitics = ["n't", "'s", "'re", "'ve", "'ll", "'d", "'m"];

    private const string Leading = "\"'([{`$#";
    private const string Trailing = "\"')]}.,;:?!%";

    /// <summary>The tokens of <paramref name="text"/>, grouped in sentences.</summary>
    public static List<List<Span>> Sentences(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var sentences = new List<List<Span>>();
        var cur = new List<Span>();
        foreach (var s in Tokens(text))
        {
            cur.Add(s);
            string tok = text[s.Start..s.End];
            if (tok is "." or "?" or "!")
            {
                sentences.Add(cur);
                cur = [];
            }
        }
        if (cur.Count > 0) sentences.Add(cur);
        // Closing quotes and brackets that began a "sentence" after a full stop move back to the one before.
        for (int i = 1; i < sentences.Count; i++)
        {
            while (sentences[i].Count > 0 && IsCloser(text, sentences[i][0]) && sentences[i - 1].Count > 0)
            {
                sentences[i - 1].Add(sentences[i][0]);
                sentences[i].RemoveAt(0);
            }
        }
        sentences.RemoveAll(s => s.Count == 0);
        return sentences;
    }

    private static bool IsCloser(string text, Span s) => s.End - s.Start == 1 && text[s.Start] is '"' or ')' or ']' or '}';

    /// <summary>The tokens of <paramref name="text"/> in order.</summary>
    public static List<Span> Tokens(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var result = new List<Span>();
        int i = 0;
        while (i < text.Length)
        {
            while (i < text.Length && char.IsWhiteSpace(text[i])) i++;
            if (i >= text.Length) break;
            int start = i;
            while (i < text.Length && !char.IsWhiteSpace(text[i])) i++;
            SplitChunk(text, start, i, result);
        }
        return result;
    }

    private static void SplitChunk(string text, int start, int end, List<Span> result)
    {
        var tail = new List<Span>();
        // Leading punctuation, one character at a time.
        while (start < end && Leading.Contains(text[start], StringComparison.Ordinal) && end - start > 1)
        {
            result.Add(new Span(start, start + 1));
            start++;
        }
        // Trailing punctuation (a period only when the word is not an abbreviation).
        while (end - start > 1)
        {
            char c = text[end - 1];
            if (!Trailing.Contains(c, StringComparison.Ordinal)) break;
            if (c == '.' && IsAbbreviation(text[start..end])) break;
            if (c == '\'' && end - start > 1 && char.ToLowerInvariant(text[end - 2]) == 's')
            {
                // veterans' -> veterans '
                tail.Insert(0, new Span(end - 1, end));
                end--;
                break;
            }
            tail.Insert(0, new Span(end - 1, end));
            end--;
        }
        // Clitics.
        string chunk = text[start..end];
        foreach (var cl in Clitics)
        {
            if (chunk.Length > cl.Length && chunk.EndsWith(cl, StringComparison.OrdinalIgnoreCase) && chunk.Replace('\u2019', '\'').Any(char.IsLetter))
            {
                tail.Insert(0, new Span(end - cl.Length, end));
                end -= cl.Length;
                break;
            }
        }
        // Dashes: "--" anywhere, and a single hyphen between a lower-case and ... word only when both sides are words
        // longer than one letter and the left ends a phrase is not decidable; keep single hyphens (compounds) whole.
        int s = start;
        for (int k = start; k + 1 < end; k++)
        {
            if (text[k] == '-' && text[k + 1] == '-')
            {
                if (k > s) result.Add(new Span(s, k));
                int d = k;
                while (d < end && text[d] == '-') d++;
                result.Add(new Span(k, d));
                s = d;
                k = d - 1;
            }
        }
        if (end > s) result.Add(new Span(s, end));
        result.AddRange(tail);
    }

    private static bool IsAbbreviation(string w)
    {
        string core = w.TrimEnd('.');
        if (core.Length == 0) return false;
        if (Abbreviations.Contains(core)) return true;
        // U.S., A., e.g.: letters each followed by a period.
        var parts = w.Split('.', StringSplitOptions.RemoveEmptyEntries);
        return parts.All(p => p.Length == 1 && char.IsLetter(p[0]));
    }
}

namespace LearningCurves.Analysis.Generation;

/// <summary>
/// How repetitive one generated text is, measured on its token ids (the continuation only, not the prompt).
/// <list type="bullet">
/// <item><c>RepeatedShare[n-1]</c>: the share of the text's n-gram occurrences whose n-gram occurs more than once in
/// it (every copy counts, the first included). 0 for text without repeats, 1 for a loop.</item>
/// <item><c>DistinctN[n-1]</c>: distinct n-grams / n-gram occurrences (Li et al. 2016).</item>
/// <item><c>LongestRepeatedSpan</c>: the length in tokens of the longest span that occurs at least twice (copies may
/// overlap), 0 when no token repeats.</item>
/// </list>
/// n runs 1..<see cref="TextRepetition.MaxN"/>. A text shorter than n has no n-grams: both shares are NaN there.
/// </summary>
public sealed record RepetitionStats(double[] RepeatedShare, double[] DistinctN, double LongestRepeatedSpan, int Tokens);

/// <summary>Repetition measures of generated text (see <see cref="RepetitionStats"/>).</summary>
public static class TextRepetition
{
    /// <summary>The largest n measured.</summary>
    public const int MaxN = 4;

    public static RepetitionStats Measure(ReadOnlySpan<int> tokens)
    {
        var repeated = new double[MaxN];
        var distinct = new double[MaxN];
        for (int n = 1; n <= MaxN; n++)
        {
            int total = tokens.Length - n + 1;
            if (total <= 0)
            {
                repeated[n - 1] = double.NaN;
                distinct[n - 1] = double.NaN;
                continue;
            }
            var counts = new Dictionary<NGramKey, int>(total);
            for (int i = 0; i < total; i++)
            {
                var key = new NGramKey(tokens.Slice(i, n));
                counts[key] = counts.TryGetValue(key, out int c) ? c + 1 : 1;
            }
            int inRepeats = 0;
            foreach (int c in counts.Values)
            {
                if (c > 1) inRepeats += c;
            }
            repeated[n - 1] = (double)inRepeats / total;
            distinct[n - 1] = (double)counts.Count / total;
        }
        return new RepetitionStats(repeated, distinct, LongestRepeatedSpan(tokens), tokens.Length);
    }

    /// <summary>
    /// The longest span occurring at least twice. lcp(i, j) = tokens[i] == tokens[j] ? 1 + lcp(i+1, j+1) : 0 over all
    /// pairs i &lt; j, one diagonal row at a time: O(n^2) time, O(n) memory, which is cheap at generation lengths
    /// (a few hundred tokens) and needs no suffix structure.
    /// </summary>
    public static int LongestRepeatedSpan(ReadOnlySpan<int> tokens)
    {
        int n = tokens.Length, best = 0;
        // Walk each offset d = j - i; along a diagonal the run of equal pairs is the common prefix length.
        for (int d = 1; d < n; d++)
        {
            int run = 0;
            for (int i = 0; i + d < n; i++)
            {
                if (tokens[i] == tokens[i + d])
                {
                    run++;
                    if (run > best) best = run;
                }
                else
                {
                    run = 0;
                }
            }
            if (best >= n - d) break; // no later diagonal can hold a longer run
        }
        return best;
    }

    /// <summary>The mean of each measure over texts, skipping NaNs (texts too short for that n).</summary>
    public static RepetitionStats Mean(IReadOnlyCollection<RepetitionStats> texts)
    {
        ArgumentNullException.ThrowIfNull(texts);
        var repeated = new double[MaxN];
        var distinct = new double[MaxN];
        for (int k = 0; k < MaxN; k++)
        {
            repeated[k] = MeanOf(texts.Select(t => t.RepeatedShare[k]));
            distinct[k] = MeanOf(texts.Select(t => t.DistinctN[k]));
        }
        double span = MeanOf(texts.Select(t => t.LongestRepeatedSpan));
        int tokens = texts.Count == 0 ? 0 : (int)Math.Round(texts.Average(t => t.Tokens));
        return new RepetitionStats(repeated, distinct, span, tokens);
    }

    private static double MeanOf(IEnumerable<double> values)
    {
        double sum = 0;
        int count = 0;
        foreach (double v in values)
        {
            if (double.IsNaN(v)) continue;
            sum += v;
            count++;
        }
        return count == 0 ? double.NaN : sum / count;
    }

    /// <summary>An n-gram (n &lt;= 4) packed by value so it can key a dictionary without allocating.</summary>
    private readonly record struct NGramKey(int A, int B, int C, int D, int N)
    {
        public NGramKey(ReadOnlySpan<int> g)
            : this(g[0], g.Length > 1 ? g[1] : 0, g.Length > 2 ? g[2] : 0, g.Length > 3 ? g[3] : 0, g.Length)
        {
        }
    }
}

using LearningCurves.Formats;
using LearningCurves.Formats.EvalSets;
using LearningCurves.Formats.Tokenization;

namespace LearningCurves.Engine.EvalSets;

/// <summary>
/// Word targets of packed token sequences (<c>eval-set --targets words</c>). With the tokenizer's texts: a boundary
/// token begins with whitespace; a blank token is only whitespace; the begin/separator/end-of-text ids are separators.
/// A word is an optional run of blank tokens, a first non-blank token, and the non-boundary tokens after it; it is a
/// target only when the sequence shows that it ended (a boundary or separator token follows it inside the sequence)
/// and it did not begin before position 1: a sequence that may start inside a word (stream packing, whose chunks cut
/// the text anywhere, with or without a begin token before them) skips to the next boundary token.
/// </summary>
public static class WordTargetMaker
{
    /// <summary>The boundary ids (text beginning with whitespace, plus the separators) and the blank-token mask.</summary>
    public static (bool[] Boundary, bool[] Blank) Classes(TextTokenizer tokenizer, int vocab, IEnumerable<int> separators)
    {
        ArgumentNullException.ThrowIfNull(separators);
        return Scoring.WordSpans.TokenClasses(tokenizer, vocab, separators);
    }

    /// <summary>
    /// Checks that <paramref name="tokenizer"/> (found beside a run) has the word-boundary tokens of the words eval set
    /// <paramref name="eval"/> (its boundary.npy; the manifest's begin/sep/bos ids are separators): otherwise the words
    /// would be cut and corrected with another tokenizer's boundaries. A <see cref="UserError"/> naming boundary.npy.
    /// </summary>
    public static void CheckTokenizer(EvalSet eval, TextTokenizer tokenizer, string what)
    {
        ArgumentNullException.ThrowIfNull(eval);
        ArgumentNullException.ThrowIfNull(tokenizer);
        if (eval.Words is null) return;
        var separators = new List<int>();
        foreach (var key in new[] { "begin_id", "sep_id", "bos_id" })
        {
            if (eval.Manifest?[key] is System.Text.Json.Nodes.JsonValue v && v.TryGetValue(out int id)) separators.Add(id);
        }
        if (tokenizer.EndOfTextId is int eot) separators.Add(eot);
        var (mine, _) = Classes(tokenizer, eval.VocabSize, separators);
        var theirs = eval.Words.BoundaryMask(eval.VocabSize);
        var differ = Enumerable.Range(0, eval.VocabSize).Where(i => mine[i] != theirs[i]).ToList();
        if (differ.Count == 0) return;
        int x = differ[0];
        string file = Path.Combine(eval.Dir ?? ".", WordTargets.BoundaryFile);
        throw UserError.InFile(file, $"{what}: its tokenizer ({tokenizer.Source}) has its word boundaries at other ids ({differ.Count} differ; id {x} is " +
            $"{(theirs[x] ? "" : "not ")}a boundary here but {(mine[x] ? "" : "not ")}one there): the words eval set was made with another tokenizer; refused before any work");
    }

    /// <summary>The complete words of one sequence: (first, last, leading boundary) token indices.
    /// <paramref name="midText"/>: the sequence continues the text before it (stream packing), so its first word
    /// begins at its first boundary token.</summary>
    public static List<(int First, int Last, bool Leading)> Words(ReadOnlySpan<int> seq, bool[] boundary, bool[] blank, ISet<int> separators, bool midText)
    {
        ArgumentNullException.ThrowIfNull(boundary);
        ArgumentNullException.ThrowIfNull(blank);
        ArgumentNullException.ThrowIfNull(separators);
        var words = new List<(int, int, bool)>();
        int t = seq.Length, i = 1;
        // A sequence that starts inside a word: skip to the next word's start.
        if (midText || !separators.Contains(seq[0]))
        {
            while (i < t && !boundary[seq[i]]) i++;
        }
        while (i < t)
        {
            if (separators.Contains(seq[i]))
            {
                i++;
                continue;
            }
            int first = i;
            while (i < t && blank[seq[i]]) i++;
            if (i == t) break;
            if (separators.Contains(seq[i])) continue;
            i++;
            while (i < t && !boundary[seq[i]]) i++;
            if (i < t) words.Add((first, i - 1, boundary[seq[first]]));
        }
        return words;
    }

    /// <summary>
    /// Targets (M, 2) of (sequence, last token) and their word spans: <paramref name="perSequence"/> complete words per
    /// sequence drawn with the seed (all when null, or when a sequence has fewer), in order. <paramref name="midText"/>:
    /// see <see cref="Words"/>.
    /// </summary>
    public static (int[] Targets, WordTargets Words) Draw(int[] tokens, int sequences, int seqLen, int? perSequence, ulong seed,
        bool[] boundary, bool[] blank, ISet<int> separators, bool midText)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentNullException.ThrowIfNull(boundary);
        if (perSequence is < 1) throw new UserError($"eval-set: --per-sequence must be positive (got {perSequence})");
        var rng = new SplitMix64(seed);
        var targets = new List<int>();
        var spans = new List<int>();
        for (int s = 0; s < sequences; s++)
        {
            var words = Words(tokens.AsSpan(s * seqLen, seqLen), boundary, blank, separators, midText);
            IEnumerable<int> pick;
            if (perSequence is not int k || k >= words.Count) pick = Enumerable.Range(0, words.Count);
            else
            {
                // A partial Fisher-Yates shuffle of the word indices, kept in order.
                var idx = Enumerable.Range(0, words.Count).ToArray();
                for (int j = 0; j < k; j++)
                {
                    int r = j + (int)rng.NextBelow((ulong)(idx.Length - j));
                    (idx[j], idx[r]) = (idx[r], idx[j]);
                }
                pick = idx.Take(k).Order();
            }
            foreach (int w in pick)
            {
                var (first, last, leading) = words[w];
                targets.Add(s);
                targets.Add(last);
                spans.Add(first);
                spans.Add(last);
                spans.Add(leading ? 1 : 0);
            }
        }
        if (targets.Count == 0) throw new UserError("eval-set: --targets words found no complete word in any sequence");
        var ids = Enumerable.Range(0, boundary.Length).Where(i => boundary[i]).ToArray();
        return (targets.ToArray(), new WordTargets(spans.ToArray(), ids));
    }
}

using LearningCurves.Formats.EvalSets;
using LearningCurves.Formats.Tokenization;

namespace LearningCurves.Analysis.Pos;

/// <summary>
/// The Universal POS tag of the word each eval target belongs to. Each used sequence is decoded token by token into
/// text; the begin, separator and end-of-text ids cut it into segments (the packed lines), each split into sentences by
/// <see cref="PosTokenizer"/> and tagged by <see cref="PosTagger"/>. A target takes the tag of the tagger's token that
/// holds its first non-whitespace character (for a word target, that of the word's first token). A target that is a
/// separator or only whitespace gets X. Words cut by the sequence's start or end are tagged from the part inside it.
/// </summary>
public static class TargetPos
{
    public static string[] Tag(EvalSet eval, TextTokenizer tokenizer, PosTagger tagger)
    {
        ArgumentNullException.ThrowIfNull(eval);
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(tagger);
        var separators = new HashSet<int>();
        if (tokenizer.EndOfTextId is int eot) separators.Add(eot);
        foreach (var key in new[] { "begin_id", "sep_id" })
        {
            if (eval.Manifest?[key] is System.Text.Json.Nodes.JsonValue v && v.TryGetValue<int>(out int id)) separators.Add(id);
        }
        // Pieces are decoded after a plain reference token so that a decoder that drops a text's leading space keeps it.
        var refIds = tokenizer.Encode("a");
        int refId = refIds.Length > 0 ? refIds[^1] : 0;
        string refText = tokenizer.Decode([refId]);
        var pieceCache = new System.Collections.Concurrent.ConcurrentDictionary<int, string>();
        string Piece(int id)
        {
            return pieceCache.GetOrAdd(id, i =>
            {
                if ((uint)i >= (uint)tokenizer.VocabSize) return "";
                string s = tokenizer.Decode([refId, i]);
                return s.StartsWith(refText, StringComparison.Ordinal) ? s[refText.Length..] : tokenizer.Decode([i]);
            });
        }

        var bySeq = new Dictionary<int, List<int>>();
        for (int m = 0; m < eval.Examples; m++)
        {
            int s = eval.Targets[2 * m];
            if (!bySeq.TryGetValue(s, out var list)) bySeq[s] = list = [];
            list.Add(m);
        }
        var result = new string[eval.Examples];
        Parallel.ForEach(bySeq, kv =>
        {
            var seq = eval.Sequence(kv.Key).ToArray();
            var tags = TagSequence(seq, separators, Piece, tagger);
            foreach (int m in kv.Value)
            {
                int pos = eval.Targets[2 * m + 1];
                if (eval.Words is { } words)
                {
                    var (first, last, _) = words[m];
                    pos = first;
                    while (pos < last && tags[pos] is null) pos++;
                }
                result[m] = tags[pos] ?? "X";
            }
        });
        return result;
    }

    /// <summary>Per token of one sequence, the UPOS of the word holding its first non-whitespace character (null for
    /// separators and whitespace-only tokens).</summary>
    private static string?[] TagSequence(int[] seq, HashSet<int> separators, Func<int, string> piece, PosTagger tagger)
    {
        var tags = new string?[seq.Length];
        int start = 0;
        while (start < seq.Length)
        {
            if (separators.Contains(seq[start]))
            {
                start++;
                continue;
            }
            int end = start;
            while (end < seq.Length && !separators.Contains(seq[end])) end++;
            var sb = new System.Text.StringBuilder();
            var first = new int[end - start]; // first non-whitespace character of each token in the segment's text, or -1
            for (int t = start; t < end; t++)
            {
                string p = piece(seq[t]);
                int k = 0;
                while (k < p.Length && char.IsWhiteSpace(p[k])) k++;
                first[t - start] = k < p.Length ? sb.Length + k : -1;
                sb.Append(p);
            }
            string text = sb.ToString();
            var charTag = new string?[text.Length];
            foreach (var sentence in PosTokenizer.Sentences(text))
            {
                var words = sentence.Select(w => text[w.Start..w.End]).ToList();
                var upos = tagger.Tag(words);
                for (int w = 0; w < sentence.Count; w++)
                {
                    for (int c = sentence[w].Start; c < sentence[w].End; c++) charTag[c] = upos[w];
                }
            }
            for (int t = start; t < end; t++)
            {
                int c = first[t - start];
                tags[t] = c >= 0 ? charTag[c] : null;
            }
            start = end;
        }
        return tags;
    }
}

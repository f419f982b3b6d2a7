using LearningCurves.Formats;
using LearningCurves.Formats.Tokenization;

namespace LearningCurves.Engine.Scoring;

/// <summary>
/// One word of a text: a maximal run of non-whitespace characters [<see cref="Start"/>, <see cref="End"/>) and the
/// tokens that spell it, <see cref="FirstToken"/>..<see cref="LastToken"/> (inclusive indices into the text's tokens).
/// The tokens include the whitespace before the word (a leading-space token such as GPT-2's "Ġcat", and whitespace-only
/// tokens such as "\n\n" between the previous word and this one; SentencePiece's "▁cat"); <see cref="LeadingBoundary"/>
/// is true when the first of them begins with whitespace, i.e. carries the boundary that ended the previous word (or,
/// for a SentencePiece tokenizer's first word, the "▁" of its dummy prefix: every word then starts with a boundary).
/// </summary>
public readonly record struct WordSpan(int Start, int End, string Text, int FirstToken, int LastToken, bool LeadingBoundary);

/// <summary>Character spans of tokens and the words they make up.</summary>
public static class WordSpans
{
    /// <summary>
    /// The character span [start, end) in <paramref name="text"/> of each of its tokens <paramref name="ids"/> (as the
    /// tokenizer encoded it). A byte-level token that holds only part of a character's UTF-8 bytes gets an empty span at
    /// the position of the token that completes the character, which gets the character. A tokenizer that puts a space
    /// before the text (SentencePiece's dummy prefix: "The cat" is encoded as "▁The▁cat") gives that space to the
    /// first token at character -1, so the first token begins with whitespace like every other "▁" token.
    /// </summary>
    public static (int[] Start, int[] End) TokenSpans(TextTokenizer tokenizer, string text, IReadOnlyList<int> ids, string source)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(ids);
        var start = new int[ids.Count];
        var end = new int[ids.Count];
        // Pieces are decoded after a reference token and cut from its text: a SentencePiece decoder drops the space of
        // a text's first piece, which must be kept here.
        var (refId, refText) = Reference(tokenizer);
        // The tokens spell the text, or (dummy prefix) a space and the text: then positions are shifted by one.
        string all = DecodeAfter(tokenizer, refId, refText, Slice(ids, 0, ids.Count));
        int shift = all.Length == text.Length + 1 && all[0] == ' ' && string.CompareOrdinal(all, 1, text, 0, text.Length) == 0 ? 1 : 0;
        if (shift == 1) text = " " + text;
        int pos = 0;
        for (int i = 0; i < ids.Count;)
        {
            // The shortest run of tokens from i whose text decodes cleanly and matches the text here.
            int j = i;
            string piece;
            while (true)
            {
                piece = DecodeAfter(tokenizer, refId, refText, Slice(ids, i, j + 1));
                if (piece.IndexOf('\uFFFD', StringComparison.Ordinal) < 0 && string.CompareOrdinal(text, pos, piece, 0, piece.Length) == 0) break;
                if (++j == ids.Count || j - i >= 8)
                    throw UserError.InFile(source, $"token {i} (id {ids[i]}) does not decode to the text at character {pos - shift}: the tokenizer does not round-trip this text");
            }
            for (int k = i; k < j; k++)
            {
                start[k] = pos - shift;
                end[k] = pos - shift;
            }
            start[j] = pos - shift;
            end[j] = pos - shift + piece.Length;
            pos += piece.Length;
            i = j + 1;
        }
        if (pos != text.Length) throw UserError.InFile(source, $"the tokens decode to {pos - shift} characters but the text has {text.Length - shift}");
        return (start, end);
    }

    /// <summary>A plain token (that of "a") whose text a following token's text is appended to when decoding.</summary>
    private static (int Id, string Text) Reference(TextTokenizer tokenizer)
    {
        var ids = tokenizer.Encode("a");
        int id = ids.Length > 0 ? ids[^1] : 0;
        return (id, tokenizer.Decode([id]));
    }

    private static string DecodeAfter(TextTokenizer tokenizer, int refId, string refText, int[] ids)
    {
        string s = tokenizer.Decode([refId, .. ids]);
        return s.StartsWith(refText, StringComparison.Ordinal) ? s[refText.Length..] : tokenizer.Decode(ids);
    }

    private static int[] Slice(IReadOnlyList<int> ids, int from, int to)
    {
        var r = new int[to - from];
        for (int k = from; k < to; k++) r[k - from] = ids[k];
        return r;
    }

    /// <summary>
    /// The words of <paramref name="text"/> given its tokens' character spans (<see cref="TokenSpans"/>): each token
    /// belongs to the word holding its first non-whitespace character; a whitespace-only token belongs to the word after
    /// it (whitespace after the last word belongs to none). A word's tokens carry a leading boundary when the first of
    /// them begins before the word, i.e. with whitespace (a dummy-prefix space at -1 included): exactly when that token
    /// is one of <see cref="TokenClasses"/>' boundary tokens. A token whose non-whitespace characters reach into two
    /// words is an error naming <paramref name="source"/>.
    /// </summary>
    public static List<WordSpan> Words(string text, IReadOnlyList<int> tokenStart, IReadOnlyList<int> tokenEnd, string source)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(tokenStart);
        ArgumentNullException.ThrowIfNull(tokenEnd);
        var words = new List<WordSpan>();
        int n = tokenStart.Count;
        int pendingFirst = 0; // first token not yet given to a word
        int t = 0;
        int c = 0;
        while (true)
        {
            while (c < text.Length && char.IsWhiteSpace(text[c])) c++;
            if (c >= text.Length) break;
            int ws = c;
            while (c < text.Length && !char.IsWhiteSpace(text[c])) c++;
            int we = c;
            // Tokens up to the one that ends at or after the word's end.
            int first = pendingFirst;
            while (t < n && tokenEnd[t] < we) t++;
            if (t == n) throw UserError.InFile(source, $"the tokens end before the word at character {ws}");
            // Later zero-length tokens at the same place (partial characters) belong to the completing token before them.
            int last = t;
            for (int k = first; k <= last; k++)
            {
                if (tokenEnd[k] > tokenStart[k] && tokenStart[k] < ws && !IsBlank(text, tokenStart[k], Math.Min(tokenEnd[k], ws)))
                    throw UserError.InFile(source, $"token {k} spans characters {tokenStart[k]}..{tokenEnd[k]}, across the start of the word at {ws}: words cannot be aligned to this tokenizer's tokens");
            }
            if (tokenEnd[last] > we && !IsBlank(text, we, tokenEnd[last]))
                throw UserError.InFile(source, $"token {last} spans characters {tokenStart[last]}..{tokenEnd[last]}, past the end of the word at {we}: words cannot be aligned to this tokenizer's tokens");
            // The tokens begin before the word exactly when they carry whitespace before it (checked blank above).
            bool leading = tokenStart[first] < ws;
            words.Add(new WordSpan(ws, we, text[ws..we], first, last, leading));
            t = last + 1;
            pendingFirst = t;
            // A token ending past the word with only whitespace (a "word " token) ends this word; the next word starts after it.
            c = Math.Max(c, tokenEnd[last]);
        }
        return words;
    }

    /// <summary>Whether characters [from, to) are whitespace; those before 0 are the tokenizer's dummy-prefix space.</summary>
    private static bool IsBlank(string text, int from, int to)
    {
        for (int i = Math.Max(from, 0); i < to; i++)
        {
            if (!char.IsWhiteSpace(text[i])) return false;
        }
        return true;
    }

    /// <summary>
    /// The boundary tokens of a vocabulary of <paramref name="vocabSize"/> ids: those whose text begins with whitespace
    /// (they end the word before them), the end-of-text token (it ends the last word) and the
    /// <paramref name="separators"/> (the begin/BOS token of a sequence: a new text begins). Ids past the tokenizer's
    /// vocabulary (padding rows of the model) are not boundaries. `score --words` and `eval-set --targets words` both
    /// take their boundaries from here.
    /// </summary>
    public static bool[] BoundaryTokens(TextTokenizer tokenizer, int vocabSize, IEnumerable<int>? separators = null) =>
        TokenClasses(tokenizer, vocabSize, separators).Boundary;

    /// <summary>Per id: a boundary token (its text, decoded after a plain token, begins with whitespace; end-of-text;
    /// the <paramref name="separators"/>), and a blank one (only whitespace; never a separator). The unknown token is
    /// neither: its surface (SentencePiece's " ⁇ ") stands for characters of the text, not for whitespace.</summary>
    public static (bool[] Boundary, bool[] Blank) TokenClasses(TextTokenizer tokenizer, int vocabSize, IEnumerable<int>? separators = null)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        var b = new bool[vocabSize];
        var blank = new bool[vocabSize];
        var (refId, refText) = Reference(tokenizer);
        int n = Math.Min(vocabSize, tokenizer.VocabSize);
        Parallel.For(0, n, id =>
        {
            var s = DecodeAfter(tokenizer, refId, refText, [id]);
            b[id] = s.Length > 0 && char.IsWhiteSpace(s[0]);
            blank[id] = s.Length > 0 && string.IsNullOrWhiteSpace(s);
        });
        if (tokenizer.UnknownId is int unk && (uint)unk < (uint)vocabSize)
        {
            b[unk] = false;
            blank[unk] = false;
        }
        foreach (int id in (separators ?? []).Append(tokenizer.EndOfTextId ?? -1))
        {
            if ((uint)id < (uint)vocabSize)
            {
                b[id] = true;
                blank[id] = false;
            }
        }
        return (b, blank);
    }
}

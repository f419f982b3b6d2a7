using System.Globalization;
using System.Text;
using LearningCurves.Engine.Model;
using LearningCurves.Formats;
using LearningCurves.Formats.IO;
using LearningCurves.Formats.Tokenization;

namespace LearningCurves.Engine.Scoring;

/// <summary>
/// Word-level surprisal with the word-boundary correction for tokenizers whose tokens carry the whitespace before a
/// word (Pimentel &amp; Meister 2024, "How to compute the probability of a word"). With B(c) the probability that the
/// next token after context c is a boundary token (one whose text begins with whitespace, end-of-text, or the BOS token
/// every sequence begins with; <see cref="WordSpans.BoundaryTokens"/>), a word w
/// after context c spelled by tokens t1..tk has
/// <code>
///   surprisal(w) = sum_i -log2 p(t_i | c, t1..t_{i-1})  -  log2 B(c, t1..tk)  +  [t1 begins with whitespace] * log2 B(c)
/// </code>
/// in bits: the word's probability includes the boundary that ends it (the next token begins a new word) and not the one
/// that begins it (t1's whitespace, which belongs to the previous word's ending). The first word of a text that does not
/// begin with whitespace has no boundary before it with a byte-level BPE tokenizer (GPT-2's "The"): its term is 0; with a
/// SentencePiece tokenizer every word's first token carries the "▁" word-start marker (the first word's from the dummy
/// prefix), so every word has the term. Every sequence begins with a BOS token as context.
/// </summary>
public static class WordSurprisal
{
    public const string Header = "sequence,word,start,end,first_token,last_token,token_bits,boundary_bits,surprisal_bits,text";

    /// <summary>A word placed in a scored sequence: token indices (into that sequence, BOS at 0) of its tokens.</summary>
    public readonly record struct Placed(int First, int Last, bool LeadingBoundary);

    /// <summary>A word's surprisal in bits: the sum over its tokens, the boundary correction, and their sum.</summary>
    public readonly record struct Score(double TokenBits, double BoundaryBits)
    {
        public double Bits => TokenBits + BoundaryBits;
    }

    /// <summary>
    /// The text's tokens packed into sequences of at most <paramref name="seqLen"/> tokens, each <paramref name="bos"/>
    /// followed by whole words (with the whitespace tokens before them); whitespace after the last word is left out.
    /// Returns the sequences and, per word, its sequence and placement.
    /// </summary>
    public static (List<int[]> Sequences, (int Sequence, Placed Word)[] Words) Pack(IReadOnlyList<int> ids, IReadOnlyList<WordSpan> words, int bos, int seqLen, string source)
    {
        ArgumentNullException.ThrowIfNull(ids);
        ArgumentNullException.ThrowIfNull(words);
        if (seqLen < 2) throw new UserError($"--seq-len must be at least 2 for word scoring (the BOS token and one word), got {seqLen}");
        var seqs = new List<int[]>();
        var placed = new (int, Placed)[words.Count];
        var cur = new List<int> { bos };
        for (int w = 0; w < words.Count; w++)
        {
            var word = words[w];
            int len = word.LastToken - word.FirstToken + 1;
            if (1 + len > seqLen)
                throw UserError.InFile(source, $"the word '{word.Text}' at character {word.Start} has {len} tokens; with the BOS token it does not fit --seq-len {seqLen}");
            if (cur.Count + len > seqLen)
            {
                seqs.Add(cur.ToArray());
                cur = [bos];
            }
            int first = cur.Count;
            for (int k = word.FirstToken; k <= word.LastToken; k++) cur.Add(ids[k]);
            placed[w] = (seqs.Count, new Placed(first, cur.Count - 1, word.LeadingBoundary));
        }
        if (cur.Count > 1) seqs.Add(cur.ToArray());
        return (seqs, placed);
    }

    /// <summary>
    /// Scores words in sequences through the model's scoring path: token surprisals from <see cref="DecoderModel.ScoreAll"/>
    /// and the boundary mass from the next-token distributions (<see cref="DecoderModel.Logits"/>) after each word and
    /// before each word whose first token carries a boundary. <paramref name="boundary"/> marks the boundary token ids.
    /// </summary>
    public static Score[] ScoreWords(DecoderModel model, bool[] boundary, IReadOnlyList<int[]> sequences, IReadOnlyList<(int Sequence, Placed Word)> words, int batchSize = 32)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(boundary);
        ArgumentNullException.ThrowIfNull(sequences);
        ArgumentNullException.ThrowIfNull(words);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        int v = model.Config.VocabSize;
        if (boundary.Length != v) throw new ArgumentException($"boundary has {boundary.Length} entries, the vocabulary {v}");
        var bySeq = new List<int>[sequences.Count];
        for (int i = 0; i < words.Count; i++)
        {
            var (s, p) = words[i];
            if (p.First < 1 || p.Last < p.First || p.Last >= sequences[s].Length)
                throw new ArgumentException($"word {i}: tokens {p.First}..{p.Last} are outside 1..{sequences[s].Length - 1} of sequence {s}");
            (bySeq[s] ??= []).Add(i);
        }
        var result = new Score[words.Count];
        for (int start = 0; start < sequences.Count; start += batchSize)
        {
            int end = Math.Min(sequences.Count, start + batchSize);
            var batch = new List<int[]>();
            var batchIndex = new List<int>();
            for (int s = start; s < end; s++)
            {
                if (bySeq[s] is null) continue;
                batch.Add(sequences[s]);
                batchIndex.Add(s);
            }
            if (batch.Count == 0) continue;
            var tokenBits = model.ScoreAll(batch);
            // Rows whose next-token distribution gives a boundary mass: before (when needed) and after every word.
            var rows = new List<int>[batch.Count];
            for (int k = 0; k < batch.Count; k++)
            {
                var set = new SortedSet<int>();
                foreach (int i in bySeq[batchIndex[k]])
                {
                    var p = words[i].Word;
                    set.Add(p.Last);
                    if (p.LeadingBoundary) set.Add(p.First - 1);
                }
                rows[k] = [.. set];
            }
            var logMass = BoundaryLog2Mass(model, boundary, batch, rows);
            for (int k = 0; k < batch.Count; k++)
            {
                foreach (int i in bySeq[batchIndex[k]])
                {
                    var p = words[i].Word;
                    double sum = 0;
                    for (int t = p.First; t <= p.Last; t++) sum += tokenBits[k][t - 1];
                    double corr = -logMass[k][p.Last];
                    if (p.LeadingBoundary) corr += logMass[k][p.First - 1];
                    result[i] = new Score(sum, corr);
                }
            }
        }
        return result;
    }

    /// <summary>log2 of the boundary tokens' probability after each requested position, per sequence (by position).</summary>
    private static Dictionary<int, double>[] BoundaryLog2Mass(DecoderModel model, bool[] boundary, List<int[]> batch, List<int>[] rows)
    {
        int v = model.Config.VocabSize;
        var result = new Dictionary<int, double>[batch.Count];
        for (int k = 0; k < batch.Count; k++) result[k] = [];
        // Logit rows are downloaded in chunks of at most this many floats.
        const long maxFloats = 1L << 24;
        int perChunk = (int)Math.Max(1, maxFloats / v);
        var flat = new List<(int Seq, int Pos)>();
        for (int k = 0; k < batch.Count; k++) foreach (int p in rows[k]) flat.Add((k, p));
        for (int c0 = 0; c0 < flat.Count; c0 += perChunk)
        {
            int c1 = Math.Min(flat.Count, c0 + perChunk);
            var seqs = new List<int[]>();
            var pos = new List<int[]>();
            var map = new List<(int Seq, int Pos)>();
            for (int k = 0; k < batch.Count; k++)
            {
                var mine = new List<int>();
                for (int r = c0; r < c1; r++) if (flat[r].Seq == k) mine.Add(flat[r].Pos);
                if (mine.Count == 0) continue;
                seqs.Add(batch[k]);
                pos.Add(mine.ToArray());
                foreach (int p in mine) map.Add((k, p));
            }
            var logits = model.Logits(seqs, pos);
            for (int r = 0; r < map.Count; r++)
            {
                var row = logits.AsSpan(r * v, v);
                double max = double.NegativeInfinity;
                for (int j = 0; j < v; j++) max = Math.Max(max, row[j]);
                double all = 0, bound = 0;
                for (int j = 0; j < v; j++)
                {
                    double e = Math.Exp(row[j] - max);
                    all += e;
                    if (boundary[j]) bound += e;
                }
                result[map[r].Seq][map[r].Pos] = Math.Log2(bound) - Math.Log2(all);
            }
        }
        return result;
    }

    /// <summary>Writes one CSV row per word (<see cref="Header"/>); the file appears only when complete. Token indices
    /// are into the text's tokens; text is quoted when it holds a comma or a quote.</summary>
    public static void WriteCsv(string outPath, IReadOnlyList<WordSpan> words, IReadOnlyList<(int Sequence, Placed Word)> placed, IReadOnlyList<Score> scores)
    {
        ArgumentNullException.ThrowIfNull(words);
        ArgumentNullException.ThrowIfNull(placed);
        ArgumentNullException.ThrowIfNull(scores);
        AtomicFile.Write(outPath, stream =>
        {
            using var w = new StreamWriter(stream, new UTF8Encoding(false), 1 << 16, leaveOpen: true) { NewLine = "\n" };
            w.WriteLine(Header);
            var ci = CultureInfo.InvariantCulture;
            for (int i = 0; i < words.Count; i++)
            {
                var word = words[i];
                var sc = scores[i];
                w.Write(string.Create(ci, $"{placed[i].Sequence},{i},{word.Start},{word.End},{word.FirstToken},{word.LastToken},"));
                w.Write(sc.TokenBits.ToString("R", ci));
                w.Write(',');
                w.Write(sc.BoundaryBits.ToString("R", ci));
                w.Write(',');
                w.Write(sc.Bits.ToString("R", ci));
                w.Write(',');
                w.WriteLine(Quote(word.Text));
            }
            w.Flush();
        });
    }

    private static string Quote(string s) =>
        s.AsSpan().IndexOfAny(',', '"', '\n') < 0 && s.IndexOf('\r', StringComparison.Ordinal) < 0 ? s : "\"" + s.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
}

/// <summary>`score --text FILE --words`: a text file scored word by word into a CSV.</summary>
public static class WordScoreFile
{
    /// <summary>The BOS id before every sequence and why: <paramref name="requested"/> (--bos-id), else the begin token
    /// <paramref name="choice"/> (--bos auto|yes|no) gives, else the tokenizer's end-of-text token; word scoring always
    /// needs one (the first word's context), so --bos no without --bos-id is an error.</summary>
    public static (int Id, string Why) ChooseBos(TextTokenizer tokenizer, int vocabSize, string choice, int? requested)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        (int Id, string Why) r;
        if (requested is int id) r = (id, "--bos-id");
        else
        {
            var begin = tokenizer.ChooseBegin(choice);
            if (begin.Add && begin.Id is int b) r = (b, $"begin token: {begin.Reason}");
            else if (choice == "no") throw new UserError("score --words: every sequence needs a first-word context token; --bos no leaves none (give --bos-id ID)");
            else if (tokenizer.EndOfTextId is int eot) r = (eot, "the tokenizer adds no begin token, so its end-of-text token");
            else throw new UserError($"score --words: the tokenizer ({tokenizer.Source}) has no begin or end-of-text token; give the context token with --bos-id ID");
        }
        if ((uint)r.Id >= (uint)vocabSize) throw new UserError($"score --words: BOS id {r.Id} is outside the model's vocabulary (0..{vocabSize - 1})");
        return r;
    }

    /// <summary>Scores the words of <paramref name="textPath"/>; returns the word and sequence counts.</summary>
    public static (int Words, int Sequences) Run(string textPath, string outPath, TextTokenizer tokenizer, DecoderModel model, int bos, int seqLen, int batchSize)
    {
        ArgumentNullException.ThrowIfNull(textPath);
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(model);
        string text = ScoreInput.ReadText(textPath, seqLen, model.Config);
        var ids = tokenizer.Encode(text);
        foreach (int id in ids)
        {
            if ((uint)id >= (uint)model.Config.VocabSize)
                throw UserError.InFile(textPath, $"token id {id} is outside the model's vocabulary (0..{model.Config.VocabSize - 1})");
        }
        var (start, end) = WordSpans.TokenSpans(tokenizer, text, ids, textPath);
        var words = WordSpans.Words(text, start, end, textPath);
        if (words.Count == 0) throw UserError.InFile(textPath, "no words: the text is empty or only whitespace");
        var (seqs, placed) = WordSurprisal.Pack(ids, words, bos, seqLen, textPath);
        // The BOS before every sequence is a separator, as eval-set's begin token is: it too would end a word.
        var boundary = WordSpans.BoundaryTokens(tokenizer, model.Config.VocabSize, [bos]);
        var scores = WordSurprisal.ScoreWords(model, boundary, seqs, placed, batchSize);
        WordSurprisal.WriteCsv(outPath, words, placed, scores);
        return (words.Count, seqs.Count);
    }
}

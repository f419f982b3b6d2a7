using LearningCurves.Engine.Backends;
using LearningCurves.Engine.Checkpoints;
using LearningCurves.Engine.Model;
using LearningCurves.Engine.Scoring;
using LearningCurves.Formats;
using LearningCurves.Formats.Tokenization;
using LearningCurves.Tests.Common;
using Xunit;

namespace LearningCurves.Engine.Tests;

/// <summary>Word spans, packing and word surprisal on the CPU (the software GPU runs the same check in
/// Kernels.Tests.WordSurprisalGpuTests).</summary>
public class WordSurprisalTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(32)]
    public void Word_surprisal_matches_the_float64_reference_on_the_cpu(int batch)
    {
        using var model = new DecoderModel(new CpuBackend(Precision.Fp32), HfCheckpoint.Load(ParityCheck.FixtureDir(WordSurprisalCheck.Case)));
        TestContext.Current.SendDiagnosticMessage(WordSurprisalCheck.Run(model, batch));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(32)]
    public void SentencePiece_word_surprisal_matches_the_float64_reference_on_the_cpu(int batch)
    {
        using var model = new DecoderModel(new CpuBackend(Precision.Fp32), HfCheckpoint.Load(ParityCheck.FixtureDir(WordSurprisalCheck.SentencePieceCase)));
        TestContext.Current.SendDiagnosticMessage(WordSurprisalCheck.RunSentencePiece(model, batch));
    }

    [Fact]
    public void Words_are_whitespace_runs_and_own_the_whitespace_tokens_before_them()
    {
        var tok = Gpt2Tokenizer.Default;
        string text = "The cat  sat,\n\non the mat\u2019s edge \u00e9t\u00e9 \U0001F600ok  ";
        var ids = tok.Encode(text);
        var (start, end) = WordSpans.TokenSpans(tok, text, ids, "t");
        var words = WordSpans.Words(text, start, end, "t");
        Assert.Equal(["The", "cat", "sat,", "on", "the", "mat\u2019s", "edge", "\u00e9t\u00e9", "\U0001F600ok"], words.Select(w => w.Text));
        Assert.False(words[0].LeadingBoundary);
        Assert.All(words.Skip(1), w => Assert.True(w.LeadingBoundary, w.Text));
        // Every token up to the last word's belongs to exactly one word, in order; the trailing whitespace to none.
        Assert.Equal(0, words[0].FirstToken);
        for (int i = 1; i < words.Count; i++) Assert.Equal(words[i - 1].LastToken + 1, words[i].FirstToken);
        Assert.True(words[^1].LastToken < ids.Length - 1, "the trailing spaces are a token of their own");
        foreach (var w in words)
        {
            string spelled = tok.Decode(ids[w.FirstToken..(w.LastToken + 1)]);
            Assert.Equal(w.Text, spelled.TrimStart());
            Assert.Equal(text[w.Start..w.End], w.Text);
        }
        // "cat" is preceded by its own space token plus the extra space; "on" by "\n\n".
        Assert.True(words[1].LastToken - words[1].FirstToken >= 0);
        Assert.StartsWith("\n", tok.Decode([ids[words[3].FirstToken]]), StringComparison.Ordinal);
    }

    private static string TokenizerFixture(string name) => Path.Combine(TestPaths.RepoRoot, "tests", "fixtures", "tokenizers", name);

    /// <summary>SentencePiece (LLaMA-style): every word's first token carries "▁", the first word's from the dummy
    /// prefix the tokenizer puts before the text (its span begins at character -1).</summary>
    [Theory]
    [InlineData("sp-bpe")]
    [InlineData("llama-json")]
    [InlineData("llama-json-metaspace")]
    public void SentencePiece_words_all_begin_with_the_word_start_marker_the_first_word_s_from_the_dummy_prefix(string fixture)
    {
        var tok = TextTokenizer.Load(TokenizerFixture(fixture));
        string text = "The cat  sat,\n\non the mat\u2019s edge \u00e9t\u00e9 \U0001F600ok\t1984  ";
        var ids = tok.Encode(text);
        var (start, end) = WordSpans.TokenSpans(tok, text, ids, "t");
        Assert.Equal(-1, start[0]);
        var words = WordSpans.Words(text, start, end, "t");
        Assert.Equal(["The", "cat", "sat,", "on", "the", "mat\u2019s", "edge", "\u00e9t\u00e9", "\U0001F600ok", "1984"], words.Select(w => w.Text));
        Assert.All(words, w => Assert.True(w.LeadingBoundary, w.Text));
        Assert.Equal(0, words[0].FirstToken);
        for (int i = 1; i < words.Count; i++) Assert.Equal(words[i - 1].LastToken + 1, words[i].FirstToken);
        foreach (var w in words) Assert.Equal(w.Text, tok.Decode(ids[w.FirstToken..(w.LastToken + 1)]).Trim());
        // "on" owns the two newline byte tokens before it.
        Assert.Equal("\n", tok.Decode([ids[words[3].FirstToken]]));
    }

    /// <summary>The leading boundary of a word found from the text (score --words) is the boundary class of its first
    /// token (what eval-set --targets words reads from token ids alone): one definition for both, on every tokenizer.</summary>
    [Theory]
    [InlineData(null)]
    [InlineData("sp-bpe")]
    [InlineData("llama-json-metaspace")]
    public void A_word_s_leading_boundary_is_its_first_token_s_boundary_class_on_random_texts(string? fixture)
    {
        var tok = fixture is null ? Gpt2Tokenizer.Default : TextTokenizer.Load(TokenizerFixture(fixture));
        var boundary = WordSpans.BoundaryTokens(tok, tok.VocabSize);
        string[] pieces = ["the", "cat", "Sat", "a", "42", "1984", ",", ".", "'s", "don't", "\u00e9t\u00e9", "na\u00efve", "\u6771\u4eac", "\U0001F600", "E=mc2", "(x)", "\u0416\u0438"];
        string[] gaps = [" ", " ", " ", "  ", "\n", "\n\n", "\t", " \n "];
        foreach (int seed in new[] { 25, 26, Random.Shared.Next() })
        {
            var rng = new Random(seed);
            for (int trial = 0; trial < 20; trial++)
            {
                var sb = new System.Text.StringBuilder();
                if (rng.Next(4) == 0) sb.Append(gaps[rng.Next(gaps.Length)]);
                int n = rng.Next(1, 15);
                for (int w = 0; w < n; w++)
                {
                    if (w > 0) sb.Append(gaps[rng.Next(gaps.Length)]);
                    int k = rng.Next(1, 3);
                    for (int j = 0; j < k; j++) sb.Append(pieces[rng.Next(pieces.Length)]);
                }
                if (rng.Next(3) == 0) sb.Append(gaps[rng.Next(gaps.Length)]);
                string text = sb.ToString();
                var ids = tok.Encode(text);
                var (start, end) = WordSpans.TokenSpans(tok, text, ids, "t");
                var words = WordSpans.Words(text, start, end, "t");
                string what = $"seed {seed} trial {trial}: '{text.ReplaceLineEndings("\\n")}'";
                Assert.True(text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).SequenceEqual(words.Select(w => w.Text)), what);
                foreach (var w in words) Assert.True(w.LeadingBoundary == boundary[ids[w.FirstToken]], $"{what}: word '{w.Text}' leading {w.LeadingBoundary}");
            }
        }
    }

    [Fact]
    public void A_tokenizer_that_does_not_round_trip_the_text_is_one_line_naming_the_file()
    {
        // sp-unigram folds runs of spaces: the two spaces cannot be found in its tokens.
        var tok = TextTokenizer.Load(TokenizerFixture("sp-unigram"));
        string text = "the cat  sat";
        var e = Assert.Throws<UserError>(() => WordSpans.TokenSpans(tok, text, tok.Encode(text), "in.txt"));
        Assert.StartsWith("in.txt: token ", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
        // Single spaces and plain words it keeps: every word begins with "▁".
        string plain = "the cat sat";
        var ids = tok.Encode(plain);
        var (start, end) = WordSpans.TokenSpans(tok, plain, ids, "in.txt");
        Assert.All(WordSpans.Words(plain, start, end, "in.txt"), w => Assert.True(w.LeadingBoundary));
    }

    [Fact]
    public void Boundary_tokens_are_those_beginning_with_whitespace_and_end_of_text()
    {
        var tok = Gpt2Tokenizer.Default;
        var b = WordSpans.BoundaryTokens(tok, tok.VocabSize + 3);
        Assert.True(b[tok.Encode(" the")[0]]);
        Assert.True(b[tok.Encode("\n")[0]]);
        Assert.False(b[tok.Encode("the")[0]]);
        Assert.False(b[tok.Encode(",")[0]]);
        Assert.True(b[tok.EndOfTextId!.Value]);
        Assert.False(b[tok.VocabSize + 1]);
        int count = b.Count(x => x);
        Assert.InRange(count, 20000, 40000);
    }

    [Fact]
    public void Packing_keeps_words_whole_and_starts_every_sequence_with_the_bos()
    {
        var rng = new Random(25);
        for (int trial = 0; trial < 50; trial++)
        {
            int nw = rng.Next(1, 40);
            var words = new List<WordSpan>();
            var ids = new List<int>();
            for (int w = 0; w < nw; w++)
            {
                int len = rng.Next(1, 5);
                words.Add(new WordSpan(w, w + 1, "w", ids.Count, ids.Count + len - 1, w > 0));
                for (int k = 0; k < len; k++) ids.Add(rng.Next(1, 100));
            }
            int seqLen = rng.Next(5, 12);
            var (seqs, placed) = WordSurprisal.Pack(ids, words, 0, seqLen, "t");
            Assert.All(seqs, s => Assert.True(s.Length <= seqLen && s[0] == 0 && s.Length >= 2));
            for (int w = 0; w < nw; w++)
            {
                var (s, p) = placed[w];
                Assert.Equal(ids.GetRange(words[w].FirstToken, words[w].LastToken - words[w].FirstToken + 1), seqs[s][p.First..(p.Last + 1)]);
            }
            Assert.Equal(ids.Count, seqs.Sum(s => s.Length - 1));
        }
        var tooLong = new List<WordSpan> { new(0, 1, "x", 0, 5, false) };
        var e = Assert.Throws<UserError>(() => WordSurprisal.Pack(new int[6], tooLong, 0, 4, "in.txt"));
        Assert.StartsWith("in.txt: ", e.Message, StringComparison.Ordinal);
    }

    /// <summary>Summed over a sequence's words, the boundary terms cancel except at the ends: the total is the tokens'
    /// total minus log2 B after the last word (the first word has no boundary before it).</summary>
    [Fact]
    public void Word_surprisals_of_a_sequence_telescope_to_its_token_surprisal_and_the_final_boundary()
    {
        var dir = ParityCheck.FixtureDir(WordSurprisalCheck.Case);
        using var model = new DecoderModel(new CpuBackend(Precision.Fp32), HfCheckpoint.Load(dir));
        var rng = new Random(7);
        int v = model.Config.VocabSize;
        var boundary = Enumerable.Range(0, v).Select(_ => rng.NextDouble() < 0.3).ToArray();
        var seq = Enumerable.Range(0, 20).Select(_ => rng.Next(v)).ToArray();
        seq[1] = boundary.Select((b, i) => (b, i)).First(x => !x.b).i; // the first word has no boundary before it
        var words = new List<(int, WordSurprisal.Placed)>();
        int first = 1;
        for (int p = 2; p <= seq.Length; p++)
        {
            if (p < seq.Length && !boundary[seq[p]]) continue;
            words.Add((0, new WordSurprisal.Placed(first, p - 1, boundary[seq[first]])));
            first = p;
        }
        var scores = WordSurprisal.ScoreWords(model, boundary, [seq], words);
        double tokens = model.ScoreAll([seq])[0].Sum(x => (double)x);
        var logits = model.Logits([seq], [[seq.Length - 1]]);
        double max = logits.Max(), all = logits.Sum(x => Math.Exp(x - max)), b = logits.Select((x, i) => boundary[i] ? Math.Exp(x - max) : 0).Sum();
        double want = tokens - Math.Log2(b / all);
        Assert.Equal(want, scores.Sum(s => s.Bits), 1e-6);
        Assert.Equal(tokens, scores.Sum(s => s.TokenBits), 1e-6);
    }
}

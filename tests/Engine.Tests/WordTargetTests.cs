using System.Text.Json.Nodes;
using LearningCurves.Engine.Backends;
using LearningCurves.Engine.Checkpoints;
using LearningCurves.Engine.EvalSets;
using LearningCurves.Engine.Model;
using LearningCurves.Engine.Sweeps;
using LearningCurves.Formats;
using LearningCurves.Formats.EvalSets;
using LearningCurves.Formats.IO;
using LearningCurves.Formats.Tokenization;
using LearningCurves.Tests.Common;
using Xunit;

namespace LearningCurves.Engine.Tests;

/// <summary>Eval sets with word targets (<c>eval-set --targets words</c>) and their scoring in a sweep.</summary>
public class WordTargetTests
{
    private const string Text = """
        The quick brown fox jumps over the lazy dog, doesn't it?
        Colorless green ideas sleep furiously; they never wake.
        In 1984, 42 people   walked into the bar.
        Einstein's relativity: E=mc2 changed physics forever.
        """;

    private static EvalSet Make(string dir, int? perSequence, ulong seed, Packing packing = Packing.Lines, string? tokenizer = null)
    {
        string txt = Path.Combine(dir, "in.txt");
        File.WriteAllText(txt, Text);
        return EvalSetMaker.Make(new EvalSetRequest
        {
            TextFiles = [txt], SeqLen = 16, PerSequence = perSequence, Seed = seed, WordTargets = true, Packing = packing,
            TokenizerDir = tokenizer is null ? null : TokenizerFixture(tokenizer),
        }, Path.Combine(dir, "set"));
    }

    private static string TokenizerFixture(string name) => Path.Combine(TestPaths.RepoRoot, "tests", "fixtures", "tokenizers", name);

    /// <summary>SentencePiece (LLaMA-style) word targets: every word begins with a "▁" token (a line's first word from
    /// the dummy prefix, after a newline byte token in stream packing), and is a whole whitespace-delimited word.</summary>
    [Theory]
    [InlineData("sp-bpe", Packing.Lines)]
    [InlineData("sp-bpe", Packing.Stream)]
    [InlineData("llama-json-metaspace", Packing.Lines)]
    public void SentencePiece_word_targets_are_whole_words_each_beginning_with_a_boundary_token(string tokenizer, Packing packing)
    {
        string dir = TestPaths.TempDir();
        Make(dir, null, 3, packing, tokenizer);
        var set = EvalSet.Load(Path.Combine(dir, "set"));
        var tok = TextTokenizer.Load(TokenizerFixture(tokenizer));
        Assert.Equal("words", set.Manifest!["targets"]!.GetValue<string>());
        var boundary = set.Words!.BoundaryMask(set.VocabSize);
        // The boundary ids are the "▁" pieces, the whitespace bytes and end-of-text; not the word-inner pieces.
        Assert.True(boundary[tok.Encode("the")[0]], "'\u2581the' (the dummy prefix makes a text's first piece one)");
        Assert.True(boundary[tok.Encode("a\nb")[1]], "the newline byte piece");
        Assert.True(boundary[tok.EndOfTextId!.Value]);
        Assert.False(boundary[tok.Encode("ab,")[^1]], "','");
        var allWords = Text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).ToHashSet();
        int words = 0;
        for (int m = 0; m < set.Examples; m++)
        {
            var (first, last, leading) = set.Words![m];
            var seq = set.Sequence(set.Targets[2 * m]).ToArray();
            string spelled = tok.Decode(seq[first..(last + 1)]);
            Assert.Contains(spelled.Trim(), allWords);
            Assert.True(leading, $"'{spelled}' does not begin with a boundary token");
            Assert.Equal(leading, boundary[seq[first]]);
            Assert.True(boundary[seq[last + 1]], $"'{spelled}' is not followed by a boundary token");
            words++;
        }
        Assert.True(words >= 10, $"only {words} word targets");
    }

    [Fact]
    public void A_tokenizer_whose_tokens_never_begin_with_whitespace_is_refused_for_word_targets_naming_it()
    {
        // A byte-level BPE whose vocabulary has no space-prefixed token (and no merges): no word boundary can be seen.
        string dir = TestPaths.TempDir();
        var vocab = new System.Text.Json.Nodes.JsonObject();
        int id = 0;
        for (char c = 'a'; c <= 'z'; c++) vocab[c.ToString()] = id++;
        vocab["<|endoftext|>"] = id;
        string tokDir = Path.Combine(dir, "tok");
        Directory.CreateDirectory(tokDir);
        File.WriteAllText(Path.Combine(tokDir, Gpt2Tokenizer.VocabFile), vocab.ToJsonString());
        File.WriteAllText(Path.Combine(tokDir, Gpt2Tokenizer.MergesFile), "#version: 0.2\n");
        string txt = Path.Combine(dir, "in.txt");
        File.WriteAllText(txt, "abc\ndef\n");
        var e = Assert.Throws<UserError>(() => EvalSetMaker.Make(new EvalSetRequest
        {
            TextFiles = [txt], TokenizerDir = tokDir, SeqLen = 8, PerSequence = null, WordTargets = true,
        }, Path.Combine(dir, "set")));
        Assert.Contains("no token of this", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Theory]
    [InlineData(Packing.Lines)]
    [InlineData(Packing.Stream)]
    public void Word_targets_are_whole_whitespace_delimited_words_ending_at_the_target_position(Packing packing)
    {
        string dir = TestPaths.TempDir();
        var made = Make(dir, null, 3, packing);
        var set = EvalSet.Load(Path.Combine(dir, "set"));
        Assert.Equal("words", set.Manifest!["targets"]!.GetValue<string>());
        Assert.NotNull(set.Words);
        Assert.Equal(made.Examples, set.Examples);
        var tok = Gpt2Tokenizer.Default;
        var allWords = Text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).ToHashSet();
        for (int m = 0; m < set.Examples; m++)
        {
            var (first, last, leading) = set.Words![m];
            Assert.Equal(last, set.Targets[2 * m + 1]);
            var seq = set.Sequence(set.Targets[2 * m]).ToArray();
            string spelled = tok.Decode(seq[first..(last + 1)]);
            Assert.Contains(spelled.TrimStart(), allWords);
            Assert.Equal(leading, spelled.Length > 0 && char.IsWhiteSpace(spelled[0]));
            // The word ended inside the sequence: a boundary token follows it.
            string next = tok.Decode([seq[last + 1]]);
            Assert.True(next.Length > 0 && (char.IsWhiteSpace(next[0]) || next == Gpt2Tokenizer.EndOfTextToken), $"'{spelled}' is followed by '{next}'");
        }
        Assert.Contains(set.Words!.BoundaryIds, id => id == tok.EndOfTextId);
        Assert.Contains(set.Words!.BoundaryIds, id => id == tok.Encode(" the")[0]);
    }

    [Fact]
    public void Word_draws_are_seeded_and_a_changed_words_file_is_refused()
    {
        string a = TestPaths.TempDir(), b = TestPaths.TempDir(), c = TestPaths.TempDir();
        var x = Make(a, 2, 11);
        var y = Make(b, 2, 11);
        var z = Make(c, 2, 12);
        Assert.Equal(x.Targets, y.Targets);
        Assert.Equal(x.Words!.Spans, y.Words!.Spans);
        Assert.Equal(x.ContentHash, y.ContentHash);
        Assert.NotEqual(x.Targets, z.Targets);
        var wp = Path.Combine(a, "set", WordTargets.WordsFile);
        var (spans, shape) = Npy.ReadInt32(wp);
        spans[2] ^= 1;
        Npy.Write<int>(wp, spans, shape);
        var e = Assert.Throws<UserError>(() => EvalSet.Load(Path.Combine(a, "set")));
        Assert.Contains("changed since the eval set was built", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_token_eval_set_has_no_word_targets_and_keeps_its_hash()
    {
        string dir = TestPaths.TempDir();
        string txt = Path.Combine(dir, "in.txt");
        File.WriteAllText(txt, Text);
        var set = EvalSetMaker.Make(new EvalSetRequest { TextFiles = [txt], SeqLen = 16, PerSequence = 3, Seed = 1 }, Path.Combine(dir, "set"));
        Assert.Null(set.Words);
        Assert.Null(set.Manifest!["targets"]);
        Assert.False(File.Exists(Path.Combine(dir, "set", WordTargets.WordsFile)));
        Assert.Equal(EvalSet.ComputeHash(Path.Combine(dir, "set")), EvalSet.Load(Path.Combine(dir, "set")).ContentHash);
    }

    /// <summary>The sweep's scorer on a word eval set built from the fixture's longest sequence gives the float64
    /// reference's word surprisals.</summary>
    [Fact]
    public void The_sweep_scorer_gives_the_reference_word_surprisals()
    {
        var dir = ParityCheck.FixtureDir(WordSurprisalCheck.Case);
        var weights = HfCheckpoint.Load(dir);
        int v = weights.Config.VocabSize;
        var seqs = TokenIdsFile.Read(Path.Combine(dir, "ids.txt"));
        int s = seqs.FindIndex(q => q.Length == weights.Config.MaxPositions);
        var seq = seqs[s];
        var (want, _) = Npy.ReadDoubles(Path.Combine(dir, "word_surprisal.npy"));
        var targets = new List<int>();
        var spans = new List<int>();
        var expected = new List<double>();
        for (int r = 0; r < want.Length / 7; r++)
        {
            if ((int)want[r * 7] != s) continue;
            targets.AddRange([0, (int)want[r * 7 + 2]]);
            spans.AddRange([(int)want[r * 7 + 1], (int)want[r * 7 + 2], (int)want[r * 7 + 3]]);
            expected.Add(want[r * 7 + 6]);
        }
        Assert.True(expected.Count >= 3);
        var boundary = WordSurprisalCheck.Boundary(v);
        var set = new EvalSet(seq, 1, seq.Length, targets.ToArray(), v)
        {
            Words = new WordTargets(spans.ToArray(), Enumerable.Range(0, v).Where(i => boundary[i]).ToArray()),
        };
        string outDir = TestPaths.TempDir();
        set.Save(outDir, new JsonObject());
        var loaded = EvalSet.Load(outDir);
        using var model = new DecoderModel(new CpuBackend(Precision.Fp32), weights);
        var row = new float[loaded.Examples];
        new EvalScorer(loaded, 1).Score(model, row);
        for (int i = 0; i < row.Length; i++) Assert.True(Math.Abs(row[i] - expected[i]) < 2e-4, $"word {i}: {row[i]} vs reference {expected[i]}");
    }
}

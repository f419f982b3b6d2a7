using System.Text.Json;
using System.Text.Json.Nodes;
using LearningCurves.Engine.EvalSets;
using LearningCurves.Engine.Scoring;
using LearningCurves.Formats;
using LearningCurves.Formats.EvalSets;
using LearningCurves.Formats.Tokenization;
using LearningCurves.Tests.Common;
using Xunit;

namespace LearningCurves.Engine.Tests;

/// <summary>
/// SentencePiece tokenizers (tokenizer.model BPE and unigram; tokenizer.json converted from them, LLaMA's two layouts
/// and a unigram with [CLS]/[SEP]) against the ids python3-sentencepiece gives for the same texts
/// (tests/reference/tokenizer_fixtures.py wrote tests/fixtures/tokenizers/ and its expected.json).
/// </summary>
public class SentencePieceTokenizerTests
{
    private static string Fixture(string name) => Path.Combine(TestPaths.RepoRoot, "tests", "fixtures", "tokenizers", name);

    private sealed record Case(string Text, int[] Bpe, string BpeDecoded, int[] Unigram, string UnigramDecoded);

    private static List<Case> Cases()
    {
        var root = JsonNode.Parse(File.ReadAllText(Fixture("expected.json")))!;
        var list = root["cases"]!.AsArray().Select(c => new Case(c!["text"]!.GetValue<string>(),
            c["bpe"]!.AsArray().Select(x => x!.GetValue<int>()).ToArray(), c["bpe_decoded"]!.GetValue<string>(),
            c["unigram"]!.AsArray().Select(x => x!.GetValue<int>()).ToArray(), c["unigram_decoded"]!.GetValue<string>())).ToList();
        Assert.Equal(11, list.Count);
        return list;
    }

    [Theory]
    [InlineData("sp-bpe", "SentencePiece BPE", true)]
    [InlineData("llama-json", "SentencePiece BPE", true)]
    [InlineData("llama-json-metaspace", "SentencePiece BPE", true)]
    [InlineData("sp-unigram", "SentencePiece unigram", false)]
    [InlineData("unigram-json", "SentencePiece unigram", false)]
    public void Every_kind_encodes_and_decodes_the_fixed_texts_as_sentencepiece_does(string folder, string kind, bool bpe)
    {
        var tok = TextTokenizer.Load(Fixture(folder));
        Assert.IsType<SentencePieceTextTokenizer>(tok);
        Assert.Equal(kind, tok.Kind);
        var bad = new List<string>();
        foreach (var c in Cases())
        {
            var want = bpe ? c.Bpe : c.Unigram;
            var got = tok.Encode(c.Text);
            if (!got.SequenceEqual(want))
            {
                bad.Add($"{JsonSerializer.Serialize(c.Text)}: got [{string.Join(",", got)}], want [{string.Join(",", want)}]");
                continue;
            }
            var text = tok.Decode(got);
            var wantText = bpe ? c.BpeDecoded : c.UnigramDecoded;
            if (text != wantText) bad.Add($"{JsonSerializer.Serialize(c.Text)}: decodes to {JsonSerializer.Serialize(text)}, want {JsonSerializer.Serialize(wantText)}");
        }
        Assert.True(bad.Count == 0, $"{folder}: {bad.Count} of 11 cases differ; first: {string.Join(" | ", bad.Take(3))}");
    }

    [Fact]
    public void Byte_fallback_round_trips_random_unicode_text_and_the_converted_json_agrees_with_the_model()
    {
        int seed = Random.Shared.Next();
        var rng = new Random(seed);
        var model = TextTokenizer.Load(Fixture("sp-bpe"));
        var json = TextTokenizer.Load(Fixture("llama-json"));
        var meta = TextTokenizer.Load(Fixture("llama-json-metaspace"));
        string alphabet = "abcdefghijklmnopqrstuvwxyz ABCXYZ 0123456789 .,;:!? äöüßéèàçñ Ελληνικά русский 東京大阪 🙂🚀 \t";
        for (int k = 0; k < 60; k++)
        {
            int n = rng.Next(0, 40);
            var sb = new System.Text.StringBuilder();
            for (int i = 0; i < n; i++)
            {
                int at = rng.Next(alphabet.Length);
                if (char.IsHighSurrogate(alphabet[at])) sb.Append(alphabet, at, 2);
                else if (char.IsLowSurrogate(alphabet[at])) sb.Append(alphabet, at - 1, 2);
                else sb.Append(alphabet[at]);
            }
            string text = sb.ToString();
            var ids = model.Encode(text);
            Assert.True(model.Decode(ids) == text, $"seed {seed}: {JsonSerializer.Serialize(text)} -> [{string.Join(",", ids)}] -> {JsonSerializer.Serialize(model.Decode(ids))}");
            Assert.True(ids.SequenceEqual(json.Encode(text)), $"seed {seed}: tokenizer.json differs from tokenizer.model on {JsonSerializer.Serialize(text)}: [{string.Join(",", json.Encode(text))}] vs [{string.Join(",", ids)}]");
            Assert.True(ids.SequenceEqual(meta.Encode(text)), $"seed {seed}: the Metaspace layout differs on {JsonSerializer.Serialize(text)}");
        }
    }

    [Fact]
    public void Begin_tokens_follow_the_tokenizer_configuration()
    {
        var expected = JsonNode.Parse(File.ReadAllText(Fixture("expected.json")))!;
        int bos = expected["bpe"]!["bos_id"]!.GetValue<int>(), eos = expected["bpe"]!["eos_id"]!.GetValue<int>();

        var llama = TextTokenizer.Load(Fixture("sp-bpe"));
        Assert.Equal(new BeginToken(true, bos, "<s>", "tokenizer_config.json add_bos_token true"), llama.Begin);
        Assert.Equal(eos, llama.EndOfTextId);
        Assert.Equal(640, llama.VocabSize);
        Assert.Equal([bos, .. llama.Encode("Hello world")], llama.EncodeWith(llama.Begin, "Hello world"));

        var json = TextTokenizer.Load(Fixture("llama-json")); // bos_token as an AddedToken object
        Assert.Equal(new BeginToken(true, bos, "<s>", "tokenizer_config.json add_bos_token true"), json.Begin);

        var meta = TextTokenizer.Load(Fixture("llama-json-metaspace")); // no config: the post-processor's <s>
        Assert.True(meta.Begin.Add);
        Assert.Equal(bos, meta.Begin.Id);
        Assert.Contains("post_processor", meta.Begin.Reason, StringComparison.Ordinal);

        var uni = TextTokenizer.Load(Fixture("sp-unigram")); // no config, no template: none
        Assert.False(uni.Begin.Add);
        Assert.Equal(BeginToken.None.Add, uni.Begin.Add);
        Assert.Equal(expected["unigram"]!["bos_id"]!.GetValue<int>(), uni.ChooseBegin("yes").Id);
        Assert.False(llama.ChooseBegin("no").Add);

        var paper = TextTokenizer.Load(Fixture("unigram-json")); // [CLS] $A [SEP]
        Assert.Equal("[CLS]", paper.Begin.Token);
        Assert.Equal(320, paper.Begin.Id);
        Assert.Equal(322, paper.VocabSize);
        Assert.Equal(2, paper.EndOfTextId); // </s> of the SentencePiece model
        Assert.Equal(321, paper.TokenToId("[SEP]"));

        // Pythia: GPT-NeoX tokenizer_config.json without add_bos_token (bos_token <|endoftext|>), no template: none.
        var dir = TestPaths.TempDir();
        File.Copy(Path.Combine(TestPaths.SharedFixture("gpt2-tokenizer"), "vocab.json"), Path.Combine(dir, "vocab.json"));
        File.Copy(Path.Combine(TestPaths.SharedFixture("gpt2-tokenizer"), "merges.txt"), Path.Combine(dir, "merges.txt"));
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), """{"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "tokenizer_class": "GPTNeoXTokenizer"}""");
        var pythia = TextTokenizer.Load(dir);
        Assert.False(pythia.Begin.Add);
        Assert.Contains("no add_bos_token", pythia.Begin.Reason, StringComparison.Ordinal);
        // OLMo-style: a byte-level tokenizer whose config asks for its <|endoftext|> as the begin token.
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), """{"add_bos_token": true, "bos_token": "<|endoftext|>"}""");
        var olmo = TextTokenizer.Load(dir);
        Assert.Equal(new BeginToken(true, 50256, "<|endoftext|>", "tokenizer_config.json add_bos_token true"), olmo.Begin);
        Assert.Equal([50256, 15496, 995], olmo.EncodeWith(olmo.Begin, "Hello world"));
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), """{"add_bos_token": true, "bos_token": "<nope>"}""");
        Assert.Contains("'<nope>' is not in the tokenizer's vocabulary", Assert.Throws<UserError>(() => TextTokenizer.Load(dir)).Message, StringComparison.Ordinal);
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), """{"add_bos_token": "yes"}""");
        Assert.Contains("add_bos_token must be true or false", Assert.Throws<UserError>(() => TextTokenizer.Load(dir)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_loader_picks_by_files_and_bad_files_are_named()
    {
        // An empty folder: the built-in GPT-2 tokenizer, shared, adding nothing.
        var empty = TestPaths.TempDir();
        Assert.Same(Gpt2Tokenizer.Default, TextTokenizer.Load(empty));
        Assert.False(TextTokenizer.FolderHasTokenizerFiles(empty));
        Assert.True(TextTokenizer.FolderHasTokenizerFiles(Fixture("sp-unigram")));

        // A tokenizer.json beside a tokenizer.model: the model file is used for a converted BPE.
        var both = TestPaths.TempDir();
        File.Copy(Path.Combine(Fixture("llama-json"), "tokenizer.json"), Path.Combine(both, "tokenizer.json"));
        File.Copy(Path.Combine(Fixture("sp-bpe"), "tokenizer.model"), Path.Combine(both, "tokenizer.model"));
        var t = TextTokenizer.Load(both);
        Assert.Contains("tokenizer.model", t.Source, StringComparison.Ordinal);
        Assert.Equal(TextTokenizer.Load(Fixture("sp-bpe")).Encode("Grüße 東京"), t.Encode("Grüße 東京"));

        // ALBERT/T5's name for the same file.
        var spiece = TestPaths.TempDir();
        File.Copy(Path.Combine(Fixture("sp-unigram"), "tokenizer.model"), Path.Combine(spiece, "spiece.model"));
        Assert.True(TextTokenizer.FolderHasTokenizerFiles(spiece));
        Assert.Equal(TextTokenizer.Load(Fixture("sp-unigram")).Encode("Köln 12"), TextTokenizer.Load(spiece).Encode("Köln 12"));
        Assert.EndsWith("spiece.model", TextTokenizer.Load(spiece).Source, StringComparison.Ordinal);

        var bad = TestPaths.TempDir();
        File.WriteAllBytes(Path.Combine(bad, "tokenizer.model"), [0x0a, 0xff, 0xff, 0xff, 0x7f, 1, 2]);
        var e = Assert.Throws<UserError>(() => TextTokenizer.Load(bad));
        Assert.Contains("tokenizer.model", e.Message, StringComparison.Ordinal);

        var word = TestPaths.TempDir();
        File.WriteAllBytes(Path.Combine(word, "tokenizer.model"), [0x12, 0x02, 0x18, 0x03]); // trainer_spec { model_type: WORD }
        Assert.Contains("WORD model", Assert.Throws<UserError>(() => TextTokenizer.Load(word)).Message, StringComparison.Ordinal);

        var j = JsonNode.Parse(File.ReadAllText(Path.Combine(Fixture("llama-json"), "tokenizer.json")))!;
        j["model"]!["unk_token"] = null;
        j["model"]!["byte_fallback"] = false;
        j["normalizer"]!["normalizers"]![0]!["prepend"] = "\u2581";
        var noUnk = TestPaths.TempDir();
        File.WriteAllText(Path.Combine(noUnk, "tokenizer.json"), j.ToJsonString());
        Assert.Contains("no unk_token", Assert.Throws<UserError>(() => TextTokenizer.Load(noUnk)).Message, StringComparison.Ordinal);
        Assert.Throws<UserError>(() => TextTokenizer.Load(Path.Combine(empty, "absent")));
        Assert.Throws<UserError>(() => TextTokenizer.Load(Fixture("sp-bpe")).Decode([640]));
    }

    private static string CorpusLines(int n)
    {
        var lines = File.ReadAllLines(Fixture("corpus.txt")).Where(l => l.Length > 0).Take(n).ToArray();
        var path = Path.Combine(TestPaths.TempDir("corpus"), "text.txt");
        File.WriteAllLines(path, lines);
        return path;
    }

    [Fact]
    public void Eval_sets_follow_the_tokenizer_s_begin_token_and_say_so_in_the_manifest()
    {
        string text = CorpusLines(60);
        string dir = TestPaths.TempDir();
        var llama = TextTokenizer.Load(Fixture("sp-bpe"));

        // LLaMA-style: lines packing begins with <s>, separates with </s>; the manifest says why.
        var set = EvalSetMaker.Make(new EvalSetRequest { TextFiles = [text], TokenizerDir = Fixture("sp-bpe"), SeqLen = 24, PerSequence = 3, Seed = 2 },
            Path.Combine(dir, "lines"));
        Assert.Equal(640, set.VocabSize);
        Assert.All(Enumerable.Range(0, set.SequenceCount), s => Assert.Equal(1, set.Sequence(s)[0]));
        var m = EvalSet.Load(Path.Combine(dir, "lines")).Manifest!;
        Assert.Equal(1, m["bos_id"]!.GetValue<int>());
        Assert.Equal(1, m["begin_id"]!.GetValue<int>());
        Assert.Equal(2, m["sep_id"]!.GetValue<int>());
        Assert.Equal("adds <s> (1): tokenizer_config.json add_bos_token true", m["bos"]!.GetValue<string>());
        Assert.Equal("SentencePiece BPE", m["tokenizer_kind"]!.GetValue<string>());
        Assert.Equal(Path.GetFullPath(Fixture("sp-bpe")), m["tokenizer_dir"]!.GetValue<string>());
        // The analysis stage finds the same tokenizer again from the manifest.
        Assert.IsType<SentencePieceTextTokenizer>(EvalSetSources.Tokenizer(EvalSet.Load(Path.Combine(dir, "lines")), null));

        // Stream packing: <s> then the next seq-len - 1 tokens of the text, chunk after chunk.
        var stream = EvalSetMaker.Make(new EvalSetRequest { TextFiles = [text], TokenizerDir = Fixture("sp-bpe"), SeqLen = 24, PerSequence = null, Seed = 2, Packing = Packing.Stream },
            Path.Combine(dir, "stream"));
        var all = File.ReadLines(text).Where(l => !string.IsNullOrWhiteSpace(l)).SelectMany(l => llama.Encode(l + "\n")).ToArray();
        Assert.Equal(all.Length / 23, stream.SequenceCount);
        for (int s = 0; s < stream.SequenceCount; s++)
            Assert.Equal([1, .. all.AsSpan(s * 23, 23)], stream.Sequence(s).ToArray());

        // --bos no: the paper's packing with the end-of-text token (</s>) first, and no bos_id.
        var off = EvalSetMaker.Make(new EvalSetRequest { TextFiles = [text], TokenizerDir = Fixture("sp-bpe"), SeqLen = 24, PerSequence = 3, Seed = 2, Bos = "no" },
            Path.Combine(dir, "off"));
        Assert.Equal(2, off.Sequence(0)[0]);
        Assert.Null(EvalSet.Load(Path.Combine(dir, "off")).Manifest!["bos_id"]);
        Assert.Equal("none: --bos no", EvalSet.Load(Path.Combine(dir, "off")).Manifest!["bos"]!.GetValue<string>());

        // The paper's converted vocabulary: [CLS] line [SEP] line [SEP] ...
        var paper = EvalSetMaker.Make(new EvalSetRequest { TextFiles = [text], TokenizerDir = Fixture("unigram-json"), SeqLen = 24, PerSequence = 3, Seed = 2 },
            Path.Combine(dir, "paper"));
        Assert.Equal(322, paper.VocabSize);
        Assert.Equal(320, paper.Sequence(0)[0]);

        // Pre-tokenized ids: no tokenizer, no begin token; --bos yes is refused there.
        Assert.Contains("--bos yes needs a tokenizer", Assert.Throws<UserError>(() => EvalSetMaker.Make(new EvalSetRequest
            { IdsFile = Path.Combine(TestPaths.RepoRoot, "tests", "fixtures", "parity", "tied-prefix-f32", "ids.txt"), VocabSize = 96, SeqLen = 8, Seed = 1, Bos = "yes", BeginId = 0, SepId = 0 },
            Path.Combine(dir, "ids"))).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Score_text_puts_the_begin_token_before_every_sequence_when_the_tokenizer_adds_one()
    {
        string text = CorpusLines(10);
        var tok = TextTokenizer.Load(Fixture("sp-bpe"));
        var cfg = new LearningCurves.Engine.Model.ModelConfig { VocabSize = 640, MaxPositions = 32, Embd = 8, Layers = 1, Heads = 1 };
        var ids = tok.Encode(File.ReadAllText(text));
        var with = ScoreInput.FromText(text, tok, cfg, 16, tok.Begin);
        Assert.All(with, s => Assert.Equal(1, s[0]));
        Assert.Equal(ids, with.SelectMany(s => s.Skip(1)).ToArray());
        Assert.All(with.SkipLast(1), s => Assert.Equal(16, s.Length));
        var without = ScoreInput.FromText(text, tok, cfg, 16, tok.ChooseBegin("no"));
        Assert.Equal(ids, without.SelectMany(s => s).ToArray());
        Assert.Equal((ids.Length + 15) / 16, without.Count);
    }
}

using System.Text.Json;
using LearningCurves.Engine;
using LearningCurves.Tests.Common;
using Xunit;
using LearningCurves.Formats.Tokenization;
using LearningCurves.Formats;

namespace LearningCurves.Engine.Tests;

public class TokenizationTests
{
    private sealed record EncodeCase(string Text, int[] Ids);

    private static List<EncodeCase> Cases()
    {
        var path = Path.Combine(TestPaths.SharedFixture("gpt2-tokenizer"), "encode-cases.json");
        var cases = JsonSerializer.Deserialize<List<EncodeCase>>(File.ReadAllText(path), new JsonSerializerOptions { PropertyNameCaseInsensitive = true })!;
        Assert.Equal(64, cases.Count);
        return cases;
    }

    private static void AllCasesMatch(Gpt2Tokenizer tok)
    {
        var bad = new List<string>();
        foreach (var c in Cases())
        {
            var got = tok.Encode(c.Text);
            if (!got.SequenceEqual(c.Ids))
                bad.Add($"{JsonSerializer.Serialize(c.Text)}: got [{string.Join(",", got)}], want [{string.Join(",", c.Ids)}]");
            else if (tok.Decode(got) != c.Text)
                bad.Add($"{JsonSerializer.Serialize(c.Text)}: decodes to {JsonSerializer.Serialize(tok.Decode(got))}");
        }
        Assert.True(bad.Count == 0, $"{bad.Count} of 64 cases differ; first: {string.Join(" | ", bad.Take(3))}");
    }

    [Fact]
    public void The_64_reference_cases_encode_exactly_from_vocab_and_merges() =>
        AllCasesMatch(Gpt2Tokenizer.FromFolder(TestPaths.SharedFixture("gpt2-tokenizer")));

    [Fact]
    public void The_64_reference_cases_encode_exactly_with_the_built_in_data()
    {
        _ = TestPaths.SharedFixture("gpt2-tokenizer");
        AllCasesMatch(Gpt2Tokenizer.Default);
    }

    [Fact]
    public void Known_cases()
    {
        var t = Gpt2Tokenizer.Default;
        Assert.Equal([15496, 995], t.Encode("Hello world"));
        Assert.Equal([464, 2068, 7586, 21831], t.Encode("The quick brown fox"));
        Assert.Equal("Hello world", t.Decode([15496, 995]));
        Assert.Equal(50257, t.VocabSize);
        Assert.Equal(50256, t.EndOfTextId);
        Assert.Empty(t.Encode(""));
        Assert.Throws<UserError>(() => t.Decode([50257]));
    }

    [Fact]
    public void End_of_text_is_special_in_both_tokenizers()
    {
        var files = Gpt2Tokenizer.FromFolder(TestPaths.SharedFixture("gpt2-tokenizer"));
        foreach (var t in new[] { files, Gpt2Tokenizer.Default })
        {
            Assert.Equal([15496, 50256, 6894], t.Encode("Hello<|endoftext|>world"));
            Assert.Equal("Hello<|endoftext|>world", t.Decode([15496, 50256, 6894]));
            Assert.Equal(50256, t.EndOfTextId);
            Assert.Equal(50257, t.VocabSize);
        }
    }

    [Fact]
    public void A_folder_without_tokenizer_files_uses_the_built_in_one()
    {
        var dir = TestPaths.TempDir();
        Assert.Same(Gpt2Tokenizer.Default, Gpt2Tokenizer.FromFolder(dir));
    }

    [Fact]
    public void A_folder_with_only_half_a_tokenizer_is_an_error()
    {
        var dir = TestPaths.TempDir();
        File.WriteAllText(Path.Combine(dir, "vocab.json"), "{}");
        var e = Assert.Throws<UserError>(() => Gpt2Tokenizer.FromFolder(dir));
        Assert.StartsWith(Path.Combine(dir, "merges.txt") + ": missing", e.Message);
    }

    [Fact]
    public void The_tiny_random_model_tokenizer_loads()
    {
        var t = Gpt2Tokenizer.FromFolder(TestPaths.SharedFixture("tiny-random-gpt2"));
        Assert.Equal(1000, t.VocabSize);
        Assert.Equal(0, t.EndOfTextId);
        var ids = t.Encode("Hello world, this is a test.");
        Assert.NotEmpty(ids);
        Assert.All(ids, id => Assert.InRange(id, 0, 999));
        Assert.Equal("Hello world, this is a test.", t.Decode(ids));
    }

    [Fact]
    public void Ids_files_hold_one_sequence_per_line()
    {
        var seqs = TokenIdsFile.Read(new StringReader("1 2 3\n\n  4\t5  \r\n6\n"), "ids.txt");
        Assert.Equal([[1, 2, 3], [4, 5], [6]], seqs);
        Assert.Empty(TokenIdsFile.Read(new StringReader(""), "ids.txt"));

        var dir = TestPaths.TempDir();
        var path = Path.Combine(dir, "ids.txt");
        TokenIdsFile.Write(path, seqs);
        Assert.Equal(seqs, TokenIdsFile.Read(path));
    }

    [Theory]
    [InlineData("1 2\n3 x\n", "ids.txt: line 2: 'x' is not a token id")]
    [InlineData("1 -2\n", "ids.txt: line 1: '-2' is not a token id")]
    [InlineData("1 2.5\n", "ids.txt: line 1: '2.5' is not a token id")]
    [InlineData("99999999999\n", "ids.txt: line 1: '99999999999' is not a token id")]
    public void Bad_ids_name_the_file_and_line(string text, string message)
    {
        var e = Assert.Throws<UserError>(() => TokenIdsFile.Read(new StringReader(text), "ids.txt"));
        Assert.StartsWith(message, e.Message);
    }
}

/// <summary>tokenizer.json (Hugging Face tokenizers) folders: GPT-2's vocabulary and merges rebuilt as tokenizer.json give
/// the vocab.json/merges.txt ids; added tokens (special or not) are whole tokens; what is not byte-level BPE is refused.</summary>
public class TokenizerJsonTests
{
    /// <summary>A tokenizer.json as the tokenizers library writes GPT-2's (or GPT-NeoX-20B's, with NFC and added tokens).</summary>
    public static string WriteTokenizerJson(string dir, string vocabJson, IEnumerable<string> merges, bool pairForm,
        IEnumerable<(int Id, string Content, bool Special)> added, bool nfc = false)
    {
        var mergeNodes = new System.Text.Json.Nodes.JsonArray(merges.Select(m =>
        {
            if (!pairForm) return (System.Text.Json.Nodes.JsonNode)m;
            var sp = m.Split(' ');
            return new System.Text.Json.Nodes.JsonArray(sp[0], sp[1]);
        }).ToArray());
        var root = new System.Text.Json.Nodes.JsonObject
        {
            ["version"] = "1.0",
            ["truncation"] = null,
            ["padding"] = null,
            ["added_tokens"] = new System.Text.Json.Nodes.JsonArray(added.Select(a => (System.Text.Json.Nodes.JsonNode)new System.Text.Json.Nodes.JsonObject
            {
                ["id"] = a.Id, ["content"] = a.Content, ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false,
                ["normalized"] = !a.Special, ["special"] = a.Special,
            }).ToArray()),
            ["normalizer"] = nfc ? new System.Text.Json.Nodes.JsonObject { ["type"] = "NFC" } : null,
            ["pre_tokenizer"] = new System.Text.Json.Nodes.JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = true },
            ["post_processor"] = new System.Text.Json.Nodes.JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true },
            ["decoder"] = new System.Text.Json.Nodes.JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = true, ["trim_offsets"] = true },
            ["model"] = new System.Text.Json.Nodes.JsonObject
            {
                ["type"] = "BPE", ["dropout"] = null, ["unk_token"] = null, ["continuing_subword_prefix"] = "", ["end_of_word_suffix"] = "",
                ["fuse_unk"] = false, ["vocab"] = System.Text.Json.Nodes.JsonNode.Parse(vocabJson), ["merges"] = mergeNodes,
            },
        };
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), root.ToJsonString());
        return dir;
    }

    private static (string Vocab, string[] Merges) Gpt2Files()
    {
        var src = TestPaths.SharedFixture("gpt2-tokenizer");
        var merges = File.ReadAllLines(Path.Combine(src, "merges.txt")).Where(l => l.Length > 0 && !l.StartsWith("#version", StringComparison.Ordinal)).ToArray();
        return (File.ReadAllText(Path.Combine(src, "vocab.json")), merges);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Gpt2_as_tokenizer_json_gives_the_vocab_and_merges_ids(bool pairForm)
    {
        var (vocab, merges) = Gpt2Files();
        var dir = WriteTokenizerJson(TestPaths.TempDir(), vocab, merges, pairForm, [(50256, "<|endoftext|>", true)]);
        Assert.True(Gpt2Tokenizer.FolderHasTokenizer(dir));
        var json = Gpt2Tokenizer.FromFolder(dir);
        var files = Gpt2Tokenizer.FromFolder(TestPaths.SharedFixture("gpt2-tokenizer"));
        Assert.Equal(files.VocabSize, json.VocabSize);
        Assert.Equal(50256, json.EndOfTextId);
        Assert.EndsWith("tokenizer.json", json.Source, StringComparison.Ordinal);
        var cases = JsonSerializer.Deserialize<List<JsonElement>>(File.ReadAllText(Path.Combine(TestPaths.SharedFixture("gpt2-tokenizer"), "encode-cases.json")))!;
        var texts = cases.Select(c => c.GetProperty("text").GetString()!).ToList();
        var rng = new Random(Random.Shared.Next());
        // Fresh random texts too: words, digits, punctuation, whitespace runs and non-ASCII.
        string[] alphabet = [.. "abcdefghij klmnop  QRS\t\n0123456789.,;!?'\"-éü中".Select(c => c.ToString()), "😀", " the", "   "];
        for (int i = 0; i < 50; i++) texts.Add(string.Concat(Enumerable.Range(0, rng.Next(1, 60)).Select(_ => alphabet[rng.Next(alphabet.Length)])));
        foreach (var t in texts)
        {
            Assert.True(files.Encode(t).SequenceEqual(json.Encode(t)), $"{JsonSerializer.Serialize(t)}: tokenizer.json [{string.Join(",", json.Encode(t))}] vs vocab/merges [{string.Join(",", files.Encode(t))}]");
            Assert.Equal(t, json.Decode(json.Encode(t)));
        }
        Assert.Equal([50256], json.Encode("<|endoftext|>"));
        Assert.Equal(json.Encode("a") .Concat([50256]).Concat(json.Encode(" b")), json.Encode("a<|endoftext|> b"));
    }

    /// <summary>Regression: the vocab.json/merges.txt path once went through CodeGenTokenizer, which adds CodeGen's
    /// whitespace-run tokens and encoded "a   b" as [64, 50285, 65], an id GPT-2 does not have.</summary>
    [Fact]
    public void Whitespace_runs_encode_as_gpt2_does_from_vocab_and_merges()
    {
        var files = Gpt2Tokenizer.FromFolder(TestPaths.SharedFixture("gpt2-tokenizer"));
        foreach (var t in new[] { "a   b", "x\t\tz", "  hi", "a  b", "\n\n\nend    ", "<|endoftext|>  <|endoftext|>" })
            Assert.Equal(Gpt2Tokenizer.Default.Encode(t), files.Encode(t));
        Assert.Equal([64, 220, 220, 275], files.Encode("a   b"));
    }

    [Fact]
    public void Neox_style_added_tokens_past_the_vocab_are_whole_tokens_and_count_in_the_size()
    {
        var (vocab, merges) = Gpt2Files();
        // As GPT-NeoX-20B: special tokens and whitespace runs added after the BPE vocabulary, NFC normalisation.
        var dir = WriteTokenizerJson(TestPaths.TempDir(), vocab, merges, false,
            [(50256, "<|endoftext|>", true), (50257, "<|padding|>", true), (50258, "     ", false)], nfc: true);
        var tok = Gpt2Tokenizer.FromFolder(dir);
        Assert.Equal(50259, tok.VocabSize);
        Assert.Equal([50257], tok.Encode("<|padding|>"));
        var ids = tok.Encode("x     y");
        Assert.Contains(50258, ids);
        Assert.Equal("x     y", tok.Decode(ids));
        // NFC (UnicodeNfc, as .NET cannot normalise under invariant globalization): a decomposed é encodes as the
        // precomposed one.
        Assert.Equal("caf\u00e9 <|endoftext|>", tok.Decode(tok.Encode("caf\u00e9 <|endoftext|>")));
        Assert.Equal(tok.Encode("caf\u00e9 <|endoftext|>"), tok.Encode("cafe\u0301 <|endoftext|>"));
    }

    [Fact]
    public void Other_tokenizer_kinds_are_refused_by_name()
    {
        var dir = TestPaths.TempDir();
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), "{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}");
        var e = Assert.Throws<UserError>(() => Gpt2Tokenizer.FromFolder(dir));
        Assert.Contains("Unigram", e.Message, StringComparison.Ordinal);
        Assert.Contains("tokenizer.json", e.Message, StringComparison.Ordinal);
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"pre_tokenizer\": {\"type\": \"Metaspace\"}}");
        Assert.Contains("Metaspace", Assert.Throws<UserError>(() => Gpt2Tokenizer.FromFolder(dir)).Message, StringComparison.Ordinal);
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), "{not json");
        Assert.Contains("not valid JSON", Assert.Throws<UserError>(() => Gpt2Tokenizer.FromFolder(dir)).Message, StringComparison.Ordinal);
    }
}

using System.Text.Json.Nodes;
using LearningCurves.Formats;
using LearningCurves.Formats.Tokenization;
using LearningCurves.Tests.Common;
using Xunit;

namespace LearningCurves.Engine.Tests;

/// <summary>
/// A Qwen2-shaped tokenizer.json (tests/reference/qwen2_tokenizer_fixture.py wrote tests/fixtures/tokenizers/qwen2-json
/// and its expected ids from the published algorithm): NFC normalizer, Split(Qwen2's regex, Isolated) + ByteLevel(use_regex
/// false), byte-level BPE with merges that only the Qwen2 split lets apply, special tokens after the vocabulary, no begin
/// token. And UnicodeNfc against Python's unicodedata on random strings (tests/fixtures/tokenizers/nfc.json).
/// </summary>
public class Qwen2TokenizerTests
{
    private static string Fixture(string name) => Path.Combine(TestPaths.RepoRoot, "tests", "fixtures", "tokenizers", name);

    [Fact]
    public void Every_reference_text_encodes_to_the_reference_ids_and_decodes_to_its_nfc()
    {
        var expected = JsonNode.Parse(File.ReadAllText(Path.Combine(Fixture("qwen2-json"), "expected.json")))!;
        var tok = TextTokenizer.Load(Fixture("qwen2-json"));
        Assert.Equal("byte-level BPE", tok.Kind);
        Assert.Equal((int)expected["vocab_size"]!, tok.VocabSize);
        Assert.Equal((int)expected["end_of_text"]!, tok.EndOfTextId);
        Assert.Equal((int)expected["end_of_text"]! + 1, tok.TokenToId("<|im_start|>"));
        // No begin token: no add_bos_token, a ByteLevel post-processor, not a LlamaTokenizer.
        Assert.False(tok.Begin.Add);
        Assert.Equal("none: tokenizer_config.json has no add_bos_token and the tokenizer adds no begin token", tok.Begin.ToString());
        var bad = new List<string>();
        var cases = expected["cases"]!.AsArray();
        foreach (var c in cases)
        {
            string text = (string)c!["text"]!;
            var want = c["ids"]!.AsArray().Select(x => (int)x!).ToArray();
            var got = tok.Encode(text);
            if (!got.SequenceEqual(want))
                bad.Add($"{System.Text.Json.JsonSerializer.Serialize(text)}: got [{string.Join(",", got)}], want [{string.Join(",", want)}]");
            else if (tok.Decode(got) != UnicodeNfc.Normalize(text))
                bad.Add($"{System.Text.Json.JsonSerializer.Serialize(text)}: decodes to {System.Text.Json.JsonSerializer.Serialize(tok.Decode(got))}");
        }
        Assert.True(bad.Count == 0, $"{bad.Count} of {cases.Count} texts differ; first: {string.Join(" | ", bad.Take(3))}");
    }

    [Fact]
    public void Qwen2_splits_digits_singly_and_normalizes_before_splitting()
    {
        var tok = TextTokenizer.Load(Fixture("qwen2-json"));
        // The fixture has merges "0 0", "1 4" and "Ġ 1", which GPT-2's pattern (" ?\p{N}+") would apply: Qwen2's \p{N}
        // keeps every digit a piece of its own, and the space before a digit apart.
        Assert.Equal(["Ġ", "1", "4", "0", "0"], tok.Encode(" 1400").Select(i => tok.Decode([i]).Replace(' ', 'Ġ')).ToArray());
        Assert.Equal(tok.Encode("caf\u00e9"), tok.Encode("cafe\u0301"));
        Assert.Equal(tok.Encode("\u00c5ngstr\u00f6m"), tok.Encode("A\u030angstro\u0308m"));
        // A case-insensitive contraction is one piece ("'S" is a merge of the fixture).
        Assert.Single(tok.Encode("'S"));
    }

    [Fact]
    public void With_add_bos_token_false_there_is_still_none_and_bos_yes_takes_the_end_of_text_token()
    {
        var dir = TestPaths.TempDir();
        foreach (var f in new[] { "tokenizer.json", "tokenizer_config.json" }) File.Copy(Path.Combine(Fixture("qwen2-json"), f), Path.Combine(dir, f));
        var cfg = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "tokenizer_config.json")))!.AsObject();
        cfg["add_bos_token"] = false;
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), cfg.ToJsonString());
        var tok = TextTokenizer.Load(dir);
        Assert.Equal("none: tokenizer_config.json add_bos_token false", tok.Begin.ToString());
        var yes = tok.ChooseBegin("yes");
        Assert.Equal((true, tok.EndOfTextId, "<|endoftext|>"), (yes.Add, yes.Id, yes.Token));
    }

    [Fact]
    public void Unicode_nfc_matches_python_unicodedata_on_random_strings()
    {
        var root = JsonNode.Parse(File.ReadAllText(Fixture("nfc.json")))!;
        Assert.Equal((string)root["unicode"]!, UnicodeNfc.UnicodeVersion);
        var bad = new List<string>();
        var cases = root["cases"]!.AsArray();
        foreach (var c in cases)
        {
            string input = (string)c![0]!, want = (string)c[1]!;
            string got = UnicodeNfc.Normalize(input);
            if (got != want) bad.Add($"{Hex(input)}: got {Hex(got)}, want {Hex(want)}");
            else if (UnicodeNfc.Normalize(got) != got) bad.Add($"{Hex(input)}: NFC is not stable");
        }
        Assert.True(bad.Count == 0, $"{bad.Count} of {cases.Count} strings differ; first: {string.Join(" | ", bad.Take(3))}");
        const string ascii = "plain text, 123";
        Assert.Same(ascii, UnicodeNfc.Normalize(ascii));

        static string Hex(string s) => string.Join(" ", s.EnumerateRunes().Select(r => r.Value.ToString("X4", System.Globalization.CultureInfo.InvariantCulture)));
    }
}

using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using LearningCurves.Formats;
using LearningCurves.Formats.Tokenization;
using LearningCurves.Tests.Common;
using Xunit;

namespace LearningCurves.Engine.Tests;

/// <summary>
/// Byte-level BPE tokenizer.json files whose pre-tokenizer is a Sequence (OLMo-2 / LLaMA-3: Split(regex, Isolated) +
/// ByteLevel(use_regex false); SmolLM2: Digits + ByteLevel), with GPT-2's vocabulary and merges: a Split by GPT-2's own
/// regex must give GPT-2's ids exactly, and a split before GPT-2's regex must give GPT-2's ids of each piece.
/// </summary>
public class ByteLevelSequenceTests
{
    private const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
    private const string Cl100kPattern = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    private static string WithPreTokenizer(JsonNode pre)
    {
        var src = TestPaths.SharedFixture("gpt2-tokenizer");
        var merges = File.ReadAllLines(Path.Combine(src, "merges.txt")).Where(l => l.Length > 0 && !l.StartsWith("#version", StringComparison.Ordinal)).ToArray();
        var dir = TokenizerJsonTests.WriteTokenizerJson(TestPaths.TempDir(), File.ReadAllText(Path.Combine(src, "vocab.json")), merges, true, [(50256, "<|endoftext|>", true)]);
        var root = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "tokenizer.json")))!;
        root["pre_tokenizer"] = pre;
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), root.ToJsonString());
        return dir;
    }

    private static JsonNode Split(string pattern) => new JsonObject
    {
        ["type"] = "Split", ["pattern"] = new JsonObject { ["Regex"] = pattern }, ["behavior"] = "Isolated", ["invert"] = false,
    };

    private static JsonNode ByteLevel(bool useRegex) => new JsonObject
    {
        ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = useRegex,
    };

    private static JsonNode Sequence(params JsonNode[] steps) => new JsonObject { ["type"] = "Sequence", ["pretokenizers"] = new JsonArray(steps) };

    private static List<string> Texts()
    {
        var cases = JsonSerializer.Deserialize<List<JsonElement>>(File.ReadAllText(Path.Combine(TestPaths.SharedFixture("gpt2-tokenizer"), "encode-cases.json")))!;
        var texts = cases.Select(c => c.GetProperty("text").GetString()!).ToList();
        // Cases the library's CompositePreTokenizer got wrong (a contraction after punctuation or spaces).
        texts.AddRange([" ! b\t  's! 89 \na l a\u00DC", "1! a. l8 2??,'sn\n\nl's"]);
        int seed = Random.Shared.Next();
        var rng = new Random(seed);
        const string alphabet = "ab cd  1234567 89 0 ,.!? \n\t'sll'VE Ünï 東京 🙂";
        for (int k = 0; k < 40; k++)
            texts.Add(new string(Enumerable.Range(0, rng.Next(0, 30)).Select(_ => alphabet[rng.Next(alphabet.Length)]).Where(ch => !char.IsSurrogate(ch)).ToArray()));
        return texts;
    }

    /// <summary>GPT-2's ids of each piece of a split of the text (matches and the text between them).</summary>
    private static int[] PiecewiseGpt2(string text, Regex split)
    {
        var ids = new List<int>();
        int at = 0;
        foreach (Match m in split.Matches(text))
        {
            if (m.Length == 0) continue;
            if (m.Index > at) ids.AddRange(Gpt2Tokenizer.Default.Encode(text[at..m.Index]));
            ids.AddRange(Gpt2Tokenizer.Default.Encode(m.Value));
            at = m.Index + m.Length;
        }
        if (at < text.Length) ids.AddRange(Gpt2Tokenizer.Default.Encode(text[at..]));
        return [.. ids];
    }

    private static void AllMatch(TextTokenizer tok, Func<string, int[]> want)
    {
        var bad = new List<string>();
        foreach (var t in Texts())
        {
            var got = tok.Encode(t);
            var w = want(t);
            if (!got.SequenceEqual(w)) bad.Add($"{JsonSerializer.Serialize(t)}: got [{string.Join(",", got)}], want [{string.Join(",", w)}]");
            else if (tok.Decode(got) != t) bad.Add($"{JsonSerializer.Serialize(t)}: decodes to {JsonSerializer.Serialize(tok.Decode(got))}");
        }
        Assert.True(bad.Count == 0, $"{bad.Count} texts differ; first: {string.Join(" | ", bad.Take(3))}");
    }

    [Fact]
    public void Split_by_gpt2_s_regex_then_bytes_is_gpt2()
    {
        var tok = TextTokenizer.Load(WithPreTokenizer(Sequence(Split(Gpt2Pattern), ByteLevel(false))));
        Assert.IsType<Gpt2Tokenizer>(tok);
        AllMatch(tok, Gpt2Tokenizer.Default.Encode);
    }

    [Fact]
    public void Olmo2_style_split_then_bytes_tokenizes_each_regex_piece()
    {
        var tok = TextTokenizer.Load(WithPreTokenizer(Sequence(Split(Cl100kPattern), ByteLevel(false))));
        var rx = new Regex(Cl100kPattern, RegexOptions.CultureInvariant);
        AllMatch(tok, t => PiecewiseGpt2(t, rx));
        // "12345" is two pieces (digits in threes), which GPT-2 alone keeps as one.
        Assert.Equal(PiecewiseGpt2("12345", rx), tok.Encode("12345"));
        Assert.NotEqual(Gpt2Tokenizer.Default.Encode(" year 12345"), tok.Encode(" year 12345"));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Smollm2_style_digits_then_bytelevel_regex(bool individual)
    {
        var digits = new JsonObject { ["type"] = "Digits", ["individual_digits"] = individual };
        var tok = TextTokenizer.Load(WithPreTokenizer(Sequence(digits, ByteLevel(true))));
        var rx = new Regex(individual ? @"\p{N}" : @"\p{N}+", RegexOptions.CultureInvariant);
        AllMatch(tok, t => PiecewiseGpt2(t, rx));
    }

    [Fact]
    public void Unsupported_sequences_are_refused_by_name()
    {
        var merged = Split(Gpt2Pattern);
        merged["behavior"] = "MergedWithPrevious";
        Assert.Contains("behavior \"MergedWithPrevious\"", Assert.Throws<UserError>(() => TextTokenizer.Load(WithPreTokenizer(Sequence(merged, ByteLevel(false))))).Message, StringComparison.Ordinal);
        Assert.Contains("no ByteLevel step", Assert.Throws<UserError>(() => TextTokenizer.Load(WithPreTokenizer(Sequence(Split(Gpt2Pattern))))).Message, StringComparison.Ordinal);
        Assert.Contains("holds \"Whitespace\"", Assert.Throws<UserError>(() => TextTokenizer.Load(WithPreTokenizer(Sequence(new JsonObject { ["type"] = "Whitespace" }, ByteLevel(true))))).Message, StringComparison.Ordinal);
        Assert.Contains("not a regular expression", Assert.Throws<UserError>(() => TextTokenizer.Load(WithPreTokenizer(Sequence(Split("(unclosed"), ByteLevel(false))))).Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("dropout", "0.1", "model.dropout is 0.1")]
    [InlineData("continuing_subword_prefix", "\"##\"", "model.continuing_subword_prefix is \"##\"")]
    [InlineData("end_of_word_suffix", "\"</w>\"", "model.end_of_word_suffix is \"</w>\"")]
    public void Model_fields_that_would_change_the_ids_are_refused_by_name(string field, string value, string expected)
    {
        var dir = WithPreTokenizer(Sequence(Split(Cl100kPattern), ByteLevel(false)));
        var path = Path.Combine(dir, "tokenizer.json");
        var root = JsonNode.Parse(File.ReadAllText(path))!;
        root["model"]![field] = JsonNode.Parse(value);
        File.WriteAllText(path, root.ToJsonString());
        var e = Assert.Throws<UserError>(() => TextTokenizer.Load(dir));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
        Assert.Contains(path, e.Message, StringComparison.Ordinal);

        // Their neutral values (null, empty, as Qwen2 and OLMo-2 write them) load.
        root["model"]![field] = field == "dropout" ? null : JsonValue.Create("");
        File.WriteAllText(path, root.ToJsonString());
        Assert.NotEmpty(TextTokenizer.Load(dir).Encode("Hello world"));
    }
}

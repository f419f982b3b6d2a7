using System.Text;
using System.Text.Json.Nodes;
using LearningCurves.Formats.Tokenization;
using LearningCurves.Tests.Common;
using Xunit;

namespace LearningCurves.Engine.Tests;

/// <summary>
/// tokenizer.json's <c>"ignore_merges": true</c> (LLaMA-3's and other tiktoken-converted byte-level BPE files): a
/// pre-token whose byte-level spelling is in the vocabulary is that one id, whether or not the merges would reach it;
/// any other pre-token goes through BPE as usual. A small vocabulary made here (the 256 byte characters as ids 0..255,
/// merges "a b" then "Ġ a") with whole words the merges cannot build; the expected ids follow from that definition by
/// hand, and the same file with the flag false gives the plain BPE ids.
/// </summary>
public class IgnoreMergesTests
{
    private static readonly string[] ByteChars = MakeByteChars();

    private static string[] MakeByteChars()
    {
        var map = new string[256];
        int next = 0;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= 33 and <= 126 or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            map[b] = ((char)(printable ? b : 256 + next++)).ToString();
        }
        return map;
    }

    private static string Spell(string text) => string.Concat(Encoding.UTF8.GetBytes(text).Select(b => ByteChars[b]));

    private static int B(char c) => c; // an ASCII character's byte id

    // Whole words the merges never build ("abc", " abc", "xyz", "é"), and the two merged pieces.
    private static readonly (string Word, int Id)[] Extra =
        [("ab", 256), (" a", 257), ("abc", 258), (" abc", 259), ("xyz", 260), ("é", 261)];

    private static string Write(bool ignoreMerges, bool llama3Split)
    {
        var vocab = new JsonObject();
        for (int b = 0; b < 256; b++) vocab[ByteChars[b]] = b;
        foreach (var (w, id) in Extra) vocab[Spell(w)] = id;
        var dir = TokenizerJsonTests.WriteTokenizerJson(TestPaths.TempDir(), vocab.ToJsonString(), ["a b", $"{ByteChars[' ']} a"], false,
            [(262, "<|endoftext|>", true)]);
        var path = Path.Combine(dir, "tokenizer.json");
        var root = JsonNode.Parse(File.ReadAllText(path))!;
        root["model"]!["ignore_merges"] = ignoreMerges;
        if (llama3Split)
        {
            // LLaMA-3's layout: Split(cl100k-style regex, Isolated) then ByteLevel without its own regex.
            root["pre_tokenizer"] = new JsonObject
            {
                ["type"] = "Sequence",
                ["pretokenizers"] = new JsonArray(
                    new JsonObject
                    {
                        ["type"] = "Split", ["behavior"] = "Isolated", ["invert"] = false,
                        ["pattern"] = new JsonObject { ["Regex"] = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+" },
                    },
                    new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = false }),
            };
        }
        File.WriteAllText(path, root.ToJsonString());
        return dir;
    }

    public static readonly TheoryData<string, int[], int[]> Cases = new()
    {
        // text, ids with ignore_merges, ids of plain BPE
        { "abc", [258], [256, B('c')] },
        { " abc", [259], [Space(), 256, B('c')] },
        { "abcd", [256, B('c'), B('d')], [256, B('c'), B('d')] },
        { "xyz abc", [260, 259], [B('x'), B('y'), B('z'), Space(), 256, B('c')] },
        { "é", [261], [0xC3, 0xA9] },
        { "aé", [B('a'), 0xC3, 0xA9], [B('a'), 0xC3, 0xA9] },
        { "abc<|endoftext|>xyz", [258, 262, 260], [256, B('c'), 262, B('x'), B('y'), B('z')] },
        { " a", [257], [257] },
    };

    /// <summary>The id of the byte 0x20 (' '): its character is GPT-2's stand-in U+0120, id 32 here.</summary>
    private static int Space() => 32;

    [Theory]
    [MemberData(nameof(Cases))]
    public void A_pre_token_found_whole_in_the_vocabulary_is_one_id(string text, int[] whole, int[] bpe)
    {
        foreach (bool llama3 in new[] { false, true })
        {
            var on = TextTokenizer.Load(Write(ignoreMerges: true, llama3));
            var off = TextTokenizer.Load(Write(ignoreMerges: false, llama3));
            Assert.Equal(whole, on.Encode(text));
            Assert.Equal(bpe, off.Encode(text));
            Assert.Equal(text, on.Decode(on.Encode(text)));
        }
    }
}

using System.Text.Json;
using LearningCurves.Engine;
using LearningCurves.Engine.Tokenization;
using LearningCurves.Tests.Common;
using Xunit;

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

using System.Text.Json.Nodes;
using LearningCurves.Engine.EvalSets;
using LearningCurves.Tests.Common;
using Xunit;
using LearningCurves.Formats.IO;
using LearningCurves.Formats.EvalSets;

namespace LearningCurves.Runner.Tests;

/// <summary>`learning-curves eval-set` as a user runs it.</summary>
public class EvalSetCommandTests
{
    [Fact]
    public void Ids_file_becomes_the_documented_folder()
    {
        string dir = TestPaths.TempDir();
        string ids = Path.Combine(dir, "ids.txt");
        File.WriteAllLines(ids, Enumerable.Range(0, 40).Select(i => string.Join(' ', Enumerable.Range(0, 3 + i % 5).Select(j => 2 + (i + j) % 30))));
        string outDir = Path.Combine(dir, "ev");
        var (code, stdout, stderr) = SweepTestData.Run(["eval-set", "--ids", ids, "--vocab-size", "32", "--begin-id", "0", "--sep-id", "1",
            "--seq-len", "10", "--per-sequence", "4", "--seed", "3", "--sequences", "6", "--out", outDir]);
        Assert.True(code == 0, stderr);
        Assert.Contains("6 sequences of 10 tokens, 24 examples", stdout, StringComparison.Ordinal);
        var s = Npy.ReadHeader(Path.Combine(outDir, "sequences.npy"));
        Assert.Equal(NpyDType.Int32, s.DType);
        Assert.Equal([6L, 10L], s.Shape);
        var t = Npy.ReadHeader(Path.Combine(outDir, "targets.npy"));
        Assert.Equal(NpyDType.Int32, t.DType);
        Assert.Equal([24L, 2L], t.Shape);
        var m = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "manifest.json")))!;
        foreach (var key in new[] { "tokenizer", "vocab_size", "seq_len", "seed", "source_files", "content_hash" })
            Assert.NotNull(m[key]);
        Assert.Equal(EvalSet.Load(outDir).ContentHash, m["content_hash"]!.GetValue<string>());
        Assert.Equal(Path.GetFullPath(ids), m["source_files"]![0]!["path"]!.GetValue<string>());
    }

    [Fact]
    public void Text_files_use_the_gpt2_tokenizer_and_all_targets()
    {
        string dir = TestPaths.TempDir();
        string a = Path.Combine(dir, "a.txt"), b = Path.Combine(dir, "b.txt");
        File.WriteAllLines(a, Enumerable.Range(0, 30).Select(i => $"The quick brown fox number {i} jumps over the lazy dog."));
        File.WriteAllLines(b, Enumerable.Range(0, 30).Select(i => $"Another line, {i * i}, of ordinary English text."));
        string outDir = Path.Combine(dir, "ev");
        var (code, _, stderr) = SweepTestData.Run(["eval-set", "--text", a, b, "--seq-len", "16", "--per-sequence", "all", "--seed", "1", "--out", outDir]);
        Assert.True(code == 0, stderr);
        var set = EvalSet.Load(outDir);
        Assert.Equal(50257, set.VocabSize);
        Assert.Equal(15 * set.SequenceCount, set.Examples);
        Assert.All(Enumerable.Range(0, set.SequenceCount), i => Assert.Equal(50256, set.Sequence(i)[0]));
        Assert.Equal(2, set.Manifest!["source_files"]!.AsArray().Count);
    }

    /// <summary>`eval-set --text --tokenizer` with the Qwen2-shaped tokenizer.json of tests/fixtures/tokenizers/qwen2-json:
    /// the stream packed is the reference encoding of each line with its newline (Qwen2's split, NFC), no begin token,
    /// and the manifest names the tokenizer and its begin-token choice.</summary>
    [Fact]
    public void Text_with_a_qwen2_tokenizer_json_packs_the_reference_ids()
    {
        string tokDir = Path.Combine(TestPaths.RepoRoot, "tests", "fixtures", "tokenizers", "qwen2-json");
        var expected = JsonNode.Parse(File.ReadAllText(Path.Combine(tokDir, "expected.json")))!;
        var stream = expected["eval_stream"]!.AsArray().Select(x => (int)x!).ToArray();
        string dir = TestPaths.TempDir(), text = Path.Combine(dir, "a.txt"), outDir = Path.Combine(dir, "ev");
        File.WriteAllText(text, string.Concat(expected["eval_lines"]!.AsArray().Select(l => (string)l! + "\n")), new System.Text.UTF8Encoding(false));
        const int SeqLen = 16;
        var (code, _, stderr) = SweepTestData.Run(["eval-set", "--text", text, "--tokenizer", tokDir, "--packing", "stream", "--seq-len", SeqLen.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--per-sequence", "all", "--seed", "1", "--out", outDir]);
        Assert.True(code == 0, stderr);
        var set = EvalSet.Load(outDir);
        Assert.Equal((int)expected["vocab_size"]!, set.VocabSize);
        Assert.Equal(Path.Combine(tokDir, "tokenizer.json"), set.Manifest!["tokenizer"]!.GetValue<string>());
        Assert.Equal("none: tokenizer_config.json has no add_bos_token and the tokenizer adds no begin token", set.Manifest["bos"]!.GetValue<string>());
        var chunks = Enumerable.Range(0, stream.Length / SeqLen).Select(i => string.Join(' ', stream.Skip(i * SeqLen).Take(SeqLen))).Order(StringComparer.Ordinal);
        var got = Enumerable.Range(0, set.SequenceCount).Select(i => string.Join(' ', set.Sequence(i).ToArray())).Order(StringComparer.Ordinal);
        Assert.Equal(chunks, got);
    }

    [Fact]
    public void Bad_requests_are_one_line_errors_with_exit_2()
    {
        string dir = TestPaths.TempDir();
        string ids = Path.Combine(dir, "ids.txt");
        File.WriteAllLines(ids, ["1 2 3 4 5 6 7 8 9 10 11 12"]);
        foreach (var args in new[]
        {
            new[] { "eval-set", "--ids", ids, "--seed", "1", "--out", dir + "/x" },                                  // no vocab size
            ["eval-set", "--ids", ids, "--vocab-size", "20", "--out", dir + "/x"],                                     // no seed
        })
        {
            var (code, _, stderr) = SweepTestData.Run(args);
            Assert.True(code == 2, $"{string.Join(' ', args)}: exit {code}");
            Assert.Single(stderr.Trim().Split('\n'));
        }
    }

    [Fact]
    public void Status_of_a_folder_without_runs_is_refused()
    {
        var (code, _, stderr) = SweepTestData.Run(["status", TestPaths.TempDir()]);
        Assert.Equal(2, code);
        Assert.Contains("no sweep runs here", stderr, StringComparison.Ordinal);
    }
}

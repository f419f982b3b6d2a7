using System.Text;
using LearningCurves.Engine.Scoring;
using LearningCurves.Runner;
using LearningCurves.Tests.Common;
using Xunit;
using LearningCurves.Formats.IO;
using LearningCurves.Formats.Tokenization;

namespace LearningCurves.Runner.Tests;

/// <summary>Runs the command line in-process and captures what it prints.</summary>
internal static class Cli
{
    private static readonly object ConsoleLock = new();

    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        lock (ConsoleLock)
        {
            var (oldOut, oldErr) = (Console.Out, Console.Error);
            var (o, e) = (new StringWriter(), new StringWriter());
            Console.SetOut(o);
            Console.SetError(e);
            try
            {
                int code = Program.Main(args);
                return (code, o.ToString(), e.ToString());
            }
            finally
            {
                Console.SetOut(oldOut);
                Console.SetError(oldErr);
            }
        }
    }

    public static string Parity(string name) => Path.Combine(TestPaths.RepoRoot, "tests", "fixtures", "parity", name);

    /// <summary>A private copy of a committed parity model folder, to damage.</summary>
    public static string CopyModel(string name, string dest)
    {
        Directory.CreateDirectory(dest);
        foreach (var f in new[] { "config.json", "model.safetensors" }) File.Copy(Path.Combine(Parity(name), f), Path.Combine(dest, f));
        return dest;
    }
}

[Collection(ConsoleTests.Name)]
public class ScoreCommandTests
{
    public static TheoryData<string> Cases => new(
        "tied-prefix-f32", "inner-untied-noprefix-f16", "inverse-idx-bf16", "legacy-nctx-unscaled-bf16-untied");

    private static void MatchesReference(string csv, string refDir)
    {
        var rows = SurprisalCsv.Read(csv);
        var seqs = TokenIdsFile.Read(Path.Combine(refDir, "ids.txt"));
        var (want, _) = Npy.ReadDoubles(Path.Combine(refDir, "surprisal.npy"));
        Assert.Equal(want.Length, rows.Count);
        int k = 0;
        double maxErr = 0;
        for (int s = 0; s < seqs.Count; s++)
        {
            for (int p = 1; p < seqs[s].Length; p++, k++)
            {
                Assert.Equal((s, p, seqs[s][p]), (rows[k].Sequence, rows[k].Position, rows[k].Token));
                maxErr = Math.Max(maxErr, Math.Abs(rows[k].Surprisal - want[k]));
            }
        }
        Assert.True(maxErr <= 1e-4, $"{refDir}: surprisal max abs error {maxErr:E3} bits > 1e-4");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Score_matches_the_reference(string name)
    {
        var dir = Cli.Parity(name);
        var outDir = TestPaths.TempDir();
        var csv = Path.Combine(outDir, "s.csv");
        var (code, stdout, err) = Cli.Run("score", "--model", dir, "--ids", Path.Combine(dir, "ids.txt"), "--out", csv, "--backend", "cpu", "--batch", "3");
        Assert.True(code == 0, err);
        Assert.Contains("scored", stdout, StringComparison.Ordinal);
        Assert.StartsWith(SurprisalCsv.Header + "\n", File.ReadAllText(csv));
        Assert.Equal(["s.csv"], Directory.GetFiles(outDir).Select(Path.GetFileName));
        MatchesReference(csv, dir);
    }

    [Fact]
    public void Score_matches_the_reference_on_the_hugging_face_tiny_random_gpt2()
    {
        var model = TestPaths.SharedFixture("tiny-random-gpt2");
        var refDir = Cli.Parity("tiny-random-gpt2-reference");
        var csv = Path.Combine(TestPaths.TempDir(), "s.csv");
        var (code, _, err) = Cli.Run("score", "--model", model, "--ids", Path.Combine(refDir, "ids.txt"), "--out", csv, "--backend", "cpu");
        Assert.True(code == 0, err);
        MatchesReference(csv, refDir);
    }

    [Fact]
    public void Text_is_tokenized_and_cut_into_consecutive_sequences()
    {
        var model = TestPaths.SharedFixture("tiny-random-gpt2");
        var dir = TestPaths.TempDir();
        var text = Path.Combine(dir, "in.txt");
        File.WriteAllText(text, "The quick brown fox jumps over the lazy dog. Hello world, this is a test of the scorer.\n");
        var csv = Path.Combine(dir, "s.csv");
        var (code, _, err) = Cli.Run("score", "--model", model, "--text", text, "--seq-len", "8", "--out", csv, "--backend", "cpu");
        Assert.True(code == 0, err);

        var ids = Gpt2Tokenizer.FromFolder(model).Encode(File.ReadAllText(text));
        var rows = SurprisalCsv.Read(csv);
        var expected = new List<(int, int, int)>();
        for (int s = 0; s * 8 < ids.Length; s++)
        {
            for (int p = 1; p < Math.Min(8, ids.Length - s * 8); p++) expected.Add((s, p, ids[s * 8 + p]));
        }
        Assert.Equal(expected, rows.Select(r => (r.Sequence, r.Position, r.Token)));
        Assert.All(rows, r => Assert.True(float.IsFinite(r.Surprisal) && r.Surprisal >= 0));
    }

    /// <summary>A tiny random qwen2 model (model_type "qwen2") with the Qwen2-shaped tokenizer.json and
    /// tokenizer_config.json of tests/fixtures/tokenizers/qwen2-json beside it: `score --text` tokenizes as the reference
    /// (digits one by one, a decomposed é normalized, runs of newlines, a case-insensitive contraction), adds no begin
    /// token and says so. (The qwen2 parity fixtures' vocab_size of 71 is too small for a byte-level vocabulary.)</summary>
    [Fact]
    public void A_qwen2_model_scores_text_with_its_qwen2_tokenizer_json()
    {
        string tokDir = Path.Combine(TestPaths.RepoRoot, "tests", "fixtures", "tokenizers", "qwen2-json");
        var expected = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(tokDir, "expected.json")))!;
        string scoreText = (string)expected["score_text"]!;
        var ids = expected["cases"]!.AsArray().Single(c => (string)c!["text"]! == scoreText)!["ids"]!.AsArray().Select(x => (int)x!).ToArray();
        var dir = TestPaths.TempDir();
        string model = Path.Combine(dir, "qwen2");
        var cfg = new LearningCurves.Engine.Model.ModelConfig
        {
            Architecture = LearningCurves.Engine.Model.Architecture.Qwen2, VocabSize = (int)expected["vocab_size"]! + 4, MaxPositions = 64,
            Embd = 32, Layers = 1, Heads = 4, KvHeads = 2, Inner = 48,
        };
        LearningCurves.Engine.Checkpoints.HfCheckpoint.Save(model, LearningCurves.Engine.Model.ModelWeights.Random(cfg, 3));
        Assert.Contains("\"model_type\": \"qwen2\"", File.ReadAllText(Path.Combine(model, "config.json")), StringComparison.Ordinal);
        foreach (var f in new[] { "tokenizer.json", "tokenizer_config.json" }) File.Copy(Path.Combine(tokDir, f), Path.Combine(model, f));
        var text = Path.Combine(dir, "in.txt");
        File.WriteAllText(text, scoreText, new UTF8Encoding(false));
        var csv = Path.Combine(dir, "s.csv");
        var (code, stdout, err) = Cli.Run("score", "--model", model, "--text", text, "--out", csv, "--backend", "cpu");
        Assert.True(code == 0, err);
        Assert.Contains($"tokenizer byte-level BPE ({Path.Combine(model, "tokenizer.json")}), begin token none: tokenizer_config.json has no add_bos_token and the tokenizer adds no begin token",
            stdout, StringComparison.Ordinal);
        Assert.True(ids.Length < cfg.MaxPositions, "one sequence");
        var rows = SurprisalCsv.Read(csv);
        Assert.Equal(Enumerable.Range(1, ids.Length - 1).Select(p => (0, p, ids[p])), rows.Select(r => (r.Sequence, r.Position, r.Token)));
        Assert.All(rows, r => Assert.True(float.IsFinite(r.Surprisal) && r.Surprisal >= 0));
    }

    [Fact]
    public void The_built_in_tokenizer_must_fit_the_model()
    {
        var model = Cli.Parity("legacy-nctx-unscaled-bf16-untied");   // n_ctx 12, vocab 128: built-in tokenizer won't fit
        var dir = TestPaths.TempDir();
        var text = Path.Combine(dir, "in.txt");
        File.WriteAllText(text, "hello");
        var csv = Path.Combine(dir, "s.csv");
        var (code, _, err) = Cli.Run("score", "--model", model, "--text", text, "--out", csv, "--backend", "cpu");
        Assert.Equal(2, code);
        Assert.Contains("no tokenizer", err, StringComparison.Ordinal);
        Assert.False(File.Exists(csv));
    }

    [Theory]
    [InlineData("--ids")]
    [InlineData("--text")]
    public void Usage_errors_exit_2(string which)
    {
        var dir = Cli.Parity("tied-prefix-f32");
        var outCsv = Path.Combine(TestPaths.TempDir(), "s.csv");
        Assert.Equal(2, Cli.Run("score", "--model", dir, "--out", outCsv).Code);
        Assert.Equal(2, Cli.Run("score", "--model", dir, which, "x", "--ids", "y", "--out", outCsv).Code);
        Assert.Equal(2, Cli.Run("score", "--model", dir, "--ids", "x", "--seq-len", "4", "--out", outCsv).Code);
        Assert.Equal(2, Cli.Run("score", "--model", dir, "--ids", "x", "--out", outCsv, "--frobnicate", "1").Code);
        Assert.False(File.Exists(outCsv));
    }
}

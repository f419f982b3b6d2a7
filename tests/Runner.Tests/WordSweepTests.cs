using LearningCurves.Tests.Common;
using Xunit;

namespace LearningCurves.Runner.Tests;

/// <summary>Word-target sweeps through the runner on the CPU backend: the curve file's values are the word
/// surprisals `score --words` gives for the same checkpoints (the CUDA backend runs the same body in
/// Kernels.Tests.WordSweepGpuTests on the software GPU).</summary>
public class WordSweepTests
{
    [Theory]
    [InlineData(null, "fp32", 1e-4)]
    [InlineData("sp-bpe", "fp32", 1e-4)]
    [InlineData("llama-json-metaspace", "fp32", 1e-4)]
    [InlineData(null, "bf16", 1e-4)]
    [InlineData("sp-bpe", "bf16", 1e-4)]
    public void A_word_target_sweep_gives_the_word_surprisals_of_score_words(string? tokenizer, string precision, double tolerance) =>
        TestContext.Current.SendDiagnosticMessage(WordSweepCheck.Run("cpu", precision, tokenizer, tolerance));
}

/// <summary>Bad input to word scoring and word-target sweeps: exit 2, one line naming the file and the problem.</summary>
public class WordSweepBadInputTests
{
    private static string TokenizerFixture(string name) => Path.Combine(TestPaths.RepoRoot, "tests", "fixtures", "tokenizers", name);

    private static string OneLine(string err)
    {
        var lines = err.TrimEnd('\n').Split('\n').Where(l => !l.StartsWith("backend:", StringComparison.Ordinal)).ToArray();
        Assert.True(lines.Length == 1, $"expected one error line, got: {err}");
        return lines[0];
    }

    [Fact]
    public void A_words_eval_set_swept_with_a_run_whose_tokenizer_has_other_word_boundaries_is_refused_naming_boundary_npy()
    {
        string root = TestPaths.TempDir();
        string text = Path.Combine(root, "in.txt");
        File.WriteAllLines(text, File.ReadLines(TokenizerFixture("corpus.txt")).Where(l => l.Length > 0).Take(30));
        string eval = Path.Combine(root, "eval");
        var (code, _, err) = SweepTestData.Run(["eval-set", "--text", text, "--tokenizer", TokenizerFixture("sp-bpe"), "--seq-len", "16",
            "--per-sequence", "3", "--seed", "1", "--targets", "words", "--out", eval]);
        Assert.True(code == 0, err);

        // The same vocabulary size, but a "▁" piece and a word-inner piece trade ids: another tokenizer.
        var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(TokenizerFixture("llama-json"), "tokenizer.json")))!;
        var vocab = json["model"]!["vocab"]!.AsObject();
        string a = vocab.First(kv => kv.Key.StartsWith('\u2581') && kv.Key.Length > 2).Key;
        string b = vocab.First(kv => !kv.Key.StartsWith('\u2581') && !kv.Key.StartsWith('<') && kv.Key.Length > 2).Key;
        int ia = vocab[a]!.GetValue<int>(), ib = vocab[b]!.GetValue<int>();
        vocab[a] = ib;
        vocab[b] = ia;
        string run = Path.Combine(root, "run");
        string cp = Path.Combine(run, "checkpoint-1");
        var cfg = new LearningCurves.Engine.Model.ModelConfig { VocabSize = 640, MaxPositions = 16, Embd = 8, Layers = 1, Heads = 2 };
        LearningCurves.Engine.Checkpoints.HfCheckpoint.Save(cp, LearningCurves.Engine.Model.ModelWeights.Random(cfg, 1));
        File.WriteAllText(Path.Combine(run, "tokenizer.json"), json.ToJsonString());
        (code, _, err) = SweepTestData.Run(["sweep", "--run", $"r={run}", "--eval", eval, "--out", Path.Combine(root, "out"), "--backend", "cpu"]);
        Assert.True(code == 2, $"exit {code}: {err}");
        string line = OneLine(err);
        Assert.StartsWith($"learning-curves sweep: {Path.Combine(eval, "boundary.npy")}: run 'r': its tokenizer", line, StringComparison.Ordinal);
        Assert.Contains("made with another tokenizer", line, StringComparison.Ordinal);

        // The tokenizer the eval set was made with (in its tokenizer.json form) is accepted.
        File.Copy(Path.Combine(TokenizerFixture("llama-json"), "tokenizer.json"), Path.Combine(run, "tokenizer.json"), overwrite: true);
        (code, _, err) = SweepTestData.Run(["sweep", "--run", $"r={run}", "--eval", eval, "--out", Path.Combine(root, "out"), "--backend", "cpu"]);
        Assert.True(code == 0, err);
    }

    [Fact]
    public void Score_words_with_a_tokenizer_that_folds_spaces_is_one_line_naming_the_text()
    {
        string root = TestPaths.TempDir();
        string model = Path.Combine(root, "model");
        var cfg = new LearningCurves.Engine.Model.ModelConfig { VocabSize = 320, MaxPositions = 16, Embd = 8, Layers = 1, Heads = 2 };
        LearningCurves.Engine.Checkpoints.HfCheckpoint.Save(model, LearningCurves.Engine.Model.ModelWeights.Random(cfg, 1));
        File.Copy(Path.Combine(TokenizerFixture("sp-unigram"), "tokenizer.model"), Path.Combine(model, "tokenizer.model"));
        string text = Path.Combine(root, "in.txt");
        File.WriteAllText(text, "the cat  sat on the mat");
        string outCsv = Path.Combine(root, "w.csv");
        var (code, _, err) = SweepTestData.Run(["score", "--model", model, "--text", text, "--words", "--out", outCsv, "--backend", "cpu"]);
        Assert.True(code == 2, $"exit {code}: {err}");
        Assert.StartsWith($"learning-curves score: {text}: token ", OneLine(err), StringComparison.Ordinal);
        Assert.Contains("does not round-trip", err, StringComparison.Ordinal);
        Assert.False(File.Exists(outCsv));
    }
}

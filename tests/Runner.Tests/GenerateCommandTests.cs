using System.Text.Json;
using LearningCurves.Engine.Checkpoints;
using LearningCurves.Engine.Model;
using LearningCurves.Tests.Common;
using Xunit;

namespace LearningCurves.Runner.Tests;

[Collection(ConsoleTests.Name)]
public class GenerateCommandTests
{
    internal static string TinyModel(string dir, int seed = 11, int vocab = 300, int positions = 128)
    {
        var cfg = new ModelConfig { VocabSize = vocab, MaxPositions = positions, Embd = 16, Layers = 2, Heads = 2 };
        Directory.CreateDirectory(dir);
        HfCheckpoint.Save(dir, ModelWeights.Random(cfg, seed));
        return dir;
    }

    [Fact]
    public void Writes_one_json_line_per_prompt_reproducibly()
    {
        var dir = TestPaths.TempDir();
        var model = TinyModel(Path.Combine(dir, "model"));
        var prompts = Path.Combine(dir, "prompts.ids");
        File.WriteAllText(prompts, "1 2 3\n\n" + string.Join(' ', Enumerable.Range(0, 80)) + "\n7\n");
        string out1 = Path.Combine(dir, "a.jsonl"), out2 = Path.Combine(dir, "b.jsonl");
        string[] common = ["--model", model, "--prompts", prompts, "--prompts-format", "ids", "--max-tokens", "9", "--seed", "5", "--backend", "cpu"];
        var r1 = Cli.Run(["generate", .. common, "--out", out1]);
        Assert.True(r1.Code == 0, r1.Err);
        var r2 = Cli.Run(["generate", .. common, "--out", out2]);
        Assert.Equal(0, r2.Code);
        Assert.Equal(File.ReadAllText(out1), File.ReadAllText(out2));
        Assert.Contains("keep their last 64", r1.Err, StringComparison.Ordinal);

        var lines = File.ReadAllLines(out1);
        Assert.Equal(3, lines.Length);
        foreach (var line in lines)
        {
            using var doc = JsonDocument.Parse(line);
            var root = doc.RootElement;
            Assert.Equal(9, root.GetProperty("ids").GetArrayLength());
            Assert.True(root.GetProperty("prompt_ids").GetArrayLength() <= 64);
            Assert.Equal(4, root.GetProperty("repeated_share").GetArrayLength());
            Assert.Equal(4, root.GetProperty("distinct_n").GetArrayLength());
            Assert.True(root.GetProperty("longest_repeated_span").GetDouble() >= 0);
        }
        // Greedy decoding ignores the seed; a different seed with sampling changes the text.
        var g1 = Cli.Run(["generate", .. common[..^4], "--temperature", "0", "--seed", "1"]);
        var g2 = Cli.Run(["generate", .. common[..^4], "--temperature", "0", "--seed", "2"]);
        Assert.Equal(g1.Out, g2.Out);
        var s2 = Cli.Run(["generate", .. common[..^4], "--temperature", "1", "--seed", "6"]);
        Assert.NotEqual(File.ReadAllText(out1), s2.Out);
    }

    [Fact]
    public void Bad_input_exits_2_with_one_line()
    {
        var dir = TestPaths.TempDir();
        var model = TinyModel(Path.Combine(dir, "model"));
        var prompts = Path.Combine(dir, "p.ids");
        File.WriteAllText(prompts, "1 2 300\n");
        var r = Cli.Run("generate", "--model", model, "--prompts", prompts, "--prompts-format", "ids", "--backend", "cpu");
        Assert.Equal(2, r.Code);
        Assert.Contains("300", r.Err, StringComparison.Ordinal);
        Assert.Single(r.Err.Trim().Split('\n'));
        Assert.Equal(2, Cli.Run("generate", "--model", model, "--prompts", prompts, "--temperature", "-1").Code);
        Assert.Equal(2, Cli.Run("generate", "--model", model, "--prompts", Path.Combine(dir, "missing.txt")).Code);
        Assert.Equal(2, Cli.Run("generate", "--model", model, "--prompts", prompts, "--tempreature", "1").Code);
    }
}

/// <summary>Tests that swap Console.Out/Error run alone, so no other test's output lands in their captured text.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ConsoleTests
{
    public const string Name = "generate/analyze console";
}

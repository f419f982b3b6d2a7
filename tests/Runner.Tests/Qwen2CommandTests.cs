using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using LearningCurves.Engine.Backends;
using LearningCurves.Engine.Checkpoints;
using LearningCurves.Engine.Model;
using LearningCurves.Formats.IO;
using LearningCurves.Tests.Common;
using Xunit;

namespace LearningCurves.Runner.Tests;

/// <summary>Qwen2 checkpoints (the parity fixtures of tests/reference/llama_reference.py) through the command line:
/// <c>score</c> writes the float64 reference's surprisal, greedy <c>generate</c> follows the arg max of a full rescore,
/// and a config that turns sliding-window attention on is one line naming the field.</summary>
[Collection(ConsoleTests.Name)]
public class Qwen2CommandTests
{
    private static string Fixture(string name) => Path.Combine(TestPaths.RepoRoot, "tests", "fixtures", "parity-llama", name);

    [Theory]
    [InlineData("qwen2-gqa-untied-f32")]
    [InlineData("qwen2-tied-mqa-bf16")]
    public void Score_writes_the_reference_surprisal(string name)
    {
        var dir = Fixture(name);
        var csv = Path.Combine(TestPaths.TempDir(), "s.csv");
        var (code, _, err) = Cli.Run("score", "--model", dir, "--ids", Path.Combine(dir, "ids.txt"), "--out", csv, "--backend", "cpu");
        Assert.True(code == 0, err);
        var (want, _) = Npy.ReadDoubles(Path.Combine(dir, "surprisal.npy"));
        var rows = File.ReadAllLines(csv).Skip(1).ToArray();
        Assert.Equal(want.Length, rows.Length);
        for (int i = 0; i < rows.Length; i++)
        {
            double got = double.Parse(rows[i].Split(',')[3], CultureInfo.InvariantCulture);
            Assert.True(Math.Abs(got - want[i]) <= 1e-4, $"row {i} ({rows[i]}): {got} against the reference {want[i]}");
        }
    }

    [Fact]
    public void Greedy_generation_follows_the_arg_max_of_a_full_rescore()
    {
        var dir = Fixture("qwen2-gqa-untied-f32");
        var tmp = TestPaths.TempDir();
        var prompts = Path.Combine(tmp, "prompts.ids");
        File.WriteAllText(prompts, "3 14 15 9\n2\n");
        var (code, o, err) = Cli.Run("generate", "--model", dir, "--prompts", prompts, "--prompts-format", "ids", "--temperature", "0", "--max-tokens", "8", "--backend", "cpu");
        Assert.True(code == 0, err);
        var lines = o.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        var w = HfCheckpoint.Load(dir);
        using var be = new CpuBackend(Precision.Fp32);
        using var model = new DecoderModel(be, w);
        int v = w.Config.VocabSize;
        foreach (var line in lines)
        {
            using var doc = JsonDocument.Parse(line);
            var prompt = doc.RootElement.GetProperty("prompt_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            var ids = doc.RootElement.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            Assert.Equal(8, ids.Length);
            int[] seq = [.. prompt, .. ids];
            var positions = Enumerable.Range(prompt.Length - 1, ids.Length).ToArray();
            var logits = model.Logits([seq], [positions]);
            for (int k = 0; k < ids.Length; k++)
            {
                var row = logits.AsSpan(k * v, v);
                int best = 0;
                for (int j = 1; j < v; j++) if (row[j] > row[best]) best = j;
                Assert.True(best == ids[k], $"prompt [{string.Join(' ', prompt)}], token {k}: generated {ids[k]}, arg max {best}");
            }
        }
    }

    [Theory]
    [InlineData("""{"use_sliding_window": true, "sliding_window": 8, "max_window_layers": 1}""",
        "\"use_sliding_window\" is true (sliding_window 8 on layers 1..1, from max_window_layers 1); only full attention is supported (sliding-window attention is not)")]
    [InlineData("""{"layer_types": ["full_attention", "sliding_attention"]}""",
        "\"layer_types\" gives layer 1 \"sliding_attention\"; only \"full_attention\" is supported (sliding-window attention is not)")]
    public void Sliding_window_attention_is_one_line_exit_2(string change, string message)
    {
        var dir = Path.Combine(TestPaths.TempDir(), "m");
        Directory.CreateDirectory(dir);
        var src = Fixture("qwen2-gqa-untied-f32");
        File.Copy(Path.Combine(src, "model.safetensors"), Path.Combine(dir, "model.safetensors"));
        var cfg = JsonNode.Parse(File.ReadAllText(Path.Combine(src, "config.json")))!.AsObject();
        foreach (var (k, val) in JsonNode.Parse(change)!.AsObject()) cfg[k] = val?.DeepClone();
        File.WriteAllText(Path.Combine(dir, "config.json"), cfg.ToJsonString());
        var (code, _, err) = Cli.Run("score", "--model", dir, "--ids", Path.Combine(src, "ids.txt"), "--out", Path.Combine(dir, "s.csv"), "--backend", "cpu");
        Assert.Equal(2, code);
        Assert.Equal($"learning-curves score: {Path.Combine(dir, "config.json")}: {message}", err.Trim());
    }
}

using System.Text.Json.Nodes;
using LearningCurves.Engine.Backends;
using LearningCurves.Engine.Checkpoints;
using LearningCurves.Engine.EvalSets;
using LearningCurves.Engine.Model;
using LearningCurves.Formats.EvalSets;
using LearningCurves.Tests.Common;
using Architecture = LearningCurves.Engine.Model.Architecture;
using Xunit;
using static LearningCurves.Kernels.Tests.GpuTestSupport;

namespace LearningCurves.Kernels.Tests;

/// <summary>
/// The generation stage of `analyze` and `generate-along` checks, once the backend is made and before any file is
/// written, that each model it will generate with fits the card (its weights and the longest prompt plus --max-tokens,
/// <c>BatchSizing.CheckFits</c>): on a software GPU too small for them, exit 2 with one line naming the checkpoint
/// folder and what would fit, no generations.jsonl and no analysis output; on the CPU (no check: it always fits) the
/// same sweep generates.
/// </summary>
[Trait("Category", "Gpu")]
[Collection("GPU")]
public class GenerationFitTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Generation_on_a_card_too_small_is_refused_in_one_line_before_any_file_and_the_cpu_generates()
    {
        using (var be = Open(Precision.Fp32))
            Assert.SkipUnless(IsSoftwareGpu(be), "the card's memory is set only on the software GPU (LC_SOFTGPU_MEMORY_MIB)");
        string root = TestPaths.TempDir(), run = Path.Combine(root, "checkpoints"), sweep = Path.Combine(root, "sweep"), eval = Path.Combine(root, "eval");
        var cfg = new ModelConfig { Architecture = Architecture.Llama, VocabSize = 50, MaxPositions = 64, Embd = 32, Layers = 1, Heads = 4, Inner = 64, TieWordEmbeddings = false };
        string step10 = Path.Combine(run, "step10");
        HfCheckpoint.Save(step10, ModelWeights.Random(cfg, 1, untiedHead: true));
        HfCheckpoint.Save(Path.Combine(run, "step100"), ModelWeights.Random(cfg, 2, untiedHead: true));
        var rng = new Random(3);
        var tokens = Enumerable.Range(0, 4 * 16).Select(_ => rng.Next(50)).ToArray();
        new EvalSet(tokens, 4, 16, EvalSetBuilder.DrawTargets(4, 16, 2, 5), 50).Save(eval, new JsonObject());
        string trainIds = Path.Combine(root, "train.ids");
        File.WriteAllLines(trainIds, Enumerable.Range(0, 20).Select(_ => string.Join(' ', Enumerable.Range(0, 16).Select(_ => rng.Next(50)))));
        var (exit, stdout, err) = await RunCliOnCard(1024, "sweep", "--run", $"r={run}", "--eval", eval, "--out", sweep, "--backend", "cpu");
        Assert.True(exit == 0, $"sweep: exit {exit}\n{stdout}\n{err}");
        string generations = Path.Combine(sweep, "r", "generations.jsonl"), analyzed = Path.Combine(root, "analysis");
        string[] gen = ["--max-tokens", "8", "--gen-prompts", "2"];

        // A card of 800 MiB: with the reserve held back, not even one sequence of this model fits in any precision.
        string[][] commands =
        [
            ["generate-along", "--sweep", sweep, .. gen, "--backend", "cuda"],
            ["analyze", "--sweep", sweep, "--train-ids", trainIds, "--out", analyzed, .. gen, "--backend", "cuda"],
        ];
        foreach (var args in commands)
        {
            (exit, stdout, err) = await RunCliOnCard(800, args);
            output.WriteLine(err);
            Assert.True(exit == 2, $"{args[0]}: exit {exit}\n{stdout}\n{err}");
            // The backend says what it opened; then the one line of the refusal, the last.
            var lines = err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            var line = Assert.Single(lines, l => l.StartsWith($"learning-curves {args[0]}:", StringComparison.Ordinal));
            Assert.Equal(lines[^1], line);
            Assert.StartsWith($"learning-curves {args[0]}: {step10}: does not fit the GPU: the weights need ", line, StringComparison.Ordinal);
            Assert.Contains("no precision fits this card", line, StringComparison.Ordinal);
            Assert.False(File.Exists(generations), $"{args[0]}: {generations} was written before the refusal");
            Assert.False(Directory.Exists(analyzed), $"{args[0]}: {analyzed} was written before the refusal");
        }

        // The CPU does not check: the same sweep generates.
        (exit, stdout, err) = await RunCliOnCard(800, ["generate-along", "--sweep", sweep, .. gen, "--backend", "cpu"]);
        Assert.True(exit == 0, $"generate-along --backend cpu: exit {exit}\n{stdout}\n{err}");
        Assert.Equal(2 * 2, File.ReadAllLines(generations).Length);
    }
}

using LearningCurves.Engine.Backends;
using LearningCurves.Engine.Model;
using Xunit;
using static LearningCurves.Kernels.Tests.GpuTestSupport;

namespace LearningCurves.Kernels.Tests;

/// <summary>
/// <see cref="DecoderModel"/>'s CUDA graphs: a (B, T, M) shape's forward pass captured once and replayed gives
/// bit-identical surprisals to the ops run directly (<see cref="DecoderModel.UseGraphs"/> false), for several shapes
/// in turn and across two checkpoints loaded into the same model (as a sweep does).
/// </summary>
[Trait("Category", "Gpu")]
[Collection("GPU")]
public class ModelGraphTests
{
    public static TheoryData<Precision, bool, int> Cases() => new()
    {
        { Precision.Fp32, false, 3 },
        { Precision.Bf16, false, 4 },
        { Precision.Fp32, true, 5 },  // GPT-NeoX: rotary tables per shape, parallel residual, untied head
        { Precision.Bf16, true, Random.Shared.Next() },
    };

    private static (int[][] Seqs, int[][] Pos) Batch(Random rng, ModelConfig cfg, int b, int t, int k) =>
        (Enumerable.Range(0, b).Select(_ => Enumerable.Range(0, t).Select(_ => rng.Next(cfg.VocabSize)).ToArray()).ToArray(),
         Enumerable.Range(0, b).Select(_ => Enumerable.Range(1, t - 1).OrderBy(_ => rng.Next()).Take(k).Order().ToArray()).ToArray());

    [Theory]
    [MemberData(nameof(Cases))]
    public void Replays_are_bit_identical_to_direct_runs_across_shapes_and_checkpoints(Precision p, bool neox, int seed)
    {
        using var be = Open(p);
        var cfg = neox
            ? new ModelConfig { Architecture = Architecture.GptNeoX, VocabSize = 301, MaxPositions = 40, Embd = 48, Layers = 2, Heads = 3, RotaryPct = 0.5, ParallelResidual = true, Gelu = GeluKind.Erf, TieWordEmbeddings = false }
            : new ModelConfig { VocabSize = 300, MaxPositions = 40, Embd = 40, Layers = 2, Heads = 5 };
        var first = ModelWeights.Random(cfg, seed, untiedHead: neox);
        var second = ModelWeights.Random(cfg, seed + 1, untiedHead: neox);
        var rng = new Random(seed);
        // Shapes with remainders, a repeated one (replayed), and the first again after bigger ones grew the scratch.
        var shapes = new (int B, int T, int K)[] { (3, 17, 5), (3, 17, 5), (2, 33, 32), (5, 9, 1), (3, 17, 5), (2, 33, 32) };
        var batches = shapes.Select(s => Batch(rng, cfg, s.B, s.T, s.K)).ToArray();

        using var graphed = new DecoderModel(be, first) { UseGraphs = true };
        long replaysBefore = be.GraphReplays;
        foreach (var (weights, name) in new[] { (first, "first"), (second, "second") })
        {
            if (weights != first) graphed.Load(weights);
            using var direct = new DecoderModel(be, weights) { UseGraphs = false };
            for (int i = 0; i < shapes.Length; i++)
            {
                var (seqs, pos) = batches[i];
                var want = direct.Score(seqs, pos);
                var got = graphed.Score(seqs, pos);
                int bad = Enumerable.Range(0, want.Length).FirstOrDefault(j => BitConverter.SingleToInt32Bits(want[j]) != BitConverter.SingleToInt32Bits(got[j]), -1);
                Assert.True(bad < 0, bad < 0 ? "" : $"{p} {(neox ? "gpt_neox" : "gpt2")} seed {seed}, {name} checkpoint, shape {shapes[i]}: surprisal {bad} is {got[bad]:R} replayed, {want[bad]:R} direct");
            }
        }
        Assert.True(graphed.GraphCount >= 1);
        Assert.True(graphed.GraphNodes > 1, $"a forward pass captured {graphed.GraphNodes} ops");
        // Every shape was scored twice with the second checkpoint at least: those calls replay.
        Assert.True(be.GraphReplays - replaysBefore >= shapes.Length, $"{be.GraphReplays - replaysBefore} replays");
    }

    [Fact]
    public void Weights_of_another_config_are_refused_by_load()
    {
        using var be = Open(Precision.Fp32);
        var cfg = new ModelConfig { VocabSize = 100, MaxPositions = 16, Embd = 16, Layers = 1, Heads = 2 };
        using var model = new DecoderModel(be, ModelWeights.Random(cfg, 1));
        Assert.False(model.Fits(ModelWeights.Random(cfg with { Layers = 2 }, 1)));
        Assert.False(model.Fits(ModelWeights.Random(cfg, 1, untiedHead: true)));
        Assert.False(model.Fits(ModelWeights.Random(cfg with { LayerNormEpsilon = 1e-6f }, 1)));
        Assert.True(model.Fits(ModelWeights.Random(cfg, 2)));
        Assert.Throws<ArgumentException>(() => model.Load(ModelWeights.Random(cfg with { Embd = 32 }, 1)));
    }

    [Fact]
    public void Without_graphs_nothing_is_captured()
    {
        using var be = Open(Precision.Fp32);
        var cfg = new ModelConfig { VocabSize = 100, MaxPositions = 16, Embd = 16, Layers = 1, Heads = 2 };
        using var model = new DecoderModel(be, ModelWeights.Random(cfg, 1)) { UseGraphs = false };
        var (seqs, pos) = Batch(new Random(1), cfg, 2, 8, 3);
        long replays = be.GraphReplays;
        model.Score(seqs, pos);
        model.Score(seqs, pos);
        Assert.Equal(0, model.GraphCount);
        Assert.Equal(replays, be.GraphReplays);
    }

    [Fact]
    public void A_shape_whose_ops_cannot_be_captured_runs_directly()
    {
        // bf16 attention on heads wider than 128 allocates its fp32 stand-ins per call: the capture is refused.
        using var be = Open(Precision.Bf16);
        var cfg = new ModelConfig { VocabSize = 120, MaxPositions = 16, Embd = 160, Layers = 1, Heads = 1 };
        var w = ModelWeights.Random(cfg, 2);
        using var graphed = new DecoderModel(be, w) { UseGraphs = true };
        using var direct = new DecoderModel(be, w) { UseGraphs = false };
        var (seqs, pos) = Batch(new Random(2), cfg, 2, 9, 4);
        for (int i = 0; i < 2; i++) Assert.Equal(direct.Score(seqs, pos), graphed.Score(seqs, pos));
        Assert.Equal(0, graphed.GraphCount);
    }
}

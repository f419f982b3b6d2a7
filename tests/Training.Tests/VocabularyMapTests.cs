using LearningCurves.Engine.Backends;
using LearningCurves.Engine.Model;
using Xunit;

namespace LearningCurves.Training.Tests;

public sealed class VocabularyMapTests
{
    /// <summary>
    /// The compact model with zero-logit entries must be the full model with zero rows: its loss equals the engine's
    /// (CpuBackend) surprisal of the expanded weights, and its gradients pass the finite-difference check.
    /// </summary>
    [Theory]
    [InlineData(11)]
    [InlineData(12345)]
    public void CompactTrainingIsExactForTheExpandedModel(int seed)
    {
        var rng = new Random(seed);
        int fullVocab = 41;
        var used = Enumerable.Range(0, fullVocab).Where(_ => rng.NextDouble() < 0.5).Append(3).Distinct().ToArray();
        var map = new VocabularyMap(fullVocab, used);
        Assert.Equal(fullVocab - map.Count, map.Unused);
        var cfg = new ModelConfig { VocabSize = map.Count, MaxPositions = 9, Embd = 12, Layers = 1, Heads = 2 };
        var model = TrainableGpt2.Initialize(cfg, seed, map.Unused);
        for (int i = 0; i < model.Parameters.Length; i++) model.Parameters[i] += (float)(0.2 * (rng.NextDouble() - 0.5));

        int b = 2, t = 8;
        var seqFull = Enumerable.Range(0, b * (t + 1)).Select(_ => used[rng.Next(used.Length)]).ToArray();
        var inputs = new int[b * t];
        var targets = new int[b * t];
        for (int s = 0; s < b; s++)
        {
            Array.Copy(seqFull, s * (t + 1), inputs, s * t, t);
            Array.Copy(seqFull, s * (t + 1) + 1, targets, s * t, t);
        }
        var ci = (int[])inputs.Clone();
        var ct = (int[])targets.Clone();
        map.Compact(ci);
        map.Compact(ct);
        double loss = model.Loss(ci, ct, b, t);

        var full = map.Expand(model.ToWeights());
        Assert.Equal(fullVocab, full.Config.VocabSize);
        using var backend = new CpuBackend();
        using var engine = new DecoderModel(backend, full);
        var seqs = Enumerable.Range(0, b).Select(s => seqFull.AsSpan(s * (t + 1), t + 1).ToArray()).ToArray();
        var bits = engine.ScoreAll(seqs).SelectMany(x => x).ToArray();
        double engineLoss = bits.Average() * Math.Log(2);
        Assert.True(Math.Abs(loss - engineLoss) < 1e-5 * loss, $"trainer loss {loss:R} nats, engine {engineLoss:R} nats");

        // With the zero-logit entries removed the loss must differ (the constant term matters).
        var plain = new TrainableGpt2(cfg, (float[])model.Parameters.Clone());
        Assert.True(plain.Loss(ci, ct, b, t) < loss - 1e-3);
    }

    [Fact]
    public void ZeroLogitGradientsMatchFiniteDifferences()
    {
        var cfg = new ModelConfig { VocabSize = 9, MaxPositions = 5, Embd = 8, Layers = 1, Heads = 2 };
        var model = TrainableGpt2.Initialize(cfg, 5, zeroLogits: 30);
        var rng = new Random(5);
        for (int i = 0; i < model.Parameters.Length; i++) model.Parameters[i] += (float)(0.3 * (rng.NextDouble() - 0.5));
        var x = new[] { 1, 4, 2, 8, 0 };
        var y = new[] { 4, 2, 8, 0, 7 };
        model.ForwardBackward(x, y, 1, 5);
        var g = (float[])model.Gradients.Clone();
        var p0 = (float[])model.Parameters.Clone();
        // The head/embedding gradient is where the constant term enters; check a handful of its elements one by one.
        var wte = model.Layout.Wte;
        for (int k = 0; k < 6; k++)
        {
            int i = (int)wte.Offset + rng.Next((int)wte.Length);
            const float eps = 1e-2f;
            model.Parameters[i] = p0[i] + eps;
            double up = model.Loss(x, y, 1, 5);
            model.Parameters[i] = p0[i] - eps;
            double down = model.Loss(x, y, 1, 5);
            model.Parameters[i] = p0[i];
            double numeric = (up - down) / (2 * eps);
            Assert.True(Math.Abs(numeric - g[i]) < 3e-4 + 2e-2 * Math.Abs(g[i]), $"wte element {i - wte.Offset}: analytic {g[i]:G6} numeric {numeric:G6}");
        }
    }

    [Fact]
    public void CompactRefusesUnknownIds()
    {
        var map = new VocabularyMap(10, new[] { 2, 5, 7 });
        Assert.Equal(new[] { 2, 5, 7 }, map.ToFull);
        var ok = new[] { 7, 2, 5 };
        map.Compact(ok);
        Assert.Equal(new[] { 2, 0, 1 }, ok);
        Assert.Throws<ArgumentException>(() => map.Compact(new[] { 3 }));
    }
}

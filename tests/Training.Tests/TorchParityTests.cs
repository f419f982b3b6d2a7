using System.Text.Json;
using LearningCurves.Engine.Model;
using LearningCurves.Tests.Common;
using Xunit;
using LearningCurves.Formats.IO;

namespace LearningCurves.Training.Tests;

/// <summary>Loss, gradients and AdamW updates for a few steps against tests/reference/train_reference.py (torch, float64).</summary>
public sealed class TorchParityTests
{
    private static string Fixture => Path.Combine(TestPaths.RepoRoot, "tests", "fixtures", "training", "torch-parity");

    private static string F(string name) => Path.Combine(Fixture, name);

    [Fact]
    public void LossGradientsAndUpdatesMatchTorch()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(F("config.json")));
        var root = doc.RootElement;
        var cfg = new ModelConfig
        {
            VocabSize = root.GetProperty("vocab_size").GetInt32(),
            MaxPositions = root.GetProperty("n_positions").GetInt32(),
            Embd = root.GetProperty("n_embd").GetInt32(),
            Layers = root.GetProperty("n_layer").GetInt32(),
            Heads = root.GetProperty("n_head").GetInt32(),
            Inner = root.GetProperty("n_inner").GetInt32(),
            LayerNormEpsilon = root.GetProperty("layer_norm_epsilon").GetSingle(),
        };
        var opt = root.GetProperty("optimizer");
        var settings = new OptimizerSettings
        {
            LearningRate = opt.GetProperty("lr").GetSingle(),
            FinalLearningRateFraction = opt.GetProperty("final_lr_fraction").GetSingle(),
            WarmupSteps = opt.GetProperty("warmup").GetInt32(),
            Beta1 = opt.GetProperty("beta1").GetSingle(),
            Beta2 = opt.GetProperty("beta2").GetSingle(),
            Epsilon = opt.GetProperty("eps").GetSingle(),
            WeightDecay = opt.GetProperty("weight_decay").GetSingle(),
            ClipNorm = opt.GetProperty("clip").GetSingle(),
        };
        int b = root.GetProperty("batch").GetInt32(), t = root.GetProperty("seq_len").GetInt32();
        int steps = root.GetProperty("steps").GetInt32();

        // The reference lists its tensors by name; map each onto our layout so the test does not assume an order.
        var layout = new ParameterLayout(cfg);
        var byName = layout.Tensors.ToDictionary(x => x.Name);
        var refTensors = root.GetProperty("tensors").EnumerateArray()
            .Select(e => (Name: e.GetProperty("name").GetString()!, Shape: e.GetProperty("shape").EnumerateArray().Select(d => d.GetInt32()).ToArray()))
            .ToArray();
        Assert.Equal(layout.Tensors.Count, refTensors.Length);
        var map = new long[layout.Count]; // our index -> reference index
        long refOff = 0;
        foreach (var (name, shape) in refTensors)
        {
            Assert.True(byName.TryGetValue(name, out var ours), $"reference tensor {name} unknown to the layout");
            Assert.Equal(shape, ours!.Shape);
            for (long i = 0; i < ours.Length; i++) map[ours.Offset + i] = refOff + i;
            refOff += ours.Length;
        }
        Assert.Equal(layout.Count, refOff);

        var (init, _) = Npy.ReadFloats(F("params.npy"));
        var (inputs, _) = Npy.ReadInt32(F("inputs.npy"));
        var (targets, _) = Npy.ReadInt32(F("targets.npy"));
        var (losses, _) = Npy.ReadDoubles(F("losses.npy"));
        var (grads, _) = Npy.ReadDoubles(F("grads.npy"));
        var (norms, _) = Npy.ReadDoubles(F("norms.npy"));
        var (final, _) = Npy.ReadDoubles(F("final.npy"));

        var p = new float[layout.Count];
        for (long i = 0; i < p.Length; i++) p[i] = init[map[i]];
        var model = new TrainableGpt2(cfg, p);
        var adam = new AdamW(layout, settings);
        int n = b * t;
        for (int s = 0; s < steps; s++)
        {
            var x = inputs.AsSpan(s * n, n).ToArray();
            var y = targets.AsSpan(s * n, n).ToArray();
            double loss = model.ForwardBackward(x, y, b, t);
            Assert.True(Math.Abs(loss - losses[s]) <= 2e-6 * Math.Abs(losses[s]),
                $"step {s + 1}: loss {loss:R} vs torch {losses[s]:R}");

            // Per tensor: max |ours - torch| relative to the tensor's largest torch gradient.
            foreach (var tensor in layout.Tensors)
            {
                double maxRef = 0, maxDiff = 0;
                long worst = -1;
                for (long i = tensor.Offset; i < tensor.Offset + tensor.Length; i++)
                {
                    double r = grads[s * layout.Count + map[i]];
                    double d = Math.Abs(model.Gradients[i] - r);
                    maxRef = Math.Max(maxRef, Math.Abs(r));
                    if (d > maxDiff) { maxDiff = d; worst = i; }
                }
                Assert.True(maxDiff <= 1e-4 * maxRef + 1e-9,
                    $"step {s + 1} {tensor.Name}: max diff {maxDiff:G4} (max |grad| {maxRef:G4}) at element {worst - tensor.Offset}: " +
                    $"ours {model.Gradients[worst]:G8} torch {grads[s * layout.Count + map[worst]]:G8}");
            }
            double norm = adam.Step(model.Parameters, model.Gradients, settings.LearningRateAt(s + 1, steps));
            Assert.True(Math.Abs(norm - norms[s]) <= 1e-5 * norms[s], $"step {s + 1}: grad norm {norm:R} vs torch {norms[s]:R}");
        }

        // Adam divides by sqrt(v), so a gradient that is mathematically zero (the key bias: softmax ignores a shift
        // shared by all keys; position rows past T) turns rounding noise into steps of size lr, in torch and here alike. Those elements are
        // left out; every other parameter must agree to a small fraction of the learning rate.
        double worstParam = 0;
        long worstAt = 0;
        int skipped = 0;
        for (long i = 0; i < p.Length; i++)
        {
            double maxGrad = 0;
            for (int s = 0; s < steps; s++) maxGrad = Math.Max(maxGrad, Math.Abs(grads[s * layout.Count + map[i]]));
            if (maxGrad < 1e-12) { skipped++; continue; }
            double d = Math.Abs(model.Parameters[i] - final[map[i]]);
            if (d > worstParam) { worstParam = d; worstAt = i; }
        }
        // Only the key biases (C per layer) and the position rows past T (weight decay only) may be skipped.
        Assert.InRange(skipped, 0, (cfg.Layers + cfg.MaxPositions - t) * cfg.Embd);
        var wt = layout.Tensors.Last(x => x.Offset <= worstAt);
        Assert.True(worstParam <= 0.01 * settings.LearningRate,
            $"final parameters: max diff {worstParam:G4} in {wt.Name}[{worstAt - wt.Offset}]: ours {model.Parameters[worstAt]:G8} torch {final[map[worstAt]]:G8}");
    }
}

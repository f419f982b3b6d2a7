using LearningCurves.Engine.Model;
using Xunit;

namespace LearningCurves.Training.Tests;

/// <summary>
/// Finite-difference check of every parameter tensor's gradient. The forward pass is float32, so instead of single
/// elements (whose loss changes drown in rounding) each tensor is moved along a random unit direction d: the central
/// difference (L(p + eps d) - L(p - eps d)) / 2 eps must match grad . d.
/// </summary>
public sealed class GradientCheckTests
{
    public static TheoryData<int> Seeds() => new() { 7, 1001, Random.Shared.Next(1, 1_000_000) };

    [Theory]
    [MemberData(nameof(Seeds))]
    public void DirectionalDerivativesMatchFiniteDifferences(int seed)
    {
        // Odd sizes so vector loops hit their scalar tails: C = 12 (3 heads of 4), inner 20, vocab 37, T = 7 < P = 9.
        var cfg = new ModelConfig { VocabSize = 37, MaxPositions = 9, Embd = 12, Layers = 2, Heads = 3, Inner = 20 };
        var rng = new Random(seed);
        var model = TrainableGpt2.Initialize(cfg, seed);
        // Larger weights than GPT-2's 0.02 init so attention and MLP paths carry visible gradient.
        for (int i = 0; i < model.Parameters.Length; i++) model.Parameters[i] += (float)(0.15 * (rng.NextDouble() - 0.5));
        int b = 2, t = 7;
        var x = Enumerable.Range(0, b * t).Select(_ => rng.Next(cfg.VocabSize)).ToArray();
        var y = Enumerable.Range(0, b * t).Select(_ => rng.Next(cfg.VocabSize)).ToArray();
        model.ForwardBackward(x, y, b, t);
        var grad = (float[])model.Gradients.Clone();
        var p0 = (float[])model.Parameters.Clone();

        var failures = new List<string>();
        foreach (var tensor in model.Layout.Tensors)
        {
            int off = (int)tensor.Offset, len = (int)tensor.Length;
            var d = new double[len];
            double norm = 0;
            for (int i = 0; i < len; i++) { d[i] = rng.NextDouble() * 2 - 1; norm += d[i] * d[i]; }
            norm = Math.Sqrt(norm);
            double analytic = 0;
            for (int i = 0; i < len; i++) { d[i] /= norm; analytic += grad[off + i] * d[i]; }

            const double eps = 1e-2;
            double Shifted(double sign)
            {
                Array.Copy(p0, model.Parameters, p0.Length);
                for (int i = 0; i < len; i++) model.Parameters[off + i] = (float)(p0[off + i] + sign * eps * d[i]);
                return model.Loss(x, y, b, t);
            }
            double numeric = (Shifted(+1) - Shifted(-1)) / (2 * eps);
            double err = Math.Abs(numeric - analytic);
            if (err > 2e-4 + 1e-2 * Math.Abs(analytic))
                failures.Add($"{tensor.Name}: analytic {analytic:G6} numeric {numeric:G6} diff {err:G3}");
        }
        Array.Copy(p0, model.Parameters, p0.Length);
        Assert.True(failures.Count == 0, string.Join("; ", failures));
    }

    [Fact]
    public void GradientIsNotTriviallyZero()
    {
        var cfg = new ModelConfig { VocabSize = 23, MaxPositions = 8, Embd = 8, Layers = 1, Heads = 2 };
        var model = TrainableGpt2.Initialize(cfg, 3);
        var x = new[] { 1, 2, 3, 4, 5, 6 };
        var y = new[] { 2, 3, 4, 5, 6, 7 };
        model.ForwardBackward(x, y, 1, 6);
        foreach (var tensor in model.Layout.Tensors)
        {
            if (tensor.Name == "wpe.weight") continue; // rows past T are legitimately zero; checked by the FD test
            var g = model.Gradients.AsSpan((int)tensor.Offset, (int)tensor.Length);
            Assert.True(System.Numerics.Tensors.TensorPrimitives.Norm(g) > 0, $"{tensor.Name} has an all-zero gradient");
        }
    }
}

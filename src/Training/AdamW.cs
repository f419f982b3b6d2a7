using System.Numerics;

namespace LearningCurves.Training;

/// <summary>Optimizer settings. Defaults are GPT-2-style for a small model.</summary>
public sealed record OptimizerSettings
{
    public float LearningRate { get; init; } = 3e-3f;
    /// <summary>The learning rate at the last step, as a fraction of <see cref="LearningRate"/>.</summary>
    public float FinalLearningRateFraction { get; init; } = 0.1f;
    public int WarmupSteps { get; init; } = 50;
    public float Beta1 { get; init; } = 0.9f;
    public float Beta2 { get; init; } = 0.95f;
    public float Epsilon { get; init; } = 1e-8f;
    public float WeightDecay { get; init; } = 0.1f;
    /// <summary>Global gradient-norm clip; 0 or less turns clipping off.</summary>
    public float ClipNorm { get; init; } = 1.0f;

    /// <summary>
    /// Learning rate of step <paramref name="step"/> (1-based) of <paramref name="totalSteps"/>: linear warmup from
    /// lr/warmup to lr over the first warmup steps, then linear decay to lr * final fraction at the last step.
    /// </summary>
    public float LearningRateAt(int step, int totalSteps)
    {
        if (step < 1 || step > totalSteps) throw new ArgumentOutOfRangeException(nameof(step), $"step {step} outside 1..{totalSteps}");
        int warm = Math.Min(WarmupSteps, totalSteps);
        if (step <= warm) return LearningRate * step / warm;
        int decaySteps = totalSteps - warm;
        double frac = (double)(step - warm) / decaySteps;
        return (float)(LearningRate * (1.0 - (1.0 - FinalLearningRateFraction) * frac));
    }
}

/// <summary>
/// AdamW (decoupled weight decay, bias-corrected moments) over a flat parameter vector, with global gradient-norm
/// clipping first. Weight decay only touches tensors whose <see cref="ParameterTensor.Decay"/> is set.
/// </summary>
public sealed class AdamW
{
    private readonly float[] _m;
    private readonly float[] _v;
    private readonly (int Start, int Length, bool Decay)[] _ranges;

    public AdamW(ParameterLayout layout, OptimizerSettings settings)
    {
        ArgumentNullException.ThrowIfNull(layout);
        ArgumentNullException.ThrowIfNull(settings);
        Settings = settings;
        _m = new float[layout.Count];
        _v = new float[layout.Count];
        _ranges = layout.Tensors.Select(t => ((int)t.Offset, (int)t.Length, t.Decay)).ToArray();
    }

    public OptimizerSettings Settings { get; }

    /// <summary>Number of updates made so far.</summary>
    public int StepCount { get; private set; }

    /// <summary>
    /// Updates <paramref name="param"/> with learning rate <paramref name="lr"/>, reading <paramref name="grad"/> scaled
    /// down to the clip norm when its global norm exceeds it (grad itself is left as is). Returns the norm before
    /// clipping.
    /// </summary>
    public double Step(float[] param, float[] grad, float lr)
    {
        ArgumentNullException.ThrowIfNull(param);
        ArgumentNullException.ThrowIfNull(grad);
        if (param.Length != _m.Length || grad.Length != _m.Length) throw new ArgumentException("parameter count does not match the optimizer");
        double norm = Math.Sqrt(TrainOps.SumSquares(grad));
        if (!double.IsFinite(norm)) throw new InvalidOperationException($"gradient norm is {norm} at step {StepCount + 1}");
        float clip = 1f;
        // Same rule as torch.nn.utils.clip_grad_norm_: scale by max_norm / (norm + 1e-6) when that is below 1.
        if (Settings.ClipNorm > 0 && norm > 0)
        {
            double coef = Settings.ClipNorm / (norm + 1e-6);
            if (coef < 1) clip = (float)coef;
        }
        StepCount++;
        float b1 = Settings.Beta1, b2 = Settings.Beta2, eps = Settings.Epsilon;
        float bc1 = 1f - MathF.Pow(b1, StepCount), bc2 = 1f - MathF.Pow(b2, StepCount);
        foreach (var (start, length, decay) in _ranges)
        {
            float keep = decay ? 1f - lr * Settings.WeightDecay : 1f;
            Update(param.AsSpan(start, length), grad.AsSpan(start, length), _m.AsSpan(start, length), _v.AsSpan(start, length),
                clip, keep, lr, b1, b2, eps, bc1, bc2);
        }
        return norm;
    }

    private static void Update(Span<float> p, Span<float> g, Span<float> m, Span<float> v, float clip, float keep, float lr,
        float b1, float b2, float eps, float bc1, float bc2)
    {
        float stepSize = lr / bc1;
        float rootBc2 = MathF.Sqrt(bc2);
        int i = 0;
        int w = Vector<float>.Count;
        if (Vector.IsHardwareAccelerated)
        {
            var vb1 = new Vector<float>(b1); var vb1c = new Vector<float>(1f - b1);
            var vb2 = new Vector<float>(b2); var vb2c = new Vector<float>(1f - b2);
            var vclip = new Vector<float>(clip); var vkeep = new Vector<float>(keep);
            var vstep = new Vector<float>(stepSize); var vroot = new Vector<float>(rootBc2); var veps = new Vector<float>(eps);
            for (; i <= p.Length - w; i += w)
            {
                var gi = new Vector<float>(g[i..]) * vclip;
                var mi = vb1 * new Vector<float>(m[i..]) + vb1c * gi;
                var vi = vb2 * new Vector<float>(v[i..]) + vb2c * gi * gi;
                var pi = new Vector<float>(p[i..]) * vkeep - vstep * mi / (Vector.SquareRoot(vi) / vroot + veps);
                mi.CopyTo(m[i..]);
                vi.CopyTo(v[i..]);
                pi.CopyTo(p[i..]);
            }
        }
        for (; i < p.Length; i++)
        {
            float gi = g[i] * clip;
            m[i] = b1 * m[i] + (1f - b1) * gi;
            v[i] = b2 * v[i] + (1f - b2) * gi * gi;
            p[i] = p[i] * keep - stepSize * m[i] / (MathF.Sqrt(v[i]) / rootBc2 + eps);
        }
    }
}

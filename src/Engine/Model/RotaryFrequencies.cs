using System.Globalization;

namespace LearningCurves.Engine.Model;

/// <summary>The rotary scalings the engine runs, transformers' "rope_type" names in comments.</summary>
public enum RopeScalingType
{
    /// <summary>"linear" (position interpolation): every inverse frequency divided by factor, i.e. positions / factor.</summary>
    Linear,
    /// <summary>"llama3" (Llama 3.1): by wavelength 2 pi / inv_freq against original_max_position_embeddings (O) /
    /// low_freq_factor and O / high_freq_factor: longer than the first, inv_freq / factor; shorter than the second,
    /// unchanged; between them (both ends included), (1 - s) inv_freq / factor + s inv_freq with
    /// s = (O / wavelength - low_freq_factor) / (high_freq_factor - low_freq_factor).</summary>
    Llama3,
}

/// <summary>
/// A config's rope scaling (transformers 4's <c>rope_scaling</c>, transformers 5's <c>rope_parameters</c>), with
/// transformers' parameter names. As in transformers' modeling_rope_utils, neither type scales the attention (their
/// attention factor is 1): only the inverse frequencies change.
/// </summary>
public sealed record RopeScaling
{
    public required RopeScalingType Type { get; init; }
    public required double Factor { get; init; }          // factor
    public double LowFreqFactor { get; init; }            // llama3 low_freq_factor
    public double HighFreqFactor { get; init; }           // llama3 high_freq_factor
    public int OriginalMaxPositions { get; init; }        // llama3 original_max_position_embeddings

    /// <summary>transformers' rope_type.</summary>
    public string TypeName => Type == RopeScalingType.Llama3 ? "llama3" : "linear";

    /// <summary>What makes the parameters unusable, in words naming the config key; null when they are fine.</summary>
    public string? Problem()
    {
        if (!(Factor > 0 && double.IsFinite(Factor))) return $"factor must be positive (got {Num(Factor)})";
        if (Type != RopeScalingType.Llama3) return null;
        if (!(LowFreqFactor > 0 && double.IsFinite(LowFreqFactor))) return $"low_freq_factor must be positive (got {Num(LowFreqFactor)})";
        if (!(HighFreqFactor > LowFreqFactor && double.IsFinite(HighFreqFactor)))
            return $"high_freq_factor must be greater than low_freq_factor (got high_freq_factor {Num(HighFreqFactor)}, low_freq_factor {Num(LowFreqFactor)})";
        if (OriginalMaxPositions <= 0) return $"original_max_position_embeddings must be positive (got {OriginalMaxPositions})";
        return null;
    }

    /// <summary>The scaled inverse frequency of an unscaled one.</summary>
    public double Scale(double invFreq)
    {
        if (Type == RopeScalingType.Linear) return invFreq / Factor;
        double wavelength = 2 * Math.PI / invFreq;
        if (wavelength > OriginalMaxPositions / LowFreqFactor) return invFreq / Factor;
        if (wavelength < OriginalMaxPositions / HighFreqFactor) return invFreq;
        double s = (OriginalMaxPositions / wavelength - LowFreqFactor) / (HighFreqFactor - LowFreqFactor);
        return (1 - s) * invFreq / Factor + s * invFreq;
    }

    /// <summary>The type and parameters in words, config names, for <c>inspect</c>.</summary>
    public string Describe() => Type == RopeScalingType.Linear
        ? $"linear scaling, factor {Num(Factor)}"
        : $"llama3 scaling, factor {Num(Factor)}, low_freq_factor {Num(LowFreqFactor)}, high_freq_factor {Num(HighFreqFactor)}, original_max_position_embeddings {OriginalMaxPositions}";

    private static string Num(double v) => v.ToString(CultureInfo.InvariantCulture);
}

/// <summary>
/// The rotary embedding's inverse frequencies: inv_freq(i) = theta^(-2i/R) for i &lt; R/2 (R the rotary dimensions),
/// then <see cref="RopeScaling.Scale"/> when the config asks for a scaling. Every backend's angle table
/// (<see cref="Backends.CpuOps.RotaryTable"/>) comes from here. A bare theta converts to the unscaled rotary.
/// </summary>
public readonly record struct RotaryFrequencies(double Theta, RopeScaling? Scaling = null)
{
    public static implicit operator RotaryFrequencies(double theta) => new(theta);

    /// <summary>The inverse frequency of dimension pair <paramref name="i"/> of <paramref name="rotaryDims"/>.</summary>
    public double InvFreq(int i, int rotaryDims)
    {
        double f = Math.Pow(Theta, -2.0 * i / rotaryDims);
        return Scaling is null ? f : Scaling.Scale(f);
    }
}

using LearningCurves.Engine.Backends;
using LearningCurves.Kernels;

namespace LearningCurves.Runner.Cli;

/// <summary>`--backend auto|cpu|cuda` and `--precision fp32|tf32|bf16` as every command that runs a model reads them
/// (the option table entries are <see cref="CliOption.Backend"/> and <see cref="CliOption.Precision"/>).</summary>
public static class BackendChoice
{
    public static readonly string[] Backends = ["auto", "cpu", "cuda"];
    public static readonly string[] Precisions = ["fp32", "tf32", "bf16"];

    /// <summary>The backend name (default <paramref name="fallback"/>) and the precision (default fp32).</summary>
    public static (string Backend, Precision Precision) Read(Args a, string fallback)
    {
        ArgumentNullException.ThrowIfNull(a);
        return (a.GetChoice("backend", fallback, Backends), BackendFactory.ParsePrecision(a.GetChoice("precision", "fp32", Precisions)));
    }
}

using LearningCurves.Engine.Backends;
using LearningCurves.Kernels;

namespace LearningCurves.Runner.Cli;

/// <summary>`--backend auto|cpu|cuda` and `--precision fp32|tf32|bf16` as every command that runs a model reads them
/// (the option table entries are <see cref="CliOption.Backend"/> and <see cref="CliOption.Precision"/>), and as verify
/// (the backend under test, one or all precisions) and slurm-script (names passed on to each task) read them.</summary>
public static class BackendChoice
{
    public static readonly string[] Backends = ["auto", "cpu", "cuda"];
    public static readonly string[] Precisions = ["fp32", "tf32", "bf16"];

    /// <summary>verify's order: the backend it checks, CUDA by default, first.</summary>
    public static readonly string[] BackendsCudaFirst = [.. Backends.Reverse()];

    /// <summary>The option table entries <see cref="Read"/> reads: `--backend` (default <paramref name="fallback"/>) and
    /// `--precision`.</summary>
    public static CliOption[] Options(string fallback) => [CliOption.Backend(fallback), CliOption.Precision];

    /// <summary>The backend name (default <paramref name="fallback"/>) and the precision (default fp32).</summary>
    public static (string Backend, Precision Precision) Read(Args a, string fallback)
    {
        ArgumentNullException.ThrowIfNull(a);
        return (Backend(a, fallback), BackendFactory.ParsePrecision(PrecisionName(a)));
    }

    /// <summary>The backend name, one of <paramref name="listed"/> (default <see cref="Backends"/>, the order its
    /// message lists them in), or <paramref name="fallback"/> when absent.</summary>
    public static string Backend(Args a, string fallback, string[]? listed = null)
    {
        ArgumentNullException.ThrowIfNull(a);
        return a.GetChoice("backend", fallback, listed ?? Backends);
    }

    /// <summary>The precision's name (default fp32), for a command that passes it on rather than runs a model.</summary>
    public static string PrecisionName(Args a)
    {
        ArgumentNullException.ThrowIfNull(a);
        return a.GetChoice("precision", "fp32", Precisions);
    }

    /// <summary>`--precision fp32|tf32|bf16|all` (verify): one precision or, for all, every one (default
    /// <paramref name="fallback"/>).</summary>
    public static Precision[] PrecisionsOrAll(Args a, string fallback)
    {
        ArgumentNullException.ThrowIfNull(a);
        string p = a.GetChoice("precision", fallback, [.. Precisions, "all"]);
        return p == "all" ? [.. Precisions.Select(BackendFactory.ParsePrecision)] : [BackendFactory.ParsePrecision(p)];
    }
}

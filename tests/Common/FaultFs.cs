using System.Diagnostics;
using System.Globalization;

namespace LearningCurves.Tests.Common;

/// <summary>
/// How the faultfs shim (tests/faultfs) misbehaves for a process started with it preloaded: for the files under
/// <see cref="Dir"/>, a byte budget past which writes fail with ENOSPC, slow writes (four pieces, <see cref="SlowMs"/>
/// apart, announced on stderr) to files ending with <see cref="SlowSuffix"/>, and a pause after each rename onto a path
/// containing <see cref="RenameMatch"/> (announced on stderr). The product has no hook of its own for any of this.
/// </summary>
public sealed record FaultFs(string Dir, long? Budget = null, string? SlowSuffix = null, int SlowMs = 0, string? RenameMatch = null)
{
    private static readonly NativeBuild Shim = new("faultfs", System.Environment.GetEnvironmentVariable("CC") ?? "gcc",
        "tests/faultfs/build.sh", "libfaultfs.so", "tests/faultfs/faultfs.c");

    /// <summary>The shim's path; skips the calling test where it cannot be built.</summary>
    public static string Library => Shim.Require();

    /// <summary>The marker the shim prints before a slowed write of <paramref name="length"/> bytes at <paramref name="offset"/>.</summary>
    public static string WriteMarker(string path, long offset, long length) =>
        string.Create(CultureInfo.InvariantCulture, $"faultfs: write {path} {offset} {length}");

    /// <summary>The marker the shim prints after a rename onto <paramref name="path"/>.</summary>
    public static string RenameMarker(string path) => $"faultfs: renamed {path}";

    /// <summary>The environment that preloads the shim with these settings.</summary>
    public IReadOnlyDictionary<string, string> Environment
    {
        get
        {
            var env = new Dictionary<string, string>
            {
                ["LD_PRELOAD"] = Library,
                ["FAULTFS_DIR"] = Path.GetFullPath(Dir),
            };
            if (Budget is long b) env["FAULTFS_BUDGET"] = b.ToString(CultureInfo.InvariantCulture);
            if (SlowSuffix is not null) env["FAULTFS_SLOW_SUFFIX"] = SlowSuffix;
            if (SlowMs > 0) env["FAULTFS_SLOW_MS"] = SlowMs.ToString(CultureInfo.InvariantCulture);
            if (RenameMatch is not null) env["FAULTFS_RENAME_MATCH"] = RenameMatch;
            return env;
        }
    }

    /// <summary>Sets <see cref="Environment"/> on <paramref name="psi"/>.</summary>
    public void Apply(ProcessStartInfo psi)
    {
        ArgumentNullException.ThrowIfNull(psi);
        foreach (var (k, v) in Environment) psi.Environment[k] = v;
    }
}

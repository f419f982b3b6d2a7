using System.Runtime.CompilerServices;

namespace LearningCurves.Tests.Common;

/// <summary>Where the repository and the shared fixtures are, for tests.</summary>
public static class TestPaths
{
    /// <summary>The repository root (the folder holding LearningCurves.sln).</summary>
    public static string RepoRoot { get; } = FindRoot();

    /// <summary>../shared/fixtures beside the repository, or null where this clone has none.</summary>
    public static string? SharedFixtures
    {
        get
        {
            var env = Environment.GetEnvironmentVariable("LEARNING_CURVES_SHARED");
            var dir = env ?? Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared", "fixtures"));
            return Directory.Exists(dir) ? dir : null;
        }
    }

    /// <summary>A shared fixture folder, or a skip of the calling test with the reason.</summary>
    public static string SharedFixture(string name)
    {
        var root = SharedFixtures;
        Xunit.Assert.SkipWhen(root is null, $"../shared/fixtures is not beside this clone; '{name}' parity cannot be checked here");
        var dir = Path.Combine(root!, name);
        Xunit.Assert.SkipWhen(!Directory.Exists(dir) && !File.Exists(dir), $"../shared/fixtures/{name} is absent");
        return dir;
    }

    /// <summary>A fresh empty temporary folder, removed at process exit.</summary>
    public static string TempDir([CallerMemberName] string name = "")
    {
        var dir = Path.Combine(Path.GetTempPath(), "lc-tests", $"{name}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        return dir;
    }

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "LearningCurves.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("LearningCurves.sln not found above " + AppContext.BaseDirectory);
    }
}

using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;

namespace LearningCurves.Tests.Common;

/// <summary>
/// A native test library built on first use by its build script into artifacts/NAME/HASH/, HASH covering every input
/// file, so an edit rebuilds it and an unchanged tree reuses it. Built under a private name and renamed, so a
/// concurrent test process never loads a half-written library. Where the compiler is missing the caller skips with the
/// reason; a compile error fails with the compiler's output.
/// </summary>
public sealed class NativeBuild(string name, string compiler, string buildScript, string fileName, params string[] inputs)
{
    private readonly Lazy<(string? Path, string? SkipReason)> _built = new(() => Build(name, compiler, buildScript, fileName, inputs),
        LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The built library, or null and why not.</summary>
    public (string? Path, string? SkipReason) Result => _built.Value;

    /// <summary>The built library; skips the calling test where it cannot be built here.</summary>
    public string Require()
    {
        var (path, skip) = _built.Value;
        Xunit.Assert.SkipWhen(path is null, skip ?? $"{name} unavailable");
        return path!;
    }

    private static (string?, string?) Build(string name, string compiler, string buildScript, string fileName, string[] inputs)
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS())
            return (null, $"{name} builds with bash and {compiler} (Linux); this OS has neither");
        if (FindOnPath(compiler) is null) return (null, $"no compiler '{compiler}' on PATH: {name} cannot be built");
        var root = TestPaths.RepoRoot;
        using var sha = SHA256.Create();
        foreach (var rel in inputs.Append(buildScript))
        {
            var bytes = File.ReadAllBytes(Path.Combine(root, rel));
            sha.TransformBlock(Encoding.UTF8.GetBytes(rel), 0, rel.Length, null, 0);
            sha.TransformBlock(bytes, 0, bytes.Length, null, 0);
        }
        sha.TransformFinalBlock([], 0, 0);
        var hash = Convert.ToHexStringLower(sha.Hash!)[..16];
        var dir = Path.Combine(root, "artifacts", name, hash);
        var lib = Path.Combine(dir, fileName);
        if (File.Exists(lib)) return (lib, null);
        Directory.CreateDirectory(dir);
        var tmp = Path.Combine(dir, $"build-{Environment.ProcessId}-{Guid.NewGuid():N}.so");
        var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(root, buildScript));
        psi.ArgumentList.Add(tmp);
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0)
            throw new InvalidOperationException($"building {name} failed (exit {p.ExitCode}):\n{stdout}{stderr.Result}");
        File.Move(tmp, lib, overwrite: true);
        return (lib, null);
    }

    private static string? FindOnPath(string exe)
    {
        if (Path.IsPathRooted(exe)) return File.Exists(exe) ? exe : null;
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator))
        {
            var full = Path.Combine(dir, exe);
            if (File.Exists(full)) return full;
        }
        return null;
    }
}

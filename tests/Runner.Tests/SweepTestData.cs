using System.Diagnostics;
using System.Text;
using LearningCurves.Engine.Checkpoints;
using LearningCurves.Engine.EvalSets;
using LearningCurves.Engine.Model;
using LearningCurves.Tests.Common;
using Xunit;
using LearningCurves.Formats.EvalSets;

namespace LearningCurves.Runner.Tests;

/// <summary>Tiny runs of random checkpoints and an eval set on disk, and a way to run the real runner process.</summary>
public sealed class SweepTestData
{
    public static readonly ModelConfig Config = new() { VocabSize = 64, MaxPositions = 32, Embd = 16, Layers = 2, Heads = 2 };

    public SweepTestData(string root, int seed = 1, int checkpointsA = 4, int checkpointsB = 3)
    {
        Root = root;
        EvalDir = Path.Combine(root, "eval");
        MakeEvalSet(EvalDir, seed);
        RunA = Path.Combine(root, "runA");
        RunB = Path.Combine(root, "runB");
        // Mixed naming styles, and a folder that is not a checkpoint (ignored).
        for (int i = 0; i < checkpointsA; i++) SaveCheckpoint(Path.Combine(RunA, $"checkpoint-{(i + 1) * 100}"), 100 + i);
        string[] bNames = ["step0", "step-1000", "step2000", "step-3000", "step4000"];
        for (int i = 0; i < checkpointsB; i++) SaveCheckpoint(Path.Combine(RunB, bNames[i]), 200 + i);
        Directory.CreateDirectory(Path.Combine(RunB, "logs"));
    }

    public string Root { get; }
    public string EvalDir { get; }
    public string RunA { get; }
    public string RunB { get; }

    public string[] SweepArgs(string outDir, params string[] extra) =>
        ["sweep", "--run", $"a={RunA}", "--run", $"b={RunB}", "--eval", EvalDir, "--out", outDir, "--backend", "cpu", .. extra];

    public static void SaveCheckpoint(string dir, int seed) => HfCheckpoint.Save(dir, ModelWeights.Random(Config, seed));

    /// <summary>6 sequences of 16 tokens, 5 targets each.</summary>
    public static EvalSet MakeEvalSet(string dir, int seed)
    {
        var rng = new SplitMix64((ulong)seed);
        var lines = Enumerable.Range(0, 40).Select(_ => Enumerable.Range(0, 3 + (int)rng.NextBelow(9)).Select(_ => 2 + (int)rng.NextBelow(60)).ToArray());
        var seqs = EvalSetBuilder.PackLines(lines.ToList(), 16, 0, 1).Take(6).ToList();
        Assert.Equal(6, seqs.Count);
        var targets = EvalSetBuilder.DrawTargets(seqs.Count, 16, 5, (ulong)seed);
        var set = new EvalSet(seqs.SelectMany(s => s).ToArray(), seqs.Count, 16, targets, Config.VocabSize);
        set.Save(dir, new System.Text.Json.Nodes.JsonObject { ["tokenizer"] = "test ids", ["seed"] = seed });
        return set;
    }

    /// <summary>The runner, as the separate process a user starts.</summary>
    public static ProcessStartInfo Runner(IEnumerable<string> args, int slowWriteMs = 0)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "learning-curves.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (slowWriteMs > 0) psi.Environment["LC_TEST_SLOW_WRITE"] = slowWriteMs.ToString(System.Globalization.CultureInfo.InvariantCulture);
        else psi.Environment.Remove("LC_TEST_SLOW_WRITE");
        return psi;
    }

    /// <summary>Runs the runner to completion: exit code, stdout, stderr.</summary>
    public static (int Code, string Out, string Err) Run(IEnumerable<string> args, int slowWriteMs = 0)
    {
        using var p = Process.Start(Runner(args, slowWriteMs))!;
        var err = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd();
        Assert.True(p.WaitForExit(120_000), "runner did not finish in 2 minutes");
        return (p.ExitCode, output, err.Result);
    }

    /// <summary>Runs any program to completion: exit code, stdout, stderr.</summary>
    public static (int Code, string Out, string Err) RunProcess(string file, IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd();
        Assert.True(p.WaitForExit(60_000), $"{file} did not finish in a minute");
        return (p.ExitCode, output, err.Result);
    }

    /// <summary>Every file a sweep leaves that must match byte for byte (temporary and lock files excluded).</summary>
    public static SortedDictionary<string, byte[]> Snapshot(string outDir)
    {
        var d = new SortedDictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var f in Directory.EnumerateFiles(outDir, "*", SearchOption.AllDirectories))
        {
            string name = Path.GetFileName(f);
            if (name.StartsWith('.')) continue;
            d[Path.GetRelativePath(outDir, f)] = File.ReadAllBytes(f);
        }
        return d;
    }

    /// <summary>Asserts two snapshots are byte-identical, naming the first differing file and offset.</summary>
    public static void AssertSame(SortedDictionary<string, byte[]> expected, SortedDictionary<string, byte[]> actual, string what)
    {
        Assert.True(expected.Keys.SequenceEqual(actual.Keys),
            $"{what}: files differ: expected [{string.Join(", ", expected.Keys)}], got [{string.Join(", ", actual.Keys)}]");
        foreach (var (k, v) in expected)
        {
            var a = actual[k];
            if (v.AsSpan().SequenceEqual(a)) continue;
            int i = 0;
            while (i < Math.Min(v.Length, a.Length) && v[i] == a[i]) i++;
            string text = k.EndsWith(".json", StringComparison.Ordinal) ? $"\nexpected:\n{Encoding.UTF8.GetString(v)}\nactual:\n{Encoding.UTF8.GetString(a)}" : "";
            Assert.Fail($"{what}: {k} differs at byte {i} (lengths {v.Length} and {a.Length}){text}");
        }
    }

    public static string NewRoot(string name) => TestPaths.TempDir(name);
}

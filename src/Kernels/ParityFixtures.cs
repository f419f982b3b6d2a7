using LearningCurves.Engine;
using LearningCurves.Engine.Checkpoints;
using LearningCurves.Engine.IO;
using LearningCurves.Engine.Tokenization;

namespace LearningCurves.Kernels;

/// <summary>
/// The committed parity fixtures (tests/fixtures/parity/CASE/: config.json + model.safetensors, ids.txt with one
/// sequence per line, surprisal.npy with the float64 reference surprisal of every position 1..len-1 in order) as
/// verify cases. A case without its own model (the tiny-random-gpt2 reference) uses the shared fixture model when
/// present and is skipped otherwise.
/// </summary>
public static class ParityFixtures
{
    /// <summary>fixtures/parity beside the running program (the device bundle), else tests/fixtures/parity in the
    /// repository above the current folder or the program; null when neither exists.</summary>
    public static string? DefaultDir()
    {
        foreach (var start in new[] { AppContext.BaseDirectory, Environment.CurrentDirectory })
        {
            var beside = Path.Combine(start, "fixtures", "parity");
            if (Directory.Exists(beside)) return beside;
            for (var d = new DirectoryInfo(start); d is not null; d = d.Parent)
            {
                var p = Path.Combine(d.FullName, "tests", "fixtures", "parity");
                if (Directory.Exists(p)) return p;
            }
        }
        return null;
    }

    /// <summary>Every case folder under <paramref name="dir"/>, in name order. <paramref name="skipped"/> gets one
    /// line per case that cannot run here.</summary>
    public static IReadOnlyList<VerifyCase> Load(string dir, ICollection<string>? skipped = null)
    {
        ArgumentNullException.ThrowIfNull(dir);
        if (!Directory.Exists(dir)) throw UserError.InFile(dir, "no such fixtures folder");
        var cases = new List<VerifyCase>();
        foreach (var caseDir in Directory.GetDirectories(dir).Order(StringComparer.Ordinal))
        {
            string name = Path.GetFileName(caseDir);
            var ids = Path.Combine(caseDir, "ids.txt");
            var surprisal = Path.Combine(caseDir, "surprisal.npy");
            if (!File.Exists(ids) || !File.Exists(surprisal))
            {
                skipped?.Add($"{name}: no ids.txt or surprisal.npy");
                continue;
            }
            string? modelDir = File.Exists(Path.Combine(caseDir, "config.json")) ? caseDir : SharedModel(name);
            if (modelDir is null)
            {
                skipped?.Add($"{name}: its model is not in the fixture and ../shared/fixtures is not beside this checkout");
                continue;
            }
            var weights = HfCheckpoint.Load(modelDir);
            var seqs = TokenIdsFile.Read(ids);
            var (flat, _) = Npy.ReadDoubles(surprisal);
            var reference = new List<double[]>();
            long k = 0;
            foreach (var s in seqs)
            {
                int n = Math.Max(0, s.Length - 1);
                if (k + n > flat.Length) throw UserError.InFile(surprisal, $"holds {flat.Length} values, fewer than the positions of {ids}");
                reference.Add(flat.AsSpan((int)k, n).ToArray());
                k += n;
            }
            if (k != flat.Length) throw UserError.InFile(surprisal, $"holds {flat.Length} values but {ids} has {k} positions");
            cases.Add(new VerifyCase("fixture:" + name, weights, seqs, reference));
        }
        return cases;
    }

    /// <summary>"X-reference" cases take their model from ../shared/fixtures/X (LEARNING_CURVES_SHARED overrides).</summary>
    private static string? SharedModel(string caseName)
    {
        const string suffix = "-reference";
        if (!caseName.EndsWith(suffix, StringComparison.Ordinal)) return null;
        string model = caseName[..^suffix.Length];
        var roots = new List<string>();
        if (Environment.GetEnvironmentVariable("LEARNING_CURVES_SHARED") is { Length: > 0 } env) roots.Add(env);
        foreach (var start in new[] { AppContext.BaseDirectory, Environment.CurrentDirectory })
        {
            for (var d = new DirectoryInfo(start); d is not null; d = d.Parent)
                roots.Add(Path.Combine(d.FullName, "shared", "fixtures"));
        }
        return roots.Select(r => Path.Combine(r, model)).FirstOrDefault(p => File.Exists(Path.Combine(p, "config.json")));
    }
}

using LearningCurves.Engine;
using LearningCurves.Engine.Checkpoints;
using LearningCurves.Formats.IO;
using LearningCurves.Formats.Tokenization;
using LearningCurves.Formats;

namespace LearningCurves.Kernels;

/// <summary>
/// The committed parity fixtures (tests/fixtures/parity/CASE/: config.json + model.safetensors, ids.txt with one
/// sequence per line, surprisal.npy with the float64 reference surprisal of every position 1..len-1 in order) as
/// verify cases, from the folder the caller names (`verify --fixtures DIR`): production code does not look for the
/// test tree. A case without its own model (the tiny-random-gpt2 reference) takes it from the shared fixtures folder
/// when one is given (or named by LEARNING_CURVES_SHARED) and is skipped otherwise.
/// </summary>
public static class ParityFixtures
{
    /// <summary>Every case folder under <paramref name="dir"/>, in name order. <paramref name="skipped"/> gets one
    /// line per case that cannot run here. <paramref name="sharedFixtures"/>: the folder holding the shared fixture
    /// models; null: $LEARNING_CURVES_SHARED, else none.</summary>
    public static IReadOnlyList<VerifyCase> Load(string dir, ICollection<string>? skipped = null, string? sharedFixtures = null)
    {
        sharedFixtures ??= Environment.GetEnvironmentVariable("LEARNING_CURVES_SHARED") is { Length: > 0 } env ? env : null;
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
            string? modelDir = File.Exists(Path.Combine(caseDir, "config.json")) ? caseDir : SharedModel(name, sharedFixtures);
            if (modelDir is null)
            {
                skipped?.Add($"{name}: its model is not in the fixture and no shared fixtures folder holds it (LEARNING_CURVES_SHARED)");
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

    /// <summary>"X-reference" cases take their model from SHARED/X.</summary>
    private static string? SharedModel(string caseName, string? shared)
    {
        const string suffix = "-reference";
        if (shared is null || !caseName.EndsWith(suffix, StringComparison.Ordinal)) return null;
        string model = Path.Combine(shared, caseName[..^suffix.Length]);
        return File.Exists(Path.Combine(model, "config.json")) ? model : null;
    }
}

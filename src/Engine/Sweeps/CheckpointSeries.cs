using System.Globalization;
using System.Text.RegularExpressions;
using LearningCurves.Formats;
using LearningCurves.Formats.IO;

namespace LearningCurves.Engine.Sweeps;

/// <summary>One checkpoint of a run: its training step and its model folder.</summary>
public sealed record Checkpoint(long Step, string Path);

/// <summary>
/// Finds the checkpoints of a pre-training run. A run is
/// <list type="bullet">
/// <item>a folder whose sub-folders are named like a step (see <see cref="StepOf"/>): <c>checkpoint-STEP</c>
/// (Hugging Face Trainer, CRFM Mistral), <c>stepN</c> (Pythia), <c>step-N</c> (SmolLM2), <c>stepN-tokensT</c> (OLMo,
/// T a token count such as 4B or 210M), <c>stage1-stepN-tokensT</c> (OLMo-2's pre-training stage) or <c>ckpt_NNN</c>
/// (LLM360 Amber; the step is NNN); one run may mix these names;</item>
/// <item>a Hugging Face hub cache repo folder <c>models--ORG--NAME</c> (see <see cref="HubCache"/>): every revision in
/// <c>refs/</c> named like a step, at <c>snapshots/COMMIT/</c>; <c>DIR@REV,REV...</c> picks revisions instead, where a
/// revision not named like a step (e.g. main) is given its step as <c>REV:STEP</c>;</item>
/// <item>or a list file of <c>step path</c> lines (paths relative to the list file; blank lines and # lines ignored).</item>
/// </list>
/// Results are sorted by step; two checkpoints with the same step are an error.
/// </summary>
public static partial class CheckpointSeries
{
    [GeneratedRegex(@"^(?:(?:stage1-)?step-?(\d+)(?:-tokens\d+(?:\.\d+)?[KMBT]?)?|checkpoint-(\d+)|ckpt_(\d+))$", RegexOptions.CultureInvariant)]
    private static partial Regex StepName();

    /// <summary>
    /// The step a checkpoint folder or revision name encodes, or null when it is not named like a step. Step names:
    /// <c>stepN</c>, <c>step-N</c>, <c>stepN-tokensT</c> and <c>stage1-stepN-tokensT</c> (T digits with an optional
    /// fraction and K/M/B/T), <c>checkpoint-N</c> and <c>ckpt_N</c> (leading zeros allowed: ckpt_007 is step 7). Other
    /// stages (OLMo-2's <c>stage2-ingredient1-step...</c>, whose steps count from 0 again) are not step names.
    /// </summary>
    public static long? StepOf(string name)
    {
        var m = StepName().Match(name);
        if (!m.Success) return null;
        return long.TryParse(Digits(m), NumberStyles.None, CultureInfo.InvariantCulture, out long step) ? step : null;
    }

    private static string Digits(Match m) =>
        m.Groups[1].Success ? m.Groups[1].Value : m.Groups[2].Success ? m.Groups[2].Value : m.Groups[3].Value;

    public static IReadOnlyList<Checkpoint> Discover(string runPath)
    {
        ArgumentNullException.ThrowIfNull(runPath);
        List<Checkpoint> found;
        if (File.Exists(runPath))
        {
            found = ReadList(runPath);
        }
        else if (HubCache.TrySplitSelection(runPath, out var repo, out var selection))
        {
            found = HubCache.Checkpoints(repo, selection);
        }
        else if (Directory.Exists(runPath) && HubCache.IsRepoFolder(runPath))
        {
            found = HubCache.Checkpoints(runPath, null);
        }
        else if (Directory.Exists(runPath))
        {
            found = new List<Checkpoint>();
            foreach (var sub in Directory.EnumerateDirectories(runPath))
            {
                var m = StepName().Match(System.IO.Path.GetFileName(sub));
                if (!m.Success) continue;
                if (!long.TryParse(Digits(m), NumberStyles.None, CultureInfo.InvariantCulture, out long step))
                    throw UserError.InFile(sub, "step number too large");
                found.Add(new Checkpoint(step, System.IO.Path.GetFullPath(sub)));
            }
            if (found.Count == 0)
                throw UserError.InFile(runPath, "no checkpoints found (expected sub-folders checkpoint-STEP, stepN, step-N, stepN-tokensT, stage1-stepN-tokensT or ckpt_STEP, a Hugging Face hub cache folder models--ORG--NAME, or a list file of 'step path' lines)");
        }
        else
        {
            throw UserError.InFile(runPath, "run folder or list file not found");
        }
        found.Sort((a, b) => a.Step.CompareTo(b.Step));
        for (int i = 1; i < found.Count; i++)
        {
            if (found[i].Step == found[i - 1].Step)
                throw UserError.InFile(runPath, $"step {found[i].Step} appears twice ({found[i - 1].Path} and {found[i].Path})");
        }
        return found;
    }

    private static List<Checkpoint> ReadList(string listFile)
    {
        var baseDir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(listFile))!;
        var result = new List<Checkpoint>();
        foreach (var (lineNo, line) in ListFile.Entries(listFile))
        {
            int sp = line.IndexOfAny([' ', '\t']);
            if (sp < 0 || !long.TryParse(line.AsSpan(0, sp), NumberStyles.None, CultureInfo.InvariantCulture, out long step))
                throw UserError.InFile(listFile, $"line {lineNo}: expected 'step path', got '{line}'");
            var path = line[(sp + 1)..].Trim();
            result.Add(new Checkpoint(step, System.IO.Path.GetFullPath(System.IO.Path.Combine(baseDir, path))));
        }
        if (result.Count == 0) throw UserError.InFile(listFile, "the list file names no checkpoints");
        return result;
    }
}

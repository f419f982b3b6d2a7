using System.Globalization;
using LearningCurves.Formats;

namespace LearningCurves.Engine.Sweeps;

/// <summary>
/// A Hugging Face hub cache repo folder, as huggingface_hub lays it out (e.g.
/// <c>~/.cache/huggingface/hub/models--EleutherAI--pythia-70m</c>): <c>refs/REVISION</c> is a text file holding the
/// commit hash the revision (branch or tag) pointed at when it was downloaded, <c>snapshots/COMMIT/</c> holds that
/// commit's files as symbolic links into <c>blobs/</c> (content-addressed), which are followed like any file.
///
/// A run given as the repo folder is every revision (branch or tag: huggingface_hub writes both as refs/NAME) named
/// like a step (step0, step1000, step-5, checkpoint-7, step1000-tokens4B, stage1-step1000-tokens5B, ckpt_007; see
/// <see cref="CheckpointSeries.StepOf"/>), in step order; <c>main</c> and other names are left out, because their step
/// is not in their name. Two names for one step at one commit (a branch and a tag, or OLMo-2's stage1-stepN-tokensT
/// beside stepN-tokensT) are one checkpoint; at different commits they are an error naming both.
/// A run given as <c>REPO@REV,REV,...</c> is exactly those revisions; one not named like a step needs its step spelled
/// out as <c>REV:STEP</c> (<c>models--EleutherAI--pythia-70m@main:143000</c>).
/// </summary>
public static class HubCache
{
    public const string RefsDir = "refs";
    public const string SnapshotsDir = "snapshots";

    /// <summary>True for a folder with refs/ and snapshots/ (a hub cache repo folder).</summary>
    public static bool IsRepoFolder(string dir) =>
        Directory.Exists(Path.Combine(dir, RefsDir)) && Directory.Exists(Path.Combine(dir, SnapshotsDir));

    /// <summary>Splits <c>REPO@SELECTION</c> when REPO (the part before the last '@') is a hub cache repo folder and
    /// the whole string is not itself an existing path.</summary>
    public static bool TrySplitSelection(string runPath, out string repo, out string selection)
    {
        repo = selection = "";
        int at = runPath.LastIndexOf('@');
        if (at <= 0 || Directory.Exists(runPath) || File.Exists(runPath)) return false;
        var r = runPath[..at];
        if (!Directory.Exists(r) || !IsRepoFolder(r)) return false;
        repo = r;
        selection = runPath[(at + 1)..];
        return true;
    }

    /// <summary>Every ref (nested names such as refs/pr/1 use '/'), with the commit it holds.</summary>
    public static IReadOnlyList<(string Revision, string Commit)> Refs(string repo)
    {
        var refs = Path.Combine(repo, RefsDir);
        var result = new List<(string, string)>();
        foreach (var f in Directory.EnumerateFiles(refs, "*", SearchOption.AllDirectories))
        {
            string rev = Path.GetRelativePath(refs, f).Replace(Path.DirectorySeparatorChar, '/');
            string commit = File.ReadAllText(f).Trim();
            if (commit.Length == 0 || commit.Any(ch => !char.IsAsciiHexDigit(ch)))
                throw UserError.InFile(f, $"revision '{rev}' does not hold a commit hash (got '{Short(commit)}')");
            result.Add((rev, commit));
        }
        result.Sort((a, b) => string.CompareOrdinal(a.Item1, b.Item1));
        return result;
    }

    /// <summary>The checkpoints of <paramref name="repo"/>: its step revisions, or those of <paramref name="selection"/>
    /// (comma-separated REV or REV:STEP) when given.</summary>
    public static List<Checkpoint> Checkpoints(string repo, string? selection)
    {
        var refs = Refs(repo);
        var byName = refs.ToDictionary(r => r.Revision, r => r.Commit, StringComparer.Ordinal);
        var wanted = new List<(string Rev, long Step)>();
        if (selection is null)
        {
            foreach (var (rev, _) in refs)
            {
                if (CheckpointSeries.StepOf(rev) is long step
                    && !wanted.Any(w => w.Step == step && byName[w.Rev] == byName[rev]))
                    wanted.Add((rev, step));
            }
            if (wanted.Count == 0)
            {
                var names = refs.Count == 0 ? "none" : string.Join(", ", refs.Take(8).Select(r => r.Revision));
                throw UserError.InFile(repo,
                    $"no revision named like a step in {RefsDir}/ (found: {names}); download step revisions (huggingface-cli download REPO --revision step1000), or name revisions as DIR@main:STEP");
            }
        }
        else
        {
            foreach (var part in selection.Split(',', StringSplitOptions.TrimEntries))
            {
                if (part.Length == 0) throw UserError.InFile(repo, $"empty revision in the selection '@{selection}'");
                int colon = part.LastIndexOf(':');
                string rev = colon > 0 ? part[..colon] : part;
                long step;
                if (colon > 0)
                {
                    if (!long.TryParse(part[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out step))
                        throw UserError.InFile(repo, $"'{part}': the step after ':' must be a non-negative integer");
                }
                else if (CheckpointSeries.StepOf(rev) is long s)
                {
                    step = s;
                }
                else
                {
                    throw UserError.InFile(repo, $"revision '{rev}' is not named like a step: give its step as {rev}:STEP");
                }
                if (!byName.ContainsKey(rev))
                    throw UserError.InFile(Path.Combine(repo, RefsDir), $"no revision '{rev}' (have: {string.Join(", ", refs.Take(8).Select(r => r.Revision))}{(refs.Count > 8 ? ", ..." : "")})");
                wanted.Add((rev, step));
            }
        }
        // A snapshot folder missing for a ref (an interrupted download) fails that row when it is loaded, by name.
        return wanted.Select(w => new Checkpoint(w.Step, Path.GetFullPath(Path.Combine(repo, SnapshotsDir, byName[w.Rev])))).ToList();
    }

    private static string Short(string s) => s.Length > 60 ? s[..60] + "..." : s;
}

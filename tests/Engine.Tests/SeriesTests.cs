using LearningCurves.Engine.Sweeps;
using LearningCurves.Tests.Common;
using Xunit;
using LearningCurves.Formats;

namespace LearningCurves.Engine.Tests;

public class SeriesTests
{
    [Fact]
    public void Folders_are_found_by_every_naming_style_and_sorted_by_step()
    {
        string run = TestPaths.TempDir();
        foreach (var n in new[] { "checkpoint-1000", "step20", "step-3", "checkpoint-0", "logs", "step", "checkpoint-x", "runs-5" })
            Directory.CreateDirectory(Path.Combine(run, n));
        File.WriteAllText(Path.Combine(run, "step7"), "a file, not a folder");
        var cps = CheckpointSeries.Discover(run);
        Assert.Equal([0L, 3, 20, 1000], cps.Select(c => c.Step));
        Assert.Equal(Path.Combine(run, "step-3"), cps[1].Path);
    }

    [Fact]
    public void A_list_file_gives_steps_and_paths_relative_to_it()
    {
        string dir = TestPaths.TempDir();
        string list = Path.Combine(dir, "ckpts.txt");
        File.WriteAllLines(list, ["# step path", "300 models/c", "", "100\t/abs/a", "200 models/b with space"]);
        var cps = CheckpointSeries.Discover(list);
        Assert.Equal([100L, 200, 300], cps.Select(c => c.Step));
        Assert.Equal("/abs/a", cps[0].Path);
        Assert.Equal(Path.Combine(dir, "models", "b with space"), cps[1].Path);
    }

    [Fact]
    public void Duplicate_steps_empty_runs_and_bad_lines_are_user_errors()
    {
        string run = TestPaths.TempDir();
        Directory.CreateDirectory(Path.Combine(run, "step5"));
        Directory.CreateDirectory(Path.Combine(run, "checkpoint-5"));
        Assert.Contains("step 5 appears twice", Assert.Throws<UserError>(() => CheckpointSeries.Discover(run)).Message, StringComparison.Ordinal);
        Assert.Contains("no checkpoints", Assert.Throws<UserError>(() => CheckpointSeries.Discover(TestPaths.TempDir())).Message, StringComparison.Ordinal);
        Assert.Throws<UserError>(() => CheckpointSeries.Discover(Path.Combine(run, "absent")));
        string list = Path.Combine(TestPaths.TempDir(), "l.txt");
        File.WriteAllLines(list, ["x path"]);
        Assert.Contains("line 1", Assert.Throws<UserError>(() => CheckpointSeries.Discover(list)).Message, StringComparison.Ordinal);
    }
}

public class HubCacheTests
{
    /// <summary>A hub cache repo folder as huggingface_hub writes it: blobs named by hash, snapshots of symlinks, refs.</summary>
    public static string MakeRepo(string root, params (string Rev, string Commit, string[] Files)[] revisions)
    {
        var repo = Path.Combine(root, "models--Org--tiny");
        Directory.CreateDirectory(Path.Combine(repo, "blobs"));
        foreach (var (rev, commit, files) in revisions)
        {
            var refFile = Path.Combine(repo, "refs", rev);
            Directory.CreateDirectory(Path.GetDirectoryName(refFile)!);
            File.WriteAllText(refFile, commit);
            var snap = Path.Combine(repo, "snapshots", commit);
            Directory.CreateDirectory(snap);
            foreach (var f in files)
            {
                var blob = Path.Combine(repo, "blobs", $"{commit}-{f}");
                File.WriteAllText(blob, $"{rev} {f}");
                var link = Path.Combine(snap, f);
                if (!File.Exists(link)) File.CreateSymbolicLink(link, Path.Combine("..", "..", "blobs", $"{commit}-{f}"));
            }
        }
        return repo;
    }

    private static string Hash(int i) => i.ToString("x40", System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    public void Step_revisions_are_found_through_refs_in_step_order_and_main_only_when_asked()
    {
        var repo = MakeRepo(TestPaths.TempDir(), ("main", Hash(9), ["config.json"]), ("step1000", Hash(1), ["config.json"]),
            ("step2", Hash(2), ["config.json"]), ("step0", Hash(3), ["config.json"]), ("step512-tokens2B", Hash(4), ["config.json"]),
            ("pr/1", Hash(5), ["config.json"]));
        var cps = CheckpointSeries.Discover(repo);
        Assert.Equal([0L, 2, 512, 1000], cps.Select(c => c.Step));
        Assert.Equal(Path.Combine(repo, "snapshots", Hash(1)), cps[3].Path);
        Assert.Equal("step1000 config.json", File.ReadAllText(Path.Combine(cps[3].Path, "config.json"))); // through the symlink

        var picked = CheckpointSeries.Discover(repo + "@main:143000,step2");
        Assert.Equal([2L, 143000], picked.Select(c => c.Step));
        Assert.Equal(Path.Combine(repo, "snapshots", Hash(9)), picked[1].Path);

        Assert.Contains("main:STEP", Assert.Throws<UserError>(() => CheckpointSeries.Discover(repo + "@main")).Message, StringComparison.Ordinal);
        Assert.Contains("no revision 'step7'", Assert.Throws<UserError>(() => CheckpointSeries.Discover(repo + "@step7")).Message, StringComparison.Ordinal);
        var onlyMain = MakeRepo(TestPaths.TempDir(), ("main", Hash(9), ["config.json"]));
        Assert.Contains("no revision named like a step", Assert.Throws<UserError>(() => CheckpointSeries.Discover(onlyMain)).Message, StringComparison.Ordinal);
        File.WriteAllText(Path.Combine(repo, "refs", "step3"), "not a hash!");
        Assert.Contains("does not hold a commit hash", Assert.Throws<UserError>(() => CheckpointSeries.Discover(repo)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Olmo_style_folders_are_steps()
    {
        string run = TestPaths.TempDir();
        foreach (var n in new[] { "step1000-tokens4B", "step20-tokens84M", "step3-tokens1.5B", "step5-tokensX" })
            Directory.CreateDirectory(Path.Combine(run, n));
        Assert.Equal([3L, 20, 1000], CheckpointSeries.Discover(run).Select(c => c.Step));
    }
}

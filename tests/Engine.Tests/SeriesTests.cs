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
        // Skipped comment and blank lines still count: the error names the line as an editor shows it.
        File.WriteAllLines(list, ["# step path", "", "  100 a  ", "oops"]);
        Assert.Contains("line 4: expected 'step path', got 'oops'", Assert.Throws<UserError>(() => CheckpointSeries.Discover(list)).Message, StringComparison.Ordinal);
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

    [Theory]
    [InlineData("stage1-step1000-tokens5B", 1000L)]
    [InlineData("stage1-step0-tokens0B", 0L)]
    [InlineData("step928646-tokens3896B", 928646L)]
    [InlineData("step1000-tokens4.2B", 1000L)]
    [InlineData("ckpt_000", 0L)]
    [InlineData("ckpt_007", 7L)]
    [InlineData("ckpt_359", 359L)]
    [InlineData("step-1250", 1250L)]
    [InlineData("checkpoint-42", 42L)]
    [InlineData("step143000", 143000L)]
    [InlineData("stage2-ingredient1-step11931-tokens50B", null)]
    [InlineData("stage1-checkpoint-5", null)]
    [InlineData("ckpt-5", null)]
    [InlineData("ckpt_", null)]
    [InlineData("Step5", null)]
    [InlineData("step5-tokens", null)]
    [InlineData("main", null)]
    public void Step_names_of_every_suite(string name, long? step) => Assert.Equal(step, CheckpointSeries.StepOf(name));

    [Fact]
    public void A_run_folder_may_mix_every_suite_s_names_and_sorts_by_step_number_not_text()
    {
        string run = TestPaths.TempDir();
        var names = new[] { "ckpt_010", "stage1-step2000-tokens9B", "step-3", "checkpoint-100", "step1000-tokens4B", "step20", "ckpt_002",
            "stage2-ingredient1-step5-tokens1B", "ckpt_latest" };
        foreach (var n in names) Directory.CreateDirectory(Path.Combine(run, n));
        var cps = CheckpointSeries.Discover(run);
        Assert.Equal([2L, 3, 10, 20, 100, 1000, 2000], cps.Select(c => c.Step));
        Assert.Equal(["ckpt_002", "step-3", "ckpt_010", "step20", "checkpoint-100", "step1000-tokens4B", "stage1-step2000-tokens9B"],
            cps.Select(c => Path.GetFileName(c.Path)));

        // ckpt_010 and checkpoint-10 are both step 10: refused, naming both folders.
        Directory.CreateDirectory(Path.Combine(run, "checkpoint-10"));
        var e = Assert.Throws<UserError>(() => CheckpointSeries.Discover(run));
        Assert.Contains("step 10 appears twice", e.Message, StringComparison.Ordinal);
        Assert.Contains("ckpt_010", e.Message, StringComparison.Ordinal);
        Assert.Contains("checkpoint-10", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Random_run_folders_sort_by_step_whatever_the_names()
    {
        int seed = Random.Shared.Next();
        var rng = new Random(seed);
        string run = TestPaths.TempDir();
        var steps = new SortedSet<long>();
        while (steps.Count < 40) steps.Add(rng.Next(0, 2_000_000));
        var byStep = new Dictionary<long, string>();
        foreach (long s in steps)
        {
            string n = rng.Next(6) switch
            {
                0 => $"step{s}",
                1 => $"step-{s}",
                2 => $"checkpoint-{s}",
                3 => $"ckpt_{s:D6}",
                4 => $"step{s}-tokens{rng.Next(1, 5000)}B",
                _ => $"stage1-step{s}-tokens{rng.Next(1, 900)}.{rng.Next(10)}B",
            };
            byStep[s] = n;
            Directory.CreateDirectory(Path.Combine(run, n));
        }
        var cps = CheckpointSeries.Discover(run);
        Assert.True(steps.SequenceEqual(cps.Select(c => c.Step)), $"seed {seed}: {string.Join(", ", cps.Select(c => $"{c.Step}={Path.GetFileName(c.Path)}"))}");
        foreach (var c in cps) Assert.Equal(byStep[c.Step], Path.GetFileName(c.Path));
    }

    [Fact]
    public void Hub_cache_branches_and_tags_of_every_suite_sort_by_step_and_aliases_of_one_commit_are_one_checkpoint()
    {
        // OLMo-2: stage1-stepN-tokensTB branches, some steps also (or only) without stage1-; a tag on one commit;
        // Amber's ckpt_NNN; SmolLM2's step-N; Mistral's checkpoint-N; main left out.
        var repo = MakeRepo(TestPaths.TempDir(),
            ("main", Hash(99), ["config.json"]),
            ("stage1-step1000-tokens5B", Hash(1), ["config.json"]),
            ("step1000-tokens5B", Hash(1), ["config.json"]),
            ("step2000-tokens9B", Hash(2), ["config.json"]),
            ("stage1-step0-tokens0B", Hash(3), ["config.json"]),
            ("ckpt_003", Hash(4), ["config.json"]),
            ("step-40", Hash(5), ["config.json"]),
            ("checkpoint-500", Hash(6), ["config.json"]),
            ("v1.0", Hash(2), ["config.json"]),
            ("stage2-ingredient1-step100-tokens1B", Hash(7), ["config.json"]));
        var cps = CheckpointSeries.Discover(repo);
        Assert.Equal([0L, 3, 40, 500, 1000, 2000], cps.Select(c => c.Step));
        Assert.Equal(Path.Combine(repo, "snapshots", Hash(1)), cps[4].Path);
        Assert.Equal(Path.Combine(repo, "snapshots", Hash(4)), cps[1].Path);

        // The same step at two commits is refused by name.
        File.WriteAllText(Path.Combine(repo, "refs", "step1000-tokens5B"), Hash(8));
        Directory.CreateDirectory(Path.Combine(repo, "snapshots", Hash(8)));
        Assert.Contains("step 1000 appears twice", Assert.Throws<UserError>(() => CheckpointSeries.Discover(repo)).Message, StringComparison.Ordinal);

        // A selection may name any of these, and a stage2 revision with its step.
        var picked = CheckpointSeries.Discover(repo + "@ckpt_003,stage1-step1000-tokens5B,stage2-ingredient1-step100-tokens1B:3000");
        Assert.Equal([3L, 1000, 3000], picked.Select(c => c.Step));
        Assert.Contains("give its step", Assert.Throws<UserError>(() => CheckpointSeries.Discover(repo + "@stage2-ingredient1-step100-tokens1B")).Message, StringComparison.Ordinal);
    }
}

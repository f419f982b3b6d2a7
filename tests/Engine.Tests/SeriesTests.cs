using LearningCurves.Engine.Sweeps;
using LearningCurves.Tests.Common;
using Xunit;

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

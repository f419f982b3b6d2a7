using LearningCurves.Formats.IO;
using LearningCurves.Tests.Common;
using Xunit;

namespace LearningCurves.Engine.Tests;

public class AtomicFileTests
{
    [Fact]
    public void Staged_files_appear_together_on_commit_and_not_at_all_without_it()
    {
        string dir = TestPaths.TempDir();
        string a = Path.Combine(dir, "a.csv"), b = Path.Combine(dir, "b.csv");
        File.WriteAllText(a, "old");
        using (var sa = new StagedFile(a))
        using (var sb = new StagedFile(b))
        {
            Assert.NotEqual(sa.TempPath, new StagedFile(a).TempPath); // unique: two writers never share one
            File.WriteAllText(sa.TempPath, "new a");
            File.WriteAllText(sb.TempPath, "new b");
            Assert.Equal("old", File.ReadAllText(a));
            Assert.False(File.Exists(b));
            StagedFile.CommitAll(sa, sb);
        }
        Assert.Equal(("new a", "new b"), (File.ReadAllText(a), File.ReadAllText(b)));
        using (var failed = new StagedFile(a)) File.WriteAllText(failed.TempPath, "half");
        Assert.Equal("new a", File.ReadAllText(a));
        Assert.Equal(["a.csv", "b.csv"], Directory.GetFiles(dir).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        using var exists = new StagedFile(b);
        File.WriteAllText(exists.TempPath, "x");
        Assert.Throws<IOException>(() => exists.Commit(overwrite: false));
    }

    [Fact]
    public void A_folder_written_atomically_replaces_the_old_one_or_leaves_it()
    {
        string dir = TestPaths.TempDir();
        string target = Path.Combine(dir, "checkpoint-5");
        AtomicFile.WriteDirectory(target, tmp => File.WriteAllText(Path.Combine(tmp, "x"), "1"));
        Assert.Throws<InvalidOperationException>(() => AtomicFile.WriteDirectory(target, tmp =>
        {
            File.WriteAllText(Path.Combine(tmp, "y"), "2");
            throw new InvalidOperationException("interrupted");
        }));
        Assert.Equal(["x"], Directory.GetFiles(target).Select(Path.GetFileName));
        Assert.Equal([target], Directory.GetDirectories(dir));
        AtomicFile.WriteDirectory(target, tmp => File.WriteAllText(Path.Combine(tmp, "z"), "3"));
        Assert.Equal(["z"], Directory.GetFiles(target).Select(Path.GetFileName));
    }
}

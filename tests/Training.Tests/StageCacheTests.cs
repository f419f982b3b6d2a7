using LearningCurves.Tests.Common;
using LearningCurves.Training.Demo;
using Xunit;

namespace LearningCurves.Training.Tests;

public sealed class StageCacheTests
{
    [Fact]
    public void KeyChangesWithPartsAndFileContent()
    {
        var dir = TestPaths.TempDir();
        var f = Path.Combine(dir, "a.txt");
        File.WriteAllText(f, "one");
        string k1 = StageCache.Key(["x", "1"], [f]);
        Assert.Equal(k1, StageCache.Key(["x", "1"], [f]));
        Assert.NotEqual(k1, StageCache.Key(["x", "2"], [f]));
        Assert.NotEqual(k1, StageCache.Key(["x1", ""], [f])); // parts are delimited, not concatenated
        File.WriteAllText(f, "two");
        Assert.NotEqual(k1, StageCache.Key(["x", "1"], [f]));
    }

    [Fact]
    public void FreshOnlyAfterSuccessWithTheSameKeyAndOutput()
    {
        var root = TestPaths.TempDir();
        var cache = new StageCache(root);
        var output = Path.Combine(root, "out");
        Assert.False(cache.IsFresh("s", "k", output));
        Directory.CreateDirectory(output);
        Assert.False(cache.IsFresh("s", "k", output));
        cache.MarkDone("s", "k");
        Assert.True(cache.IsFresh("s", "k", output));
        Assert.False(cache.IsFresh("s", "other", output));
        Directory.Delete(output);
        Assert.False(cache.IsFresh("s", "k", output));
        Directory.CreateDirectory(output);
        cache.Invalidate("s");
        Assert.False(cache.IsFresh("s", "k", output));
    }
}

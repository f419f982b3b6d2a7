using System.Text.Json;
using LearningCurves.Engine;
using LearningCurves.Runner.Commands;
using LearningCurves.Tests.Common;
using Xunit;
using LearningCurves.Formats;

namespace LearningCurves.Runner.Tests;

public class RegressCommandTests
{
    [Fact]
    public void Regress_writes_the_fixture_structure_with_matching_numbers()
    {
        var dir = TestPaths.SharedFixture("ols");
        var outFile = Path.Combine(TestPaths.TempDir(), "stats.json");
        int code = new RegressCommand().Run(["--table", Path.Combine(dir, "data.csv"), "--target", "surprisal,aoa",
            "--predictors", "unigram,ngram,context_loglen,context_logprob", "--out", outFile]);
        Assert.Equal(0, code);
        using var ours = JsonDocument.Parse(File.ReadAllText(outFile));
        using var expected = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "expected.json")));
        foreach (var target in new[] { "surprisal", "aoa" })
        {
            var e = expected.RootElement.GetProperty("targets").GetProperty(target);
            var o = ours.RootElement.GetProperty("targets").GetProperty(target);
            foreach (var key in new[] { "rsquared", "rsquared_adj", "llf" })
                AssertRel(e.GetProperty("full").GetProperty(key).GetDouble(), o.GetProperty("full").GetProperty(key).GetDouble(), $"{target}.full.{key}");
            for (int i = 0; i < 4; i++)
                AssertRel(e.GetProperty("sequential")[i].GetProperty("p").GetDouble(), o.GetProperty("sequential")[i].GetProperty("p").GetDouble(), $"{target}.sequential[{i}].p");
        }
        AssertRel(expected.RootElement.GetProperty("vif").GetProperty("ngram").GetDouble(), ours.RootElement.GetProperty("vif").GetProperty("ngram").GetDouble(), "vif.ngram");
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(outFile)!, "*.tmp"));
    }

    [Fact]
    public void Bad_tables_and_options_are_one_line_user_errors()
    {
        var tmp = TestPaths.TempDir();
        var csv = Path.Combine(tmp, "t.csv");
        var outFile = Path.Combine(tmp, "o.json");
        File.WriteAllText(csv, "y,x,name\n1,2,\"a, b\"\n2,oops,c\n");
        var e = Assert.Throws<UserError>(() => new RegressCommand().Run(["--table", csv, "--target", "y", "--predictors", "x", "--out", outFile]));
        Assert.Contains("line 3", e.Message, StringComparison.Ordinal);
        Assert.Contains(csv, e.Message, StringComparison.Ordinal);
        Assert.Throws<UserError>(() => new RegressCommand().Run(["--table", csv, "--target", "y", "--predictors", "z", "--out", outFile]));
        Assert.Throws<UserError>(() => new RegressCommand().Run(["--table", csv, "--target", "y", "--predictors", "x", "--out", outFile, "--bogus", "1"]));
        File.WriteAllText(csv, "y,x,w\n1,2,4\n2,3,6\n3,5,10\n4,4,8\n5,1,2\n");
        e = Assert.Throws<UserError>(() => new RegressCommand().Run(["--table", csv, "--target", "y", "--predictors", "x,w", "--out", outFile]));
        Assert.Contains("collinear", e.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(outFile));
    }

    private static void AssertRel(double expected, double actual, string what) =>
        Assert.True(Math.Abs(actual - expected) <= 1e-8 * Math.Abs(expected), $"{what}: expected {expected:R}, got {actual:R}");
}

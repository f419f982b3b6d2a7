using LearningCurves.Engine;
using LearningCurves.Runner.Cli;
using Xunit;

namespace LearningCurves.Runner.Tests;

public class ArgsTests
{
    [Fact]
    public void Parses_values_switches_and_equals_forms()
    {
        var a = Args.Parse("x", ["--model", "m", "--json", "--seq-len=64", "pos"], "json");
        Assert.Equal("m", a.Require("model"));
        Assert.True(a.Switch("json"));
        Assert.Equal(64, a.GetInt("seq-len", 0));
        a.RejectUnknown(maxPositional: 1);
        Assert.Equal(["pos"], a.Positional);
    }

    [Fact]
    public void Unknown_and_malformed_options_are_user_errors()
    {
        var a = Args.Parse("x", ["--modle", "m"]);
        Assert.Null(a.Get("model"));
        Assert.Contains("--modle", Assert.Throws<UserError>(() => a.RejectUnknown()).Message);
        Assert.Throws<UserError>(() => Args.Parse("x", ["--model"]));
        Assert.Throws<UserError>(() => Args.Parse("x", ["--n", "1.5"]).GetInt("n", 0));
        Assert.Throws<UserError>(() => Args.Parse("x", ["--b", "gpu"]).GetChoice("b", "cpu", "cpu", "cuda"));
    }

    [Fact]
    public void Every_command_has_a_unique_name_and_usage()
    {
        foreach (var (name, cmd) in Program.Commands)
        {
            Assert.Equal(name, cmd.Name);
            Assert.StartsWith(name, cmd.Usage, StringComparison.Ordinal);
        }
    }
}

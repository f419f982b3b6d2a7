using System.Text.RegularExpressions;
using LearningCurves.Engine;
using LearningCurves.Runner.Cli;
using LearningCurves.Runner.Commands;
using Xunit;
using LearningCurves.Formats;

namespace LearningCurves.Runner.Tests;

public class ArgsTests
{
    private static readonly CliOption[] Table =
    [
        new("model", "DIR", "m"), CliOption.Switch("json", "j"), new("seq-len", "N", "s"), new("n", "N", "n"), new("b", "X", "b"),
    ];

    [Fact]
    public void Parses_values_switches_and_equals_forms()
    {
        var a = Args.Parse("x", Table, ["--model", "m", "--json", "--seq-len=64", "pos"]);
        Assert.Equal("m", a.Require("model"));
        Assert.True(a.Switch("json"));
        Assert.Equal(64, a.GetInt("seq-len", 0));
        a.RejectUnknown(maxPositional: 1);
        Assert.Equal(["pos"], a.Positional);
    }

    [Fact]
    public void Unknown_and_malformed_options_are_user_errors()
    {
        var e = Assert.Throws<UserError>(() => Args.Parse("x", Table, ["--modle", "m"]));
        Assert.Contains("unknown option --modle; did you mean --model?", e.Message);
        Assert.Equal(2, e.ExitCode);
        Assert.Contains("--model needs a value", Assert.Throws<UserError>(() => Args.Parse("x", Table, ["--model"])).Message);
        Assert.Contains("--json takes no value", Assert.Throws<UserError>(() => Args.Parse("x", Table, ["--json=1"])).Message);
        Assert.Throws<UserError>(() => Args.Parse("x", Table, ["--n", "1.5"]).GetInt("n", 0));
        Assert.Throws<UserError>(() => Args.Parse("x", Table, ["--b", "gpu"]).GetChoice("b", "cpu", "cpu", "cuda"));
        // Declared but not read by this form of the command.
        var a = Args.Parse("x", Table, ["--b", "1"]);
        Assert.Contains("--b does not apply", Assert.Throws<UserError>(() => a.RejectUnknown()).Message);
    }

    [Fact]
    public void A_file_option_takes_the_positional_arguments_only_when_given()
    {
        var a = Args.Parse("x", Table, ["--model", "a.txt", "b.txt", "--model=c.txt", "d.txt"]);
        Assert.Equal(["a.txt", "c.txt", "b.txt", "d.txt"], a.GetFiles("model"));
        a.RejectUnknown();

        var none = Args.Parse("x", Table, ["stray.txt"]);
        Assert.Empty(none.GetFiles("model"));
        Assert.Contains("unexpected argument 'stray.txt'", Assert.Throws<UserError>(() => none.RejectUnknown()).Message);
    }

    [Fact]
    public void Reading_an_option_the_table_lacks_is_a_bug_not_a_user_error()
    {
        var a = Args.Parse("x", Table, []);
        Assert.Throws<InvalidOperationException>(() => a.Get("modle"));
    }

    [Theory]
    [InlineData("shards", "shard")]
    [InlineData("seqlen", "seq-len")]
    [InlineData("josn", "json")]
    [InlineData("MODEL", "model")]
    public void The_closest_known_name_is_suggested(string typo, string expected) =>
        Assert.Equal(expected, CliHelp.Closest(typo.ToLowerInvariant(), ["model", "json", "seq-len", "shard", "n"]));

    [Fact]
    public void Every_command_has_a_unique_name_and_usage()
    {
        foreach (var (name, cmd) in Program.Commands)
        {
            Assert.Equal(name, cmd.Name);
            Assert.StartsWith(name, cmd.Usage, StringComparison.Ordinal);
        }
    }

    /// <summary>The usage line and the option table say the same: every --name in one is in the other.</summary>
    [Fact]
    public void Usage_lines_and_option_tables_agree()
    {
        foreach (var cmd in Program.Commands.Values.Where(c => c is not BenchCommand))
        {
            var inUsage = Regex.Matches(cmd.Usage, @"--([a-z][a-z0-9-]*)").Select(m => m.Groups[1].Value).ToHashSet();
            var inTable = cmd.Options.Select(o => o.Name).ToHashSet();
            Assert.True(inUsage.SetEquals(inTable),
                $"{cmd.Name}: usage only: [{string.Join(' ', inUsage.Except(inTable))}]; table only: [{string.Join(' ', inTable.Except(inUsage))}]");
            Assert.Equal(cmd.Options.Count, inTable.Count);
            Assert.DoesNotContain("help", inTable);
        }
        foreach (var b in BenchCommand.Benchmarks.Values)
        {
            var names = b.Options.Select(o => o.Name).ToList();
            Assert.Equal(names.Count, names.Distinct().Count());
            Assert.DoesNotContain("help", names);
        }
    }
}

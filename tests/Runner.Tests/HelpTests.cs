using LearningCurves.Runner.Commands;
using Xunit;

namespace LearningCurves.Runner.Tests;

/// <summary>`learning-curves COMMAND --help | -h` and unknown options, through the real entry point.</summary>
public sealed class HelpTests
{
    public static TheoryData<string, string> CommandsAndFlags()
    {
        var d = new TheoryData<string, string>();
        foreach (var name in Program.Commands.Keys.Order(StringComparer.Ordinal))
        {
            d.Add(name, "--help");
            d.Add(name, "-h");
        }
        return d;
    }

    [Theory]
    [MemberData(nameof(CommandsAndFlags))]
    public void Every_command_answers_help_with_its_usage_and_a_line_per_option(string name, string flag)
    {
        var cmd = Program.Commands[name];
        // Help wins over anything else on the line, even options that would be errors.
        var (code, stdout, stderr) = Cli.Run(name, "--out", "x", flag);
        Assert.True(code == 0, $"{name} {flag}: exit {code}\n{stderr}");
        Assert.Equal("", stderr);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')).ToList();
        Assert.Equal($"usage: learning-curves {cmd.Usage}", lines[0]);
        var options = cmd is BenchCommand ? BenchCommand.Benchmarks.Values.SelectMany(b => b.Options).Append(new("list", null, "")) : cmd.Options;
        foreach (var o in options)
        {
            string head = o.IsSwitch ? $"  --{o.Name} " : $"  --{o.Name} {o.Value} ";
            Assert.True(lines.Any(l => l.StartsWith(head, StringComparison.Ordinal)), $"{name} --help has no line for --{o.Name}:\n{stdout}");
        }
        Assert.Contains(lines, l => l.StartsWith("  -h, --help ", StringComparison.Ordinal));
    }

    [Fact]
    public void Eval_set_help_is_not_taken_for_an_option_value()
    {
        var (code, stdout, _) = Cli.Run("eval-set", "--help");
        Assert.Equal(0, code);
        Assert.Contains("--per-sequence K|all", stdout);
    }

    [Theory]
    [InlineData("sweep", "--shards", "--shard")]
    [InlineData("eval-set", "--seqlen", "--seq-len")]
    [InlineData("metrics", "--lats", "--last")]
    [InlineData("score", "--modle", "--model")]
    [InlineData("analyze", "--no-generation", "--no-generate")]
    public void An_unknown_option_names_itself_and_the_closest_known_one(string command, string typo, string closest)
    {
        var (code, stdout, stderr) = Cli.Run(command, typo, "1");
        Assert.Equal(2, code);
        Assert.Equal("", stdout);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal($"learning-curves {command}: unknown option {typo}; did you mean {closest}? (learning-curves {command} --help lists them)", line.TrimEnd('\r'));
    }

    [Fact]
    public void A_benchmark_refuses_another_benchmarks_option_by_name()
    {
        var (code, _, stderr) = Cli.Run("bench", "ngrams", "--repeats", "2");
        Assert.Equal(2, code);
        Assert.Contains("learning-curves bench ngrams: unknown option --repeats", stderr);
    }

    [Fact]
    public void Bench_help_for_one_benchmark_lists_only_its_options()
    {
        var (code, stdout, _) = Cli.Run("bench", "sweep", "--help");
        Assert.Equal(0, code);
        Assert.Contains("bench sweep:", stdout);
        Assert.DoesNotContain("bench ngrams:", stdout);
        Assert.Contains("  --sequences N", stdout);
    }
}

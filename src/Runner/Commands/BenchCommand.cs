using LearningCurves.Engine;
using LearningCurves.Runner.Cli;
using LearningCurves.Formats;

namespace LearningCurves.Runner.Commands;

/// <summary>`learning-curves bench [NAME] [options]`: runs one benchmark (default: engine).</summary>
public sealed class BenchCommand : ICommand
{
    public static IReadOnlyDictionary<string, IBenchmark> Benchmarks { get; } = typeof(BenchCommand).Assembly.GetTypes()
        .Where(t => typeof(IBenchmark).IsAssignableFrom(t) && t is { IsAbstract: false, IsInterface: false })
        .Select(t => (IBenchmark)Activator.CreateInstance(t)!)
        .ToDictionary(b => b.Name, StringComparer.Ordinal);

    public string Name => "bench";

    public string Usage => "bench [engine|" + string.Join('|', Benchmarks.Keys.Where(k => k != "engine").Order(StringComparer.Ordinal))
        + "] [--list] [options of that benchmark]";

    private static readonly CliOption List = CliOption.Switch("list", "list the benchmarks, a line each");

    /// <summary>`--list` and every benchmark's options (the first declaration of a shared name).</summary>
    public IReadOnlyList<CliOption> Options { get; } =
        new[] { List }.Concat(Benchmarks.Values.OrderBy(b => b.Name, StringComparer.Ordinal).SelectMany(b => b.Options))
            .DistinctBy(o => o.Name).ToList();

    /// <summary>`bench --help` lists every benchmark's options under its name; `bench NAME --help` only that one's.</summary>
    public void WriteHelp(TextWriter w, string[] args)
    {
        ArgumentNullException.ThrowIfNull(w);
        var named = args.Where(a => Benchmarks.ContainsKey(a)).Select(a => Benchmarks[a]).Take(1).ToList();
        w.WriteLine($"usage: learning-curves {Usage}");
        w.WriteLine();
        CliHelp.WriteOptions(w, [List, CliOption.HelpOption]);
        foreach (var b in named.Count > 0 ? named : Benchmarks.Values.OrderBy(b => b.Name, StringComparer.Ordinal).ToList())
        {
            w.WriteLine();
            w.WriteLine($"bench {b.Name}: {b.Description}");
            CliHelp.WriteOptions(w, b.Options);
        }
    }

    public int Run(string[] args)
    {
        var a = Args.Parse(Name, Options, args);
        if (a.Switch("list"))
        {
            foreach (var b in Benchmarks.Values.OrderBy(b => b.Name, StringComparer.Ordinal))
                Console.WriteLine($"{b.Name,-10} {b.Description}");
            return 0;
        }
        string name = a.Positional.Count > 0 ? a.Positional[0] : "engine";
        if (!Benchmarks.TryGetValue(name, out var bench))
            throw new UserError($"bench: unknown benchmark '{name}' (known: {string.Join(", ", Benchmarks.Keys.Order(StringComparer.Ordinal))})");
        // Parsed again against that benchmark's own table, so an option of another benchmark is named as unknown here.
        return bench.Run(Args.Parse($"bench {name}", [.. bench.Options, List], args));
    }
}

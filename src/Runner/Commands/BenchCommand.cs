using LearningCurves.Engine;
using LearningCurves.Runner.Cli;

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

    public int Run(string[] args)
    {
        var a = Args.Parse(Name, args, "list", "json", "quick", "profile");
        if (a.Switch("list"))
        {
            foreach (var b in Benchmarks.Values.OrderBy(b => b.Name, StringComparer.Ordinal))
                Console.WriteLine($"{b.Name,-10} {b.Description}");
            return 0;
        }
        string name = a.Positional.Count > 0 ? a.Positional[0] : "engine";
        if (!Benchmarks.TryGetValue(name, out var bench))
            throw new UserError($"bench: unknown benchmark '{name}' (known: {string.Join(", ", Benchmarks.Keys.Order(StringComparer.Ordinal))})");
        return bench.Run(a);
    }
}

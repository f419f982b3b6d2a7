using System.Reflection;
using LearningCurves.Engine;
using LearningCurves.Runner.Cli;
using LearningCurves.Formats;

namespace LearningCurves.Runner;

public static class Program
{
    /// <summary>Every command in this assembly, by name.</summary>
    public static IReadOnlyDictionary<string, ICommand> Commands { get; } = typeof(Program).Assembly.GetTypes()
        .Where(t => typeof(ICommand).IsAssignableFrom(t) && t is { IsAbstract: false, IsInterface: false })
        .Select(t => (ICommand)Activator.CreateInstance(t)!)
        .ToDictionary(c => c.Name, StringComparer.Ordinal);

    public static int Main(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        if (args.Length == 0 || args[0] is "help" or "--help" or "-h")
        {
            PrintHelp(Console.Out);
            return args.Length == 0 ? 2 : 0;
        }
        if (args[0] is "--version")
        {
            Console.WriteLine(EngineInfo.Version);
            return 0;
        }
        if (!Commands.TryGetValue(args[0], out var command))
        {
            Console.Error.WriteLine($"learning-curves: unknown command '{args[0]}' (try 'learning-curves help')");
            return 2;
        }
        if (CliHelp.Asked(args[1..]))
        {
            command.WriteHelp(Console.Out, args[1..]);
            return 0;
        }
        try
        {
            return command.Run(args[1..]);
        }
        catch (UserError e)
        {
            Console.Error.WriteLine(Prefixed(command.Name, OneLine(e.Message)));
            return e.ExitCode;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // File system problems are the user's to fix (a missing folder, a full disk, permissions).
            Console.Error.WriteLine($"learning-curves {command.Name}: {OneLine(e.Message)}");
            return 2;
        }
    }

    private static string OneLine(string s) => s.ReplaceLineEndings(" | ");

    // "learning-curves sweep: problem", where the message may already begin "sweep: " or "bench ngrams: ".
    private static string Prefixed(string command, string message) =>
        message.StartsWith(command + ": ", StringComparison.Ordinal) || message.StartsWith(command + " ", StringComparison.Ordinal)
            ? $"learning-curves {message}"
            : $"learning-curves {command}: {message}";

    private static void PrintHelp(TextWriter w)
    {
        w.WriteLine($"learning-curves {EngineInfo.Version}: per-token learning curves of GPT-2-style checkpoints");
        w.WriteLine();
        foreach (var c in Commands.Values.OrderBy(c => c.Name, StringComparer.Ordinal))
            w.WriteLine($"  {c.Usage}");
    }
}

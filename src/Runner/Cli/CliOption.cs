namespace LearningCurves.Runner.Cli;

/// <summary>
/// One option of a command: <c>--Name VALUE</c> when <see cref="Value"/> names the value, a switch when it is null;
/// <see cref="Help"/> is its line in <c>--help</c>. A command's table is the whole truth: <see cref="Args"/> refuses
/// any other name on the command line, and a command that reads a name missing from its table is a bug.
/// </summary>
public sealed record CliOption(string Name, string? Value, string Help)
{
    public bool IsSwitch => Value is null;

    /// <summary>A switch: present or absent, no value.</summary>
    public static CliOption Switch(string name, string help) => new(name, null, help);

    /// <summary>`--backend auto|cpu|cuda` with its default.</summary>
    public static CliOption Backend(string fallback) =>
        new("backend", "auto|cpu|cuda", $"where the model runs; auto: CUDA when usable, else the CPU, saying why (default {fallback})");

    /// <summary>`--precision fp32|tf32|bf16` (default fp32).</summary>
    public static CliOption Precision { get; } =
        new("precision", "fp32|tf32|bf16", "arithmetic of the weight GEMMs: fp32, TF32 tensor cores, or bf16 weights (default fp32)");

    /// <summary>The options every command takes besides its own.</summary>
    public static CliOption HelpOption { get; } = Switch("help", "print this help and exit");
}

/// <summary>`--help` of one command: its usage line, then one line per option.</summary>
public static class CliHelp
{
    public static void Write(TextWriter w, string usage, IEnumerable<CliOption> options)
    {
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(options);
        w.WriteLine($"usage: learning-curves {usage}");
        w.WriteLine();
        WriteOptions(w, options.Append(CliOption.HelpOption));
    }

    /// <summary>One line per option, the help column aligned.</summary>
    public static void WriteOptions(TextWriter w, IEnumerable<CliOption> options)
    {
        ArgumentNullException.ThrowIfNull(w);
        var list = options.ToList();
        var heads = list.Select(o => o.Name == "help" ? "-h, --help" : o.IsSwitch ? $"--{o.Name}" : $"--{o.Name} {o.Value}").ToList();
        int width = Math.Min(36, heads.Max(h => h.Length) + 2);
        for (int i = 0; i < list.Count; i++)
        {
            string head = heads[i].Length + 2 > width ? heads[i] + "  " : heads[i].PadRight(width);
            w.WriteLine($"  {head}{list[i].Help}");
        }
    }

    /// <summary>True when the arguments ask for help (`--help` or `-h` anywhere).</summary>
    public static bool Asked(IEnumerable<string> args) => args.Any(a => a is "--help" or "-h");

    /// <summary>The known name closest to <paramref name="name"/> (edit distance, ties to the first in table order).</summary>
    public static string Closest(string name, IEnumerable<string> known)
    {
        ArgumentNullException.ThrowIfNull(name);
        string best = "help";
        int bestDistance = int.MaxValue;
        foreach (var k in known)
        {
            int d = Distance(name, k);
            if (d < bestDistance) (best, bestDistance) = (k, d);
        }
        return best;
    }

    // Levenshtein distance with adjacent transpositions counted as one edit (optimal string alignment).
    private static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (int j = 0; j <= b.Length; j++) d[0, j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            for (int j = 1; j <= b.Length; j++)
            {
                int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                int v = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) v = Math.Min(v, d[i - 2, j - 2] + 1);
                d[i, j] = v;
            }
        }
        return d[a.Length, b.Length];
    }
}

using System.Globalization;
using LearningCurves.Engine;

namespace LearningCurves.Runner.Cli;

/// <summary>
/// `--name value`, `--name=value` and boolean `--switch` options. Every option a command reads is marked as known;
/// <see cref="RejectUnknown"/> then refuses anything left, so a typo is an error rather than silently ignored.
/// </summary>
public sealed class Args
{
    private readonly Dictionary<string, List<string>> _values = new(StringComparer.Ordinal);
    private readonly HashSet<string> _switches = new(StringComparer.Ordinal);
    private readonly HashSet<string> _read = new(StringComparer.Ordinal);
    private readonly string _command;

    private Args(string command) => _command = command;

    /// <summary>Positional arguments (those not after an option name).</summary>
    public List<string> Positional { get; } = new();

    public static Args Parse(string command, string[] argv, params string[] switches)
    {
        ArgumentNullException.ThrowIfNull(argv);
        var a = new Args(command);
        var isSwitch = new HashSet<string>(switches, StringComparer.Ordinal);
        for (int i = 0; i < argv.Length; i++)
        {
            string arg = argv[i];
            if (arg.StartsWith("--", StringComparison.Ordinal) && arg.Length > 2)
            {
                string name = arg[2..];
                string? value = null;
                int eq = name.IndexOf('=', StringComparison.Ordinal);
                if (eq >= 0)
                {
                    value = name[(eq + 1)..];
                    name = name[..eq];
                }
                if (isSwitch.Contains(name))
                {
                    if (value is not null) throw new UserError($"{command}: --{name} takes no value");
                    a._switches.Add(name);
                    continue;
                }
                if (value is null)
                {
                    if (i + 1 >= argv.Length) throw new UserError($"{command}: --{name} needs a value");
                    value = argv[++i];
                }
                if (!a._values.TryGetValue(name, out var list)) a._values[name] = list = new List<string>();
                list.Add(value);
            }
            else
            {
                a.Positional.Add(arg);
            }
        }
        return a;
    }

    public bool Has(string name)
    {
        _read.Add(name);
        return _values.ContainsKey(name) || _switches.Contains(name);
    }

    public bool Switch(string name)
    {
        _read.Add(name);
        return _switches.Contains(name);
    }

    public string? Get(string name)
    {
        _read.Add(name);
        if (!_values.TryGetValue(name, out var list)) return null;
        if (list.Count > 1) throw new UserError($"{_command}: --{name} given {list.Count} times");
        return list[0];
    }

    public string Get(string name, string fallback) => Get(name) ?? fallback;

    public IReadOnlyList<string> GetAll(string name)
    {
        _read.Add(name);
        return _values.TryGetValue(name, out var list) ? list : Array.Empty<string>();
    }

    public string Require(string name) =>
        Get(name) ?? throw new UserError($"{_command}: --{name} is required");

    public int GetInt(string name, int fallback, int min = int.MinValue, int max = int.MaxValue)
    {
        var s = Get(name);
        if (s is null) return fallback;
        if (!int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) || v < min || v > max)
            throw new UserError($"{_command}: --{name} must be an integer in {min}..{max} (got '{s}')");
        return v;
    }

    public double GetDouble(string name, double fallback)
    {
        var s = Get(name);
        if (s is null) return fallback;
        if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || !double.IsFinite(v))
            throw new UserError($"{_command}: --{name} must be a number (got '{s}')");
        return v;
    }

    /// <summary>One of <paramref name="choices"/>, or <paramref name="fallback"/> when absent.</summary>
    public string GetChoice(string name, string fallback, params string[] choices)
    {
        var s = Get(name) ?? fallback;
        if (Array.IndexOf(choices, s) < 0)
            throw new UserError($"{_command}: --{name} must be one of {string.Join('|', choices)} (got '{s}')");
        return s;
    }

    /// <summary>Refuses options that no part of the command read, and positional arguments beyond <paramref name="maxPositional"/>.</summary>
    public void RejectUnknown(int maxPositional = 0)
    {
        foreach (var name in _values.Keys.Concat(_switches))
        {
            if (!_read.Contains(name)) throw new UserError($"{_command}: unknown option --{name}");
        }
        if (Positional.Count > maxPositional)
            throw new UserError($"{_command}: unexpected argument '{Positional[maxPositional]}'");
    }
}

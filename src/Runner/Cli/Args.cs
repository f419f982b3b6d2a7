using System.Globalization;
using LearningCurves.Engine;
using LearningCurves.Formats;

namespace LearningCurves.Runner.Cli;

/// <summary>
/// `--name value`, `--name=value` and boolean `--switch` options, against the command's table of
/// <see cref="CliOption"/>s: a name not in the table is refused at once, naming the closest one that is, so a typo is
/// an error rather than silently ignored. Every option a command reads is marked as read; <see cref="RejectUnknown"/>
/// refuses the table's options that this form of the command does not use.
/// </summary>
public sealed class Args
{
    private readonly Dictionary<string, List<string>> _values = new(StringComparer.Ordinal);
    private readonly HashSet<string> _switches = new(StringComparer.Ordinal);
    private readonly HashSet<string> _read = new(StringComparer.Ordinal);
    private readonly HashSet<string> _declared;
    private readonly string _command;
    private bool _positionalRead;

    private Args(string command, HashSet<string> declared) => (_command, _declared) = (command, declared);

    /// <summary>Positional arguments (those not after an option name).</summary>
    public List<string> Positional { get; } = new();

    public static Args Parse(string command, IReadOnlyList<CliOption> options, string[] argv)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(argv);
        var a = new Args(command, new HashSet<string>(options.Select(o => o.Name), StringComparer.Ordinal));
        var isSwitch = new HashSet<string>(options.Where(o => o.IsSwitch).Select(o => o.Name), StringComparer.Ordinal);
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
                if (!a._declared.Contains(name))
                {
                    throw new UserError($"{command}: unknown option --{name}; did you mean --{CliHelp.Closest(name, options.Select(o => o.Name))}? "
                        + $"(learning-curves {command} --help lists them)");
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

    // A command reading a name its table lacks is a bug in the command, not the user's error.
    private void MarkRead(string name)
    {
        if (!_declared.Contains(name))
            throw new InvalidOperationException($"{_command} reads --{name}, which its option table does not declare");
        _read.Add(name);
    }

    public bool Has(string name)
    {
        MarkRead(name);
        return _values.ContainsKey(name) || _switches.Contains(name);
    }

    public bool Switch(string name)
    {
        MarkRead(name);
        return _switches.Contains(name);
    }

    public string? Get(string name)
    {
        MarkRead(name);
        if (!_values.TryGetValue(name, out var list)) return null;
        if (list.Count > 1) throw new UserError($"{_command}: --{name} given {list.Count} times");
        return list[0];
    }

    public string Get(string name, string fallback) => Get(name) ?? fallback;

    public IReadOnlyList<string> GetAll(string name)
    {
        MarkRead(name);
        return _values.TryGetValue(name, out var list) ? list : Array.Empty<string>();
    }

    /// <summary>A repeatable option of files that also takes several after one name (`--text a.txt b.txt`): the values
    /// given, then, when there is one, every positional argument (the files after the first), which
    /// <see cref="RejectUnknown"/> then accepts.</summary>
    public List<string> GetFiles(string name)
    {
        var files = GetAll(name).ToList();
        if (files.Count > 0)
        {
            files.AddRange(Positional);
            _positionalRead = true;
        }
        return files;
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

    /// <summary>Refuses options of the table that no part of the command read (they belong to another form of it), and
    /// positional arguments beyond <paramref name="maxPositional"/> unless <see cref="GetFiles"/> took them.</summary>
    public void RejectUnknown(int maxPositional = 0)
    {
        foreach (var name in _values.Keys.Concat(_switches))
        {
            if (!_read.Contains(name)) throw new UserError($"{_command}: --{name} does not apply to this form of the command");
        }
        if (!_positionalRead && Positional.Count > maxPositional)
            throw new UserError($"{_command}: unexpected argument '{Positional[maxPositional]}'");
    }
}

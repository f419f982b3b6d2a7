namespace LearningCurves.Runner.Cli;

/// <summary>One `learning-curves` sub-command. Commands are found by reflection, so adding one is adding a class.</summary>
public interface ICommand
{
    /// <summary>The word after `learning-curves`.</summary>
    string Name { get; }

    /// <summary>One usage line, shown by `learning-curves help`.</summary>
    string Usage { get; }

    /// <summary>Every option the command takes (`--help` aside), in the order its help lists them.</summary>
    IReadOnlyList<CliOption> Options { get; }

    /// <summary>`learning-curves NAME --help`: the usage line and one line per option.</summary>
    void WriteHelp(TextWriter w, string[] args) => CliHelp.Write(w, Usage, Options);

    /// <summary>Runs with the arguments after the command name; returns the exit code.</summary>
    int Run(string[] args);
}

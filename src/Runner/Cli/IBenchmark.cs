namespace LearningCurves.Runner.Cli;

/// <summary>One `learning-curves bench NAME` benchmark. Found by reflection like commands; each reads its own options.</summary>
public interface IBenchmark
{
    /// <summary>The word after `bench` (e.g. engine, metrics, ngrams, sweep).</summary>
    string Name { get; }

    /// <summary>One line for `learning-curves bench --list`.</summary>
    string Description { get; }

    /// <summary>Every option the benchmark takes, in the order `bench NAME --help` lists them.</summary>
    IReadOnlyList<CliOption> Options { get; }

    /// <summary>Reads its options, calls <c>args.RejectUnknown(maxPositional: 1)</c>, then runs and prints its figures; returns the exit code.</summary>
    int Run(Args args);
}

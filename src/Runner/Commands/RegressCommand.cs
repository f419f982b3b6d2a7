using LearningCurves.Analysis.Statistics;
using LearningCurves.Engine;
using LearningCurves.Runner.Cli;
using LearningCurves.Formats;

namespace LearningCurves.Runner.Commands;

/// <summary>`learning-curves regress`: the analysis's regressions (full, single, sequential LR tests, VIFs) on any CSV table.</summary>
public sealed class RegressCommand : ICommand
{
    public string Name => "regress";

    public string Usage => "regress --table FILE.csv --target COL[,COL...] --predictors A,B,... --out FILE.json";

    public IReadOnlyList<CliOption> Options { get; } =
    [
        new("table", "FILE.csv", "the table to fit (required)"),
        new("target", "COL[,COL...]", "response column(s), one fit each (required)"),
        new("predictors", "A,B,...", "predictor columns, entered in this order (required)"),
        new("out", "FILE.json", "coefficients, sequential likelihood-ratio tests and VIFs (required)"),
    ];

    public int Run(string[] args)
    {
        var a = Args.Parse(Name, Options, args);
        string table = a.Require("table");
        var targets = SplitList(a.Require("target"), "target");
        var predictors = SplitList(a.Require("predictors"), "predictors");
        string output = a.Require("out");
        a.RejectUnknown();

        var columns = NumericCsv.ReadColumns(table, targets.Concat(predictors).Distinct(StringComparer.Ordinal).ToArray());
        RegressionReport report;
        try
        {
            report = RegressionAnalysis.Run(columns, targets, predictors);
        }
        catch (ArgumentException e)
        {
            // Collinear or constant columns, too few complete rows, a column named twice: all problems of this table.
            throw UserError.InFile(table, e.Message);
        }
        RegressionJson.WriteFile(report, output);
        foreach (var t in report.Targets)
            Console.WriteLine($"{t.Target}: n={t.N} R^2={t.Full.RSquared:F4} adj R^2={t.Full.RSquaredAdj:F4}");
        Console.WriteLine($"wrote {output}");
        return 0;
    }

    private string[] SplitList(string value, string option)
    {
        var items = value.Split(',', StringSplitOptions.TrimEntries);
        if (items.Any(s => s.Length == 0)) throw new UserError($"{Name}: --{option} has an empty name in '{value}'");
        return items;
    }
}

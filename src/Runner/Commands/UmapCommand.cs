using LearningCurves.Analysis.Umap;
using LearningCurves.Formats;
using LearningCurves.Runner.Cli;

namespace LearningCurves.Runner.Commands;

/// <summary>`learning-curves umap`: the 2-D UMAP embedding of a metrics folder's smoothed curves (umap.npy beside them).</summary>
public sealed class UmapCommand : ICommand
{
    public string Name => "umap";

    public string Usage => "umap --metrics DIR [--layout checkpoints-first|examples-first] [--seed S] [--neighbors K] [--min-dist X] [--epochs N]";

    public IReadOnlyList<CliOption> Options { get; } =
    [
        new("metrics", "DIR", "a metrics folder (examples.csv + smoothed.npy); umap.npy is written there (required)"),
        new("layout", "checkpoints-first|examples-first", "axis order of smoothed.npy when both axes have the examples count (default checkpoints-first)"),
        new("seed", "S", "seed of the neighbour search and the layout (default 0)"),
        new("neighbors", "K", "k of the nearest-neighbour graph (default 15)"),
        new("min-dist", "X", "minimum distance of embedded points (default 0.1)"),
        new("epochs", "N", "layout epochs (default 500 up to 10,000 curves, else 200)"),
    ];

    public int Run(string[] args)
    {
        var a = Args.Parse(Name, Options, args);
        string dir = a.Require("metrics");
        bool examplesFirst = a.GetChoice("layout", "checkpoints-first", "checkpoints-first", "examples-first") == "examples-first";
        int seed = a.GetInt("seed", 0, 0);
        var o = new UmapOptions
        {
            Seed = (ulong)seed,
            Neighbors = a.GetInt("neighbors", 15, 2, 200),
            MinDist = a.GetDouble("min-dist", 0.1),
            Epochs = a.Has("epochs") ? a.GetInt("epochs", 200, 1, 100_000) : null,
        };
        a.RejectUnknown();
        if (!(o.MinDist >= 0)) throw new UserError($"umap: --min-dist must be >= 0 (got {o.MinDist})");
        string examplesCsv = Path.Combine(dir, "examples.csv");
        if (!File.Exists(examplesCsv)) throw UserError.InFile(examplesCsv, "missing: run `metrics` into this folder first");
        int examples = File.ReadLines(examplesCsv).Skip(1).Count(l => l.Length > 0);
        CurveEmbedding.Run(dir, examples, examplesFirst, o, Console.Out);
        return 0;
    }
}

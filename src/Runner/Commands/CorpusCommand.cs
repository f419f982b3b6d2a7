using LearningCurves.Runner.Cli;
using LearningCurves.Training;
using LearningCurves.Training.Corpus;

namespace LearningCurves.Runner.Commands;

/// <summary>`learning-curves corpus`: cleans and splits a folder of documents into train/held-out text.</summary>
public sealed class CorpusCommand : ICommand
{
    public string Name => "corpus";

    public string Usage => "corpus [--source DIR (default: the SOTU data fetched by build.ps1 setup)] [--heldout-every 10] --out DIR";

    public IReadOnlyList<CliOption> Options { get; } =
    [
        SharedOptions.SotuSource,
        new("heldout-every", "N", "every N-th address goes to the held-out split (default 10)"),
        new("out", "DIR", "where train.txt, heldout.txt and manifest.json go (required)"),
    ];

    public int Run(string[] args)
    {
        var a = Args.Parse(Name, Options, args);
        var source = a.Get("source");
        string src = source ?? DataCache.SotuData;
        int every = a.GetInt("heldout-every", 10, 2);
        var outDir = a.Require("out");
        a.RejectUnknown();
        var s = CorpusBuilder.Build(src, outDir, every, source is null ? DataCache.SotuPackage : null);
        Console.WriteLine($"corpus: {s.TrainDocuments} training documents ({s.TrainLines:N0} lines, {s.TrainChars:N0} chars), " +
                          $"{s.HeldOutDocuments} held out ({s.HeldOutLines:N0} lines, {s.HeldOutChars:N0} chars) -> {outDir}");
        return 0;
    }
}

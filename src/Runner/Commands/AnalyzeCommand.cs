using LearningCurves.Analysis.Report;
using LearningCurves.Engine;
using LearningCurves.Engine.Generation;
using LearningCurves.Kernels;
using LearningCurves.Runner.Cli;

namespace LearningCurves.Runner.Commands;

/// <summary>`learning-curves analyze`: the whole analysis of a sweep into tables, stats, figures and report.html.</summary>
public sealed class AnalyzeCommand : ICommand
{
    public string Name => "analyze";

    public string Usage => "analyze --sweep DIR (--train-text FILE... | --train-ids FILE) --out DIR [--eval-set DIR] [--tokenizer DIR] " +
                           "[--chance-bits X | --vocab-size V] [--last K] [--prune-ngrams] [--no-generate] [--gen-prompts N] " +
                           "[--temperature 0.3] [--max-tokens 128] [--seed S] [--backend auto|cpu|cuda] [--precision fp32|tf32|bf16]";

    public int Run(string[] args)
    {
        var a = Args.Parse(Name, args, "prune-ngrams", "no-generate");
        string sweep = a.Require("sweep");
        string outDir = a.Require("out");
        var trainText = a.GetAll("train-text").ToList();
        string? trainIds = a.Get("train-ids");
        // `--train-text a.txt b.txt`: the files after the first arrive as positional arguments.
        if (trainText.Count > 0) trainText.AddRange(a.Positional);
        string? evalSet = a.Get("eval-set");
        string? tokenizer = a.Get("tokenizer");
        bool hasChance = a.Has("chance-bits"), hasVocab = a.Has("vocab-size");
        double chanceBits = a.GetDouble("chance-bits", double.NaN);
        int vocab = a.GetInt("vocab-size", 0, 2);
        int last = a.GetInt("last", 11, 1);
        bool prune = a.Switch("prune-ngrams");
        bool noGenerate = a.Switch("no-generate");
        var generation = GenerateAlongCommand.ReadOptions(a, Name, sweep) with { KeepCurrent = true };
        var (backendName, precision) = GenerateAlongCommand.ReadBackend(a);
        a.RejectUnknown(maxPositional: trainText.Count > 0 ? a.Positional.Count : 0);
        if (hasChance && hasVocab) throw new UserError("analyze: give --chance-bits or --vocab-size, not both");

        var options = new AnalyzeOptions
        {
            SweepDir = sweep,
            OutDir = outDir,
            TrainText = trainText,
            TrainIds = trainIds,
            EvalSetDir = evalSet,
            TokenizerDir = tokenizer,
            ChanceBits = hasChance ? chanceBits : hasVocab ? Math.Log2(vocab) : null,
            Last = last,
            PruneNGrams = prune,
            Generation = !noGenerate,
        };
        Analyzer.Check(options);
        if (!noGenerate)
        {
            // The engine stage first: each run's generations.jsonl, kept when it already holds these settings'
            // text; Analysis then reads the files and never loads a model.
            var stage = GenerationStage.Run(generation, () => BackendFactory.Create(backendName, precision, Console.Error), Console.Error);
            options = options with { GenerationNotes = stage.Notes, GenerationRuns = [.. stage.Written, .. stage.Kept] };
        }
        Analyzer.Run(options, Console.Error);
        Console.WriteLine(Path.Combine(outDir, ReportWriter.HtmlFile));
        return 0;
    }
}

using LearningCurves.Analysis.Report;
using LearningCurves.Engine;
using LearningCurves.Engine.Generation;
using LearningCurves.Kernels;
using LearningCurves.Runner.Cli;
using LearningCurves.Formats;

namespace LearningCurves.Runner.Commands;

/// <summary>`learning-curves analyze`: the whole analysis of a sweep into tables, stats, figures and report.html.</summary>
public sealed class AnalyzeCommand : ICommand
{
    public string Name => "analyze";

    public string Usage => "analyze --sweep DIR (--train-text FILE... | --train-ids FILE) --out DIR [--eval-set DIR] [--tokenizer DIR] " +
                           "[--chance-bits X | --vocab-size V] [--last K] [--prune-ngrams] [--keep-duplicates] [--no-generate] [--no-umap] [--gen-prompts N] " +
                           "[--temperature 0.3] [--max-tokens 128] [--seed S] [--backend auto|cpu|cuda] [--precision fp32|tf32|bf16]";

    public IReadOnlyList<CliOption> Options { get; } =
    [
        new("sweep", "DIR", "the sweep's output folder: DIR/<run>/surprisal.npy, steps.npy, manifest.json (required)"),
        new("train-text", "FILE...", "training-corpus text files, tokenized with the eval set's tokenizer (repeatable; or --train-ids)"),
        new("train-ids", "FILE", "training corpus as token ids: .npy int32 (N, T) or one sequence of ids per line"),
        new("out", "DIR", "where the metrics, examples.csv, stats.json, plots and report.html go (required)"),
        new("eval-set", "DIR", "the eval set (default: the one the sweep's manifests name)"),
        new("tokenizer", "DIR", "tokenizer folder for token texts and --train-text (default: the eval set's)"),
        new("chance-bits", "X", "chance surprisal in bits for age of acquisition (or --vocab-size)"),
        new("vocab-size", "V", "chance = log2(V); V is the tokenizer's real vocabulary (default 50257)"),
        SharedOptions.Last,
        CliOption.Switch("prune-ngrams", "prune rare n-grams as the paper does (off by default)"),
        SharedOptions.KeepDuplicates,
        CliOption.Switch("no-generate", "skip text generation along training"),
        CliOption.Switch("no-umap", "skip the UMAP embedding of the curves (metrics/umap.npy and its plots)"),
        new("gen-prompts", "N", "prompts for generation along training (default 8)"),
        new("temperature", "T", "sampling temperature for generation (default 0.3)"),
        SharedOptions.MaxTokens,
        SharedOptions.SamplingSeed,
        .. BackendChoice.Options("auto"),
    ];

    public int Run(string[] args)
    {
        var a = Args.Parse(Name, Options, args);
        string sweep = a.Require("sweep");
        string outDir = a.Require("out");
        var trainText = a.GetFiles("train-text");
        string? trainIds = a.Get("train-ids");
        string? evalSet = a.Get("eval-set");
        string? tokenizer = a.Get("tokenizer");
        bool hasChance = a.Has("chance-bits"), hasVocab = a.Has("vocab-size");
        double chanceBits = a.GetDouble("chance-bits", double.NaN);
        int vocab = a.GetInt("vocab-size", 0, 2);
        int last = SharedOptions.ReadLast(a);
        bool prune = a.Switch("prune-ngrams");
        bool noGenerate = a.Switch("no-generate");
        bool noUmap = a.Switch("no-umap");
        bool keepDuplicates = a.Switch("keep-duplicates");
        var generation = GenerateAlongCommand.ReadOptions(a, Name, sweep) with { KeepCurrent = true };
        var (backendName, precision) = GenerateAlongCommand.ReadBackend(a);
        a.RejectUnknown();
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
            Umap = !noUmap,
            KeepDuplicates = keepDuplicates,
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

using LearningCurves.Analysis.Report;
using LearningCurves.Engine;
using LearningCurves.Engine.Model;
using LearningCurves.Kernels;
using LearningCurves.Runner.Cli;

namespace LearningCurves.Runner.Commands;

/// <summary>`learning-curves analyze`: the whole analysis of a sweep into tables, stats, figures and report.html.</summary>
public sealed class AnalyzeCommand : ICommand
{
    public string Name => "analyze";

    public string Usage => "analyze --sweep DIR (--train-text FILE... | --train-ids FILE) --out DIR [--eval-set DIR] [--tokenizer DIR] " +
                           "[--chance-bits X | --vocab-size V] [--last K] [--prune-ngrams] [--keep-duplicates] [--no-generate] [--gen-prompts N] " +
                           "[--temperature 0.3] [--max-tokens 128] [--seed S] [--backend auto|cpu|cuda] [--precision fp32|tf32|bf16]";

    public int Run(string[] args)
    {
        var a = Args.Parse(Name, args, "prune-ngrams", "no-generate", "keep-duplicates");
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
        bool keepDuplicates = a.Switch("keep-duplicates");
        int prompts = a.GetInt("gen-prompts", 8, 1, 4096);
        double temperature = a.GetDouble("temperature", 0.3);
        int maxTokens = a.GetInt("max-tokens", 128, 1, 1 << 20);
        int seed = a.GetInt("seed", 0);
        string backendName = a.GetChoice("backend", "auto", "auto", "cpu", "cuda");
        var precision = BackendFactory.ParsePrecision(a.GetChoice("precision", "fp32", "fp32", "tf32", "bf16"));
        a.RejectUnknown(maxPositional: trainText.Count > 0 ? a.Positional.Count : 0);
        if (hasChance && hasVocab) throw new UserError("analyze: give --chance-bits or --vocab-size, not both");
        if (temperature < 0) throw new UserError("analyze: --temperature must be >= 0");

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
            KeepDuplicates = keepDuplicates,
            Backend = noGenerate ? null : () => BackendFactory.Create(backendName, precision, Console.Error),
            Generation = new GenerationOptions { Temperature = temperature, MaxTokens = maxTokens, Seed = seed },
            GenerationPrompts = prompts,
        };
        Analyzer.Run(options, Console.Error);
        Console.WriteLine(Path.Combine(outDir, ReportWriter.HtmlFile));
        return 0;
    }
}

using System.Globalization;
using LearningCurves.Engine;
using LearningCurves.Runner.Cli;
using LearningCurves.Training;
using LearningCurves.Formats.Tokenization;
using LearningCurves.Formats;

namespace LearningCurves.Runner.Commands;

/// <summary>`learning-curves pretrain`: a suite of small GPT-2 runs, one per seed, with scheduled checkpoints.</summary>
public sealed class PretrainCommand : ICommand
{
    public string Name => "pretrain";

    public string Usage => "pretrain --corpus DIR --config NAME|FILE --seeds 0,1,2 --steps N --schedule exponential|log|linear " +
                           "--checkpoints K --out DIR [--batch 16] [--lr 3e-3] [--warmup 50] [--weight-decay 0.1] [--clip 1] [--tokenizer DIR] [--full-vocab]";

    public IReadOnlyList<CliOption> Options { get; } =
    [
        new("corpus", "DIR", "corpus folder made by `corpus` (required)"),
        new("config", "NAME|FILE", "model configuration: a built-in name or a config.json (required)"),
        new("seeds", "LIST", "comma-separated seeds, one run each (required)"),
        new("steps", "N", "training steps per run (required)"),
        new("schedule", "exponential|log|linear", "spacing of the saved checkpoints (default exponential)"),
        new("checkpoints", "K", "checkpoints saved per run (required)"),
        new("out", "DIR", "suite folder: run-<seed>/checkpoint-<step>/ (required)"),
        new("batch", "N", "batch in sequences (default 16)"),
        new("lr", "X", "peak learning rate (default 3e-3)"),
        new("warmup", "N", "warm-up steps (default 50)"),
        new("weight-decay", "X", "AdamW weight decay (default 0.1)"),
        new("clip", "X", "gradient-norm clip (default 1)"),
        SharedOptions.Gpt2Tokenizer,
        CliOption.Switch("full-vocab", "train on the whole tokenizer vocabulary, not only the ids the corpus uses"),
    ];

    public int Run(string[] args)
    {
        var a = Args.Parse(Name, Options, args);
        var options = ReadOptions(a);
        var tok = LoadTokenizer(SharedOptions.ReadGpt2Tokenizer(a));
        a.RejectUnknown();
        var trainer = new Pretrainer(options, tok, Console.Out);
        var manifest = trainer.Run();
        Console.WriteLine($"pretrain: {options.Seeds.Length} runs x {trainer.StepsToSave.Length} checkpoints -> {options.OutDir} ({manifest})");
        return 0;
    }

    internal static PretrainOptions ReadOptions(Args a)
    {
        var configName = a.Require("config");
        var seeds = ParseSeeds(a.Require("seeds"));
        return new PretrainOptions
        {
            CorpusDir = a.Require("corpus"),
            Config = ModelPresets.Resolve(configName),
            ConfigSource = configName,
            Seeds = seeds,
            Steps = a.Has("steps") ? a.GetInt("steps", 0, 1) : throw new UserError("pretrain: --steps is required"),
            Schedule = CheckpointSchedule.Parse(a.Get("schedule", "exponential")),
            Checkpoints = a.Has("checkpoints") ? a.GetInt("checkpoints", 0, 1) : throw new UserError("pretrain: --checkpoints is required"),
            OutDir = a.Require("out"),
            BatchSize = a.GetInt("batch", 16, 1, 4096),
            CompactVocabulary = !a.Switch("full-vocab"),
            Optimizer = new OptimizerSettings
            {
                LearningRate = (float)a.GetDouble("lr", 3e-3),
                WarmupSteps = a.GetInt("warmup", 50, 0),
                WeightDecay = (float)a.GetDouble("weight-decay", 0.1),
                ClipNorm = (float)a.GetDouble("clip", 1.0),
            },
        };
    }

    internal static int[] ParseSeeds(string text)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0) throw new UserError("pretrain: --seeds lists no seed");
        return parts.Select(p => int.TryParse(p, NumberStyles.Integer, CultureInfo.InvariantCulture, out int s) && s >= 0
            ? s : throw new UserError($"pretrain: --seeds must be non-negative integers separated by commas (got '{p}')")).ToArray();
    }

    /// <summary>GPT-2's tokenizer from a folder with vocab.json + merges.txt (<see cref="SharedOptions.ReadGpt2Tokenizer"/>).</summary>
    internal static TokenizerSpec LoadTokenizer(string dir)
    {
        if (!File.Exists(Path.Combine(dir, Gpt2Tokenizer.VocabFile)) || !File.Exists(Path.Combine(dir, Gpt2Tokenizer.MergesFile)))
            throw UserError.InFile(dir, "no vocab.json + merges.txt here (run: dotnet pwsh ./build.ps1 setup, or pass --tokenizer DIR)");
        var t = Gpt2Tokenizer.FromFolder(dir);
        int eot = t.EndOfTextId ?? throw UserError.InFile(dir, "the vocabulary has no <|endoftext|> token");
        return new TokenizerSpec(t.Encode, eot, t.VocabSize, $"GPT-2 byte-level BPE from {Path.GetFullPath(dir)}", dir);
    }
}

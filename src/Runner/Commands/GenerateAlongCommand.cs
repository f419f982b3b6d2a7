using LearningCurves.Engine;
using LearningCurves.Engine.Backends;
using LearningCurves.Engine.Generation;
using LearningCurves.Engine.Model;
using LearningCurves.Formats;
using LearningCurves.Kernels;
using LearningCurves.Runner.Cli;
using LearningCurves.Formats.Runs;

namespace LearningCurves.Runner.Commands;

/// <summary>
/// `learning-curves generate-along`: generation along training, the engine stage `analyze` reports on. For each run
/// of a sweep it continues prompts from the eval set at the checkpoints nearest each power of ten of the step count
/// and writes SWEEP/NAME/generations.jsonl next to the run's curve file.
/// </summary>
public sealed class GenerateAlongCommand : ICommand
{
    public string Name => "generate-along";

    public string Usage => "generate-along --sweep DIR [--run NAME]... [--eval-set DIR] [--tokenizer DIR] [--gen-prompts 8] [--temperature 0.3] " +
                           "[--max-tokens 128] [--seed S] [--keep-current] [--backend auto|cpu|cuda] [--precision fp32|tf32|bf16]";

    public IReadOnlyList<CliOption> Options { get; } =
    [
        new("sweep", "DIR", "the sweep's output folder; writes DIR/NAME/generations.jsonl (required)"),
        new("run", "NAME", "only this run (repeatable; default: every run)"),
        new("eval-set", "DIR", "prompts come from this eval set (default: the one the sweep's manifests name)"),
        new("tokenizer", "DIR", "tokenizer for the texts (default: the eval set's)"),
        new("gen-prompts", "N", "prompts per checkpoint (default 8)"),
        new("temperature", "T", "sampling temperature (default 0.3)"),
        SharedOptions.MaxTokens,
        SharedOptions.SamplingSeed,
        CliOption.Switch("keep-current", "keep a run's generations.jsonl when it was made with these settings"),
        .. BackendChoice.Options("auto"),
    ];

    public int Run(string[] args)
    {
        var a = Args.Parse(Name, Options, args);
        var options = ReadOptions(a, Name, a.Require("sweep"));
        var runs = a.GetAll("run").ToList();
        bool keep = a.Switch("keep-current");
        var (backendName, precision) = ReadBackend(a);
        a.RejectUnknown();
        options = options with { Runs = runs.Count > 0 ? runs : null, KeepCurrent = keep };
        var result = GenerationStage.Run(options, () => BackendFactory.Create(backendName, precision, Console.Error), Console.Error);
        foreach (var note in result.Notes) Console.Error.WriteLine($"generate-along: {note}");
        foreach (var run in result.Written.Concat(result.Kept)) Console.WriteLine(Path.Combine(options.SweepDir, run, SweepFolder.GenerationsFile));
        return 0;
    }

    /// <summary>The generation flags `generate-along` and `analyze` share, with their defaults.</summary>
    internal static GenerationStageOptions ReadOptions(Args a, string command, string sweep)
    {
        int prompts = a.GetInt("gen-prompts", 8, 1, 4096);
        double temperature = a.GetDouble("temperature", 0.3);
        int maxTokens = a.GetInt("max-tokens", 128, 1, 1 << 20);
        int seed = SharedOptions.ReadSamplingSeed(a);
        if (temperature < 0) throw new UserError($"{command}: --temperature must be >= 0");
        return new GenerationStageOptions
        {
            SweepDir = sweep,
            EvalSetDir = a.Get("eval-set"),
            TokenizerDir = a.Get("tokenizer"),
            Generation = new GenerationOptions { Temperature = temperature, MaxTokens = maxTokens, Seed = seed },
            Prompts = prompts,
            // Before any generations file is written: each model's weights and the longest sequence must fit the card.
            CheckFits = BatchSizing.CheckFits,
        };
    }

    internal static (string Backend, Precision Precision) ReadBackend(Args a) => BackendChoice.Read(a, "auto");
}

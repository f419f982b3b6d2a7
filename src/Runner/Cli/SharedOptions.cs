using LearningCurves.Training;

namespace LearningCurves.Runner.Cli;

/// <summary>Options that several commands (or benchmarks) take with one meaning and one help line: each declared once
/// here, with its reader where they read it alike, as <see cref="BackendChoice"/> does for `--backend` and `--precision`.</summary>
public static class SharedOptions
{
    /// <summary>`--model DIR` (generate, score).</summary>
    public static CliOption Model { get; } = new("model", "DIR", "checkpoint folder (config.json + model.safetensors) (required)");

    /// <summary>`--last K` (metrics, analyze): the late-training checkpoints the final surprisal averages.</summary>
    public static CliOption Last { get; } = new("last", "K", "final surprisal averages the last K checkpoints (default 11)");

    public static int ReadLast(Args a)
    {
        ArgumentNullException.ThrowIfNull(a);
        return a.GetInt("last", 11, 1);
    }

    /// <summary>`--keep-duplicates` (metrics, analyze).</summary>
    public static CliOption KeepDuplicates { get; } =
        CliOption.Switch("keep-duplicates", "keep checkpoint rows the sweep marked duplicate_of (left out by default)");

    /// <summary>`--threads N` (metrics, bench metrics).</summary>
    public static CliOption Threads { get; } = new("threads", "N", "worker threads (default: the processor count)");

    public static int ReadThreads(Args a)
    {
        ArgumentNullException.ThrowIfNull(a);
        return a.GetInt("threads", Environment.ProcessorCount, 1, 1024);
    }

    /// <summary>`--max-tokens N` (generate, generate-along, analyze); generate alone also takes 0.</summary>
    public static CliOption MaxTokens { get; } = new("max-tokens", "N", "tokens generated per prompt (default 128)");

    /// <summary>`--seed S` of sampling (generate, generate-along, analyze).</summary>
    public static CliOption SamplingSeed { get; } = new("seed", "S", "sampling seed (default 0)");

    public static int ReadSamplingSeed(Args a)
    {
        ArgumentNullException.ThrowIfNull(a);
        return a.GetInt("seed", 0);
    }

    /// <summary>`--source DIR` (corpus, demo): the State of the Union data.</summary>
    public static CliOption SotuSource { get; } = new("source", "DIR", "the State of the Union data (default: the copy build.ps1 setup fetched)");

    /// <summary>`--tokenizer DIR` (pretrain, demo): a GPT-2 tokenizer folder.</summary>
    public static CliOption Gpt2Tokenizer { get; } = new("tokenizer", "DIR", "GPT-2 tokenizer folder (default: the copy build.ps1 setup fetched)");

    /// <summary>The folder `--tokenizer` names, else the copy in <see cref="DataCache.Gpt2Tokenizer"/>.</summary>
    public static string ReadGpt2Tokenizer(Args a)
    {
        ArgumentNullException.ThrowIfNull(a);
        return a.Get("tokenizer") ?? DataCache.Gpt2Tokenizer;
    }
}

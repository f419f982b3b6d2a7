using System.Diagnostics;
using LearningCurves.Engine;
using LearningCurves.Engine.Checkpoints;
using LearningCurves.Engine.Model;
using LearningCurves.Engine.Scoring;
using LearningCurves.Kernels;
using LearningCurves.Runner.Cli;
using LearningCurves.Formats;

namespace LearningCurves.Runner.Commands;

/// <summary>`learning-curves score`: surprisal in bits of every token after the first, one CSV row each.</summary>
public sealed class ScoreCommand : ICommand
{
    public string Name => "score";

    public string Usage => "score --model DIR (--ids FILE | --text FILE [--seq-len N]) --out FILE.csv [--backend auto|cpu|cuda] [--precision fp32|tf32|bf16] [--batch N]";

    public IReadOnlyList<CliOption> Options { get; } =
    [
        new("model", "DIR", "checkpoint folder (config.json + model.safetensors) (required)"),
        new("ids", "FILE", "sequences as token ids, one per line (or --text)"),
        new("text", "FILE", "UTF-8 text, tokenized with the checkpoint's tokenizer"),
        new("seq-len", "N", "cut --text into sequences of N tokens (default: the model's context)"),
        new("out", "FILE.csv", "one row per scored token (required)"),
        CliOption.Backend("auto"),
        CliOption.Precision,
        new("batch", "N", "sequences per forward pass (default: what fits the GPU's free memory on CUDA, 32 on the CPU)"),
    ];

    public int Run(string[] args)
    {
        var a = Args.Parse(Name, Options, args);
        var modelDir = a.Require("model");
        var idsPath = a.Get("ids");
        var textPath = a.Get("text");
        var outPath = a.Require("out");
        var (backendName, precision) = BackendChoice.Read(a, "auto");
        int? requested = a.Has("batch") ? a.GetInt("batch", 32, 1, 4096) : null;
        bool hasSeqLen = a.Has("seq-len");
        int? seqLen = hasSeqLen ? a.GetInt("seq-len", 0, 2, int.MaxValue) : null;
        a.RejectUnknown();
        if ((idsPath is null) == (textPath is null)) throw new UserError("score: give exactly one of --ids FILE or --text FILE");
        if (idsPath is not null && hasSeqLen) throw new UserError("score: --seq-len applies to --text only");

        var weights = HfCheckpoint.Load(modelDir);
        var cfg = weights.Config;
        var sequences = idsPath is not null
            ? ScoreInput.FromIds(idsPath, cfg)
            : ScoreInput.FromText(textPath!, ScoreInput.TokenizerFor(modelDir, cfg), cfg, seqLen ?? cfg.MaxPositions);

        using var backend = BackendFactory.Create(backendName, precision, Console.Error);
        using var model = new Gpt2Model(backend, weights);
        int batch = BatchSizing.Choose(backend, cfg, sequences.Count == 0 ? 1 : sequences.Max(s => s.Length), requested, cpuDefault: 32);
        var sw = Stopwatch.StartNew();
        long rows = SurprisalCsv.Write(outPath, model, sequences, batch);
        double secs = sw.Elapsed.TotalSeconds;
        long tokens = sequences.Sum(s => (long)s.Length);
        Console.WriteLine($"scored {rows} tokens of {sequences.Count} sequences ({tokens} tokens read) in {secs:F2} s " +
                          $"({tokens / Math.Max(secs, 1e-9):F0} tokens/s) -> {outPath}");
        return 0;
    }
}

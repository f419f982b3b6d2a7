using System.Diagnostics;
using LearningCurves.Engine;
using LearningCurves.Engine.Backends;
using LearningCurves.Engine.Checkpoints;
using LearningCurves.Engine.Model;
using LearningCurves.Engine.Scoring;
using LearningCurves.Kernels;
using LearningCurves.Runner.Cli;
using LearningCurves.Formats;
using LearningCurves.Formats.Tokenization;

namespace LearningCurves.Runner.Commands;

/// <summary>`learning-curves score`: surprisal in bits of every token after the first, one CSV row each.</summary>
public sealed class ScoreCommand : ICommand
{
    public string Name => "score";

    public string Usage => "score --model DIR (--ids FILE | --text FILE [--seq-len N] [--bos auto|yes|no]) --out FILE.csv [--words [--bos-id ID]] [--backend auto|cpu|cuda] [--precision fp32|tf32|bf16] [--batch N]";

    public IReadOnlyList<CliOption> Options { get; } =
    [
        SharedOptions.Model,
        new("ids", "FILE", "sequences as token ids, one per line (or --text)"),
        new("text", "FILE", "UTF-8 text, tokenized with the checkpoint's tokenizer"),
        new("seq-len", "N", "cut --text into sequences of N tokens (default: the model's context)"),
        new("bos", "auto|yes|no", "--text: begin each sequence with the BOS token; auto follows the tokenizer's add_bos_token (default auto)"),
        new("out", "FILE.csv", "one row per scored token (required)"),
        CliOption.Switch("words", "with --text: one row per word (whitespace-delimited), its surprisal with the word-boundary correction (docs/checkpoints-and-scoring.md)"),
        new("bos-id", "ID", "with --words: the id of the token before every sequence, the first word's context (default: the --bos begin token, else the end-of-text token)"),
        .. BackendChoice.Options("auto"),
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
        bool hasBos = a.Has("bos");
        string bosChoice = a.GetChoice("bos", "auto", "auto", "yes", "no");
        bool words = a.Switch("words");
        int? bosId = a.Has("bos-id") ? a.GetInt("bos-id", 0, 0, int.MaxValue) : null;
        a.RejectUnknown();
        if (words) return RunWords(modelDir, textPath, idsPath, outPath, backendName, precision, requested, seqLen, bosChoice, bosId);
        if (bosId is not null) throw new UserError("score: --bos-id applies to --words only");
        if ((idsPath is null) == (textPath is null)) throw new UserError("score: give exactly one of --ids FILE or --text FILE");
        if (idsPath is not null && hasSeqLen) throw new UserError("score: --seq-len applies to --text only");
        if (idsPath is not null && hasBos) throw new UserError("score: --bos applies to --text only");

        var cfg = HfConfig.LoadFromFolder(modelDir);
        List<int[]> sequences;
        string bosNote = "";
        if (idsPath is not null)
        {
            sequences = ScoreInput.FromIds(idsPath, cfg);
        }
        else
        {
            var tokenizer = ScoreInput.TokenizerFor(modelDir, cfg);
            var bos = tokenizer.ChooseBegin(bosChoice);
            sequences = ScoreInput.FromText(textPath!, tokenizer, cfg, seqLen ?? cfg.MaxPositions, bos);
            bosNote = $"; tokenizer {tokenizer.Kind} ({tokenizer.Source}), begin token {bos}";
        }

        using var backend = BackendFactory.Create(backendName, precision, Console.Error);
        int longest = sequences.Count == 0 ? 1 : sequences.Max(s => s.Length);
        // On a GPU the weights stream from the mapped files; the memory check runs before anything is uploaded.
        using var model = DecoderModel.Open(backend, modelDir, (c, untied) => BatchSizing.CheckFits(backend, c, untied, longest, modelDir));
        int batch = BatchSizing.Choose(backend, cfg, longest, requested, cpuDefault: 32);
        var sw = Stopwatch.StartNew();
        long rows = SurprisalCsv.Write(outPath, model, sequences, batch);
        double secs = sw.Elapsed.TotalSeconds;
        long tokens = sequences.Sum(s => (long)s.Length);
        Console.WriteLine($"scored {rows} tokens of {sequences.Count} sequences ({tokens} tokens read) in {secs:F2} s " +
                          $"({tokens / Math.Max(secs, 1e-9):F0} tokens/s) -> {outPath}{bosNote}");
        return 0;
    }

    private static int RunWords(string modelDir, string? textPath, string? idsPath, string outPath, string backendName, Precision precision,
        int? requested, int? seqLen, string bosChoice, int? bosId)
    {
        if (textPath is null || idsPath is not null) throw new UserError("score: --words needs --text FILE (words are read from the text)");
        var cfg = HfConfig.LoadFromFolder(modelDir);
        var tokenizer = ScoreInput.TokenizerFor(modelDir, cfg);
        var (bos, why) = WordScoreFile.ChooseBos(tokenizer, cfg.VocabSize, bosChoice, bosId);
        int len = seqLen ?? cfg.MaxPositions;
        using var backend = BackendFactory.Create(backendName, precision, Console.Error);
        using var model = DecoderModel.Open(backend, modelDir, (c, untied) => BatchSizing.CheckFits(backend, c, untied, len, modelDir));
        int batch = BatchSizing.Choose(backend, cfg, len, requested, cpuDefault: 32);
        var sw = Stopwatch.StartNew();
        var (words, seqs) = WordScoreFile.Run(textPath, outPath, tokenizer, model, bos, len, batch);
        Console.WriteLine($"scored {words} words in {seqs} sequences in {sw.Elapsed.TotalSeconds:F2} s; context of each sequence's first word: " +
                          $"BOS token {bos} '{TokenText.Decode(tokenizer, [bos])}' ({why}); tokenizer {tokenizer.Kind} ({tokenizer.Source}) -> {outPath}");
        return 0;
    }
}

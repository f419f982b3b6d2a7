using System.Globalization;
using LearningCurves.Engine;
using LearningCurves.Engine.EvalSets;
using LearningCurves.Runner.Cli;
using LearningCurves.Formats.EvalSets;
using LearningCurves.Formats;

namespace LearningCurves.Runner.Commands;

/// <summary>`learning-curves eval-set`: builds the fixed examples every checkpoint of a sweep is scored on.</summary>
public sealed class EvalSetCommand : ICommand
{
    public string Name => "eval-set";

    public string Usage => "eval-set (--text FILE... | --ids FILE) [--tokenizer DIR] --seq-len 128 --per-sequence 10|all --seed S "
        + "[--sequences N] [--packing lines|stream] [--bos auto|yes|no] [--begin-id ID] [--sep-id ID] [--vocab-size V] [--targets tokens|words] --out DIR";

    public IReadOnlyList<CliOption> Options { get; } =
    [
        new("text", "FILE...", "UTF-8 text files, one example line per line (repeatable; or --ids)"),
        new("ids", "FILE", "whitespace-separated token ids, one line per line"),
        new("tokenizer", "DIR", "tokenizer folder for --text: vocab.json + merges.txt, tokenizer.json or tokenizer.model (default: the built-in GPT-2 tokenizer)"),
        new("seq-len", "T", "tokens per sequence (default 128)"),
        new("per-sequence", "K|all", "target positions drawn per sequence, or all (default 10)"),
        new("seed", "S", "seed of every random choice (required)"),
        new("sequences", "N", "keep N sequences drawn without replacement (default: all)"),
        new("packing", "lines|stream", "lines: begin line sep line ... cut at seq-len; stream: consecutive chunks (default lines)"),
        new("bos", "auto|yes|no", "begin (BOS) token before each sequence: auto follows the tokenizer's add_bos_token (default auto)"),
        new("begin-id", "ID", "token that begins each sequence with --packing lines (default: the BOS token when the tokenizer adds one, else its end-of-text token)"),
        new("sep-id", "ID", "token between lines (default: the tokenizer's end-of-text token: <|endoftext|>, </s> or eos_token)"),
        new("vocab-size", "V", "vocabulary size for --ids without --tokenizer"),
        new("targets", "tokens|words", "words: each target is a whole word, its curve the word's surprisal (docs/sweeps.md) (default tokens)"),
        new("out", "DIR", "where sequences.npy, targets.npy and manifest.json go (required)"),
    ];

    public int Run(string[] args)
    {
        var a = Args.Parse(Name, Options, args);
        var text = a.GetFiles("text");
        string per = a.Get("per-sequence", "10");
        int? perSequence = per == "all" ? null
            : int.TryParse(per, NumberStyles.None, CultureInfo.InvariantCulture, out int k) && k >= 1 ? k
            : throw new UserError($"eval-set: --per-sequence must be a positive integer or 'all' (got '{per}')");
        string seedText = a.Require("seed");
        if (!ulong.TryParse(seedText, NumberStyles.None, CultureInfo.InvariantCulture, out ulong seed))
            throw new UserError($"eval-set: --seed must be a non-negative integer (got '{seedText}')");
        var request = new EvalSetRequest
        {
            TextFiles = text,
            IdsFile = a.Get("ids"),
            TokenizerDir = a.Get("tokenizer"),
            SeqLen = a.GetInt("seq-len", 128, 2),
            PerSequence = perSequence,
            Seed = seed,
            Sequences = a.Has("sequences") ? a.GetInt("sequences", 0, 1) : null,
            Packing = a.GetChoice("packing", "lines", "lines", "stream") == "lines" ? Packing.Lines : Packing.Stream,
            BeginId = a.Has("begin-id") ? a.GetInt("begin-id", 0, 0) : null,
            SepId = a.Has("sep-id") ? a.GetInt("sep-id", 0, 0) : null,
            Bos = a.GetChoice("bos", "auto", "auto", "yes", "no"),
            VocabSize = a.Has("vocab-size") ? a.GetInt("vocab-size", 0, 1) : null,
            WordTargets = a.GetChoice("targets", "tokens", "tokens", "words") == "words",
        };
        string outDir = a.Require("out");
        a.RejectUnknown();
        var set = EvalSetMaker.Make(request, outDir);
        Console.WriteLine($"eval-set: {set.SequenceCount} sequences of {set.SeqLen} tokens, {set.Examples} examples -> {Path.GetFullPath(outDir)} ({set.ContentHash})");
        return 0;
    }
}

using System.Security.Cryptography;
using System.Text.Json.Nodes;
using LearningCurves.Formats.EvalSets;
using LearningCurves.Formats.Tokenization;
using LearningCurves.Formats;

namespace LearningCurves.Engine.EvalSets;

/// <summary>What `learning-curves eval-set` was asked for.</summary>
public sealed class EvalSetRequest
{
    /// <summary>Text files, one example line per line (UTF-8).</summary>
    public IReadOnlyList<string> TextFiles { get; init; } = [];

    /// <summary>A pre-tokenized file: whitespace-separated ids, one line per line.</summary>
    public string? IdsFile { get; init; }

    /// <summary>A tokenizer folder (vocab.json + merges.txt, tokenizer.json or tokenizer.model; see
    /// <see cref="TextTokenizer.Load"/>); null means the built-in GPT-2 tokenizer for text.</summary>
    public string? TokenizerDir { get; init; }

    public int SeqLen { get; init; } = 128;

    /// <summary>Targets per sequence; null means every position 1..seq-len-1.</summary>
    public int? PerSequence { get; init; } = 10;

    public ulong Seed { get; init; }

    /// <summary>How many sequences to keep (drawn with the seed); null keeps all.</summary>
    public int? Sequences { get; init; }

    public Packing Packing { get; init; } = Packing.Lines;

    public int? BeginId { get; init; }

    public int? SepId { get; init; }

    /// <summary>Word targets (--targets words) instead of token targets.</summary>
    public bool WordTargets { get; init; }

    /// <summary>Begin (BOS) token: "auto" follows the tokenizer's configuration (tokenizer_config.json add_bos_token,
    /// else its tokenizer.json post-processor), "yes" adds the tokenizer's begin token, "no" adds none.</summary>
    public string Bos { get; init; } = "auto";

    /// <summary>The vocabulary size for --ids without a tokenizer.</summary>
    public int? VocabSize { get; init; }
}

/// <summary>Makes an eval set folder from text or token ids.</summary>
public static class EvalSetMaker
{
    public static EvalSet Make(EvalSetRequest r, string outDir)
    {
        ArgumentNullException.ThrowIfNull(r);
        if ((r.TextFiles.Count > 0) == (r.IdsFile is not null))
            throw new UserError("eval-set: give either --text FILE... or --ids FILE");
        if (r.SeqLen < 2) throw new UserError($"eval-set: --seq-len must be at least 2 (got {r.SeqLen})");
        if (r.Sequences is < 1) throw new UserError($"eval-set: --sequences must be positive (got {r.Sequences})");

        TextTokenizer? tok = r.TokenizerDir is not null ? TextTokenizer.Load(r.TokenizerDir)
            : r.TextFiles.Count > 0 ? Gpt2Tokenizer.Default : null;
        if (tok is null && r.Bos == "yes") throw new UserError("eval-set: --bos yes needs a tokenizer (--text, or --tokenizer DIR); with --ids give --begin-id");
        var bos = tok?.ChooseBegin(r.Bos) ?? new BeginToken(false, null, null, "pre-tokenized ids: no tokenizer");
        int vocab = r.VocabSize ?? tok?.VocabSize
            ?? throw new UserError("eval-set: --ids without --tokenizer needs --vocab-size V (the model vocabulary the ids belong to)");
        if (tok is not null && r.VocabSize is int v && v != tok.VocabSize)
            throw new UserError($"eval-set: --vocab-size {v} disagrees with the tokenizer's {tok.VocabSize} ({tok.Source})");
        // Lines packing begins each sequence with the begin token when the tokenizer adds one, else with end-of-text
        // (the paper's packing); stream packing puts the begin token, when added, before each chunk of seq-len - 1.
        int? begin = r.BeginId ?? (bos.Add ? bos.Id : tok?.EndOfTextId), sep = r.SepId ?? tok?.EndOfTextId;

        // Lines of token ids, file by file. In stream mode each text line keeps its newline so the stream reads as the file.
        var lines = new List<int[]>();
        var sources = new JsonArray();
        foreach (var file in r.IdsFile is not null ? [r.IdsFile] : r.TextFiles)
        {
            if (!File.Exists(file)) throw UserError.InFile(file, "file not found");
            if (r.IdsFile is not null)
            {
                lines.AddRange(TokenIdsFile.Read(file));
            }
            else
            {
                foreach (var line in File.ReadLines(file))
                {
                    if (string.IsNullOrWhiteSpace(line)) continue;
                    lines.Add(tok!.Encode(r.Packing == Packing.Stream ? line + "\n" : line));
                }
            }
            sources.Add(new JsonObject
            {
                ["path"] = Path.GetFullPath(file),
                ["bytes"] = new FileInfo(file).Length,
                ["sha256"] = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(file))),
            });
        }
        int lineNo = 0;
        foreach (var ids in lines)
        {
            lineNo++;
            foreach (int id in ids)
            {
                if ((uint)id >= (uint)vocab)
                    throw new UserError($"eval-set: token id {id} (line {lineNo}) is outside the vocabulary 0..{vocab - 1}");
            }
        }
        List<int[]> packed;
        if (r.Packing == Packing.Lines)
        {
            if (begin is null || sep is null)
                throw new UserError("eval-set: --packing lines needs --begin-id and --sep-id (the tokenizer has no end-of-text token)");
            foreach (var (name, id) in new[] { ("--begin-id", begin.Value), ("--sep-id", sep.Value) })
            {
                if ((uint)id >= (uint)vocab) throw new UserError($"eval-set: {name} {id} is outside the vocabulary 0..{vocab - 1}");
            }
            packed = EvalSetBuilder.PackLines(lines, r.SeqLen, begin.Value, sep.Value);
        }
        else
        {
            packed = bos.Add
                ? EvalSetBuilder.PackStream(lines, r.SeqLen - 1).Select(s => (int[])[bos.Id!.Value, .. s]).ToList()
                : EvalSetBuilder.PackStream(lines, r.SeqLen);
        }
        if (packed.Count == 0) throw new UserError($"eval-set: the input is too short for one sequence of {r.SeqLen} tokens");
        var keep = EvalSetBuilder.PickSequences(packed.Count, r.Sequences, r.Seed);
        var tokens = new int[checked(keep.Length * r.SeqLen)];
        for (int i = 0; i < keep.Length; i++) packed[keep[i]].CopyTo(tokens, i * r.SeqLen);
        int[] targets;
        WordTargets? words = null;
        if (r.WordTargets)
        {
            if (tok is null) throw new UserError("eval-set: --targets words needs the tokenizer's texts (--text, or --ids with --tokenizer DIR)");
            var separators = new HashSet<int>(new[] { begin, sep, tok.EndOfTextId }.OfType<int>());
            var (boundary, blank) = WordTargetMaker.Classes(tok, vocab, separators);
            if (!Enumerable.Range(0, boundary.Length).Any(id => boundary[id] && !separators.Contains(id)))
                throw UserError.InFile(tok.Source, $"eval-set: --targets words: no token of this {tok.Kind} tokenizer begins with whitespace (a leading space or \u2581), so words cannot be delimited");
            (targets, words) = WordTargetMaker.Draw(tokens, keep.Length, r.SeqLen, r.PerSequence, r.Seed, boundary, blank, separators,
                midText: r.Packing == Packing.Stream);
        }
        else targets = EvalSetBuilder.DrawTargets(keep.Length, r.SeqLen, r.PerSequence, r.Seed);
        var set = new EvalSet(tokens, keep.Length, r.SeqLen, targets, vocab) { Words = words };
        set.Save(outDir, new JsonObject
        {
            ["tokenizer"] = tok?.Source ?? "none (pre-tokenized ids)",
            ["tokenizer_kind"] = tok?.Kind,
            ["tokenizer_dir"] = r.TokenizerDir is null ? null : Path.GetFullPath(r.TokenizerDir),
            ["bos_id"] = bos.Add ? bos.Id : null,
            ["bos"] = bos.ToString(),
            ["packing"] = r.Packing == Packing.Lines ? "lines" : "stream",
            ["begin_id"] = r.Packing == Packing.Lines ? begin : null,
            ["sep_id"] = r.Packing == Packing.Lines ? sep : null,
            ["seed"] = r.Seed,
            ["per_sequence"] = r.PerSequence is int k ? k : "all",
            ["sequences_available"] = packed.Count,
            ["source_files"] = sources,
        });
        return set;
    }
}

using System.Text;
using LearningCurves.Engine.Model;
using LearningCurves.Formats.Tokenization;
using LearningCurves.Formats;

namespace LearningCurves.Engine.Scoring;

/// <summary>
/// The token sequences to score, from a pre-tokenized ids file or from text cut into consecutive sequences, checked
/// against the model before any computation: every error names the input file.
/// </summary>
public static class ScoreInput
{
    /// <summary>Sequences of an ids file (one per line); empty files, ids outside the vocabulary and sequences longer
    /// than n_positions are errors naming the file.</summary>
    public static List<int[]> FromIds(string path, ModelConfig cfg)
    {
        ArgumentNullException.ThrowIfNull(cfg);
        var seqs = TokenIdsFile.Read(path);
        if (seqs.Count == 0) throw UserError.InFile(path, "no token ids: the input is empty");
        Check(path, seqs, cfg);
        return seqs;
    }

    /// <summary>The whole of the --text file <paramref name="path"/> (strict UTF-8), once <paramref name="seqLen"/> is
    /// known to fit the model's context: what score reads, by tokens (<see cref="FromText"/>) or by words
    /// (<see cref="WordScoreFile"/>).</summary>
    internal static string ReadText(string path, int seqLen, ModelConfig cfg)
    {
        if (seqLen < 2 || seqLen > cfg.MaxPositions)
            throw new UserError($"--seq-len must be in 2..{cfg.MaxPositions} (the model's n_positions), got {seqLen}");
        if (!File.Exists(path)) throw UserError.InFile(path, "file not found");
        try
        {
            return File.ReadAllText(path, new UTF8Encoding(false, true));
        }
        catch (DecoderFallbackException)
        {
            throw UserError.InFile(path, "not valid UTF-8 text");
        }
    }

    /// <summary>The text of <paramref name="path"/> tokenized and cut into consecutive sequences of
    /// <paramref name="seqLen"/> tokens (the last may be shorter). When <paramref name="begin"/> adds a begin token,
    /// each sequence is that token followed by the next seqLen-1 tokens of the text.</summary>
    public static List<int[]> FromText(string path, TextTokenizer tokenizer, ModelConfig cfg, int seqLen, BeginToken? begin = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(cfg);
        string text = ReadText(path, seqLen, cfg);
        if (text.Length == 0) throw UserError.InFile(path, "no text: the input is empty");
        var ids = tokenizer.Encode(text);
        if (ids.Length == 0) throw UserError.InFile(path, "the text has no tokens");
        var seqs = new List<int[]>();
        if (begin is { Add: true, Id: int bos })
        {
            for (int i = 0; i < ids.Length; i += seqLen - 1) seqs.Add([bos, .. ids.AsSpan(i, Math.Min(seqLen - 1, ids.Length - i))]);
        }
        else
        {
            for (int i = 0; i < ids.Length; i += seqLen) seqs.Add(ids.AsSpan(i, Math.Min(seqLen, ids.Length - i)).ToArray());
        }
        Check(path, seqs, cfg);
        return seqs;
    }

    /// <summary>The tokenizer for scoring text with a model: the folder's own, or the built-in GPT-2 one, which must fit
    /// the model's vocabulary.</summary>
    public static TextTokenizer TokenizerFor(string modelDir, ModelConfig cfg)
    {
        ArgumentNullException.ThrowIfNull(cfg);
        bool own = TextTokenizer.FolderHasTokenizerFiles(modelDir);
        var tok = TextTokenizer.Load(modelDir);
        if (tok.VocabSize > cfg.VocabSize)
        {
            throw own
                ? UserError.InFile(File.Exists(Path.Combine(modelDir, Gpt2Tokenizer.VocabFile)) ? Path.Combine(modelDir, Gpt2Tokenizer.VocabFile) : tok.Source,
                    $"the tokenizer has {tok.VocabSize} ids but the model's vocab_size is {cfg.VocabSize}")
                : UserError.InFile(modelDir,
                    $"no tokenizer: the folder has no {Gpt2Tokenizer.VocabFile} + {Gpt2Tokenizer.MergesFile}, and the built-in GPT-2 tokenizer's {tok.VocabSize} ids do not fit the model's vocab_size {cfg.VocabSize}");
        }
        return tok;
    }

    private static void Check(string path, List<int[]> seqs, ModelConfig cfg)
    {
        for (int s = 0; s < seqs.Count; s++)
        {
            var seq = seqs[s];
            if (seq.Length > cfg.MaxPositions)
                throw UserError.InFile(path, $"sequence {s + 1} has {seq.Length} tokens, more than the model's n_positions ({cfg.MaxPositions})");
            for (int i = 0; i < seq.Length; i++)
            {
                if ((uint)seq[i] >= (uint)cfg.VocabSize)
                    throw UserError.InFile(path, $"sequence {s + 1}, token {i}: id {seq[i]} is outside the model's vocabulary (0..{cfg.VocabSize - 1})");
            }
        }
    }
}

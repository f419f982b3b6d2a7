using System.IO.Hashing;
using System.Runtime.InteropServices;
using System.Text;
using LearningCurves.Engine.Model;
using Architecture = LearningCurves.Engine.Model.Architecture;
using LearningCurves.Formats;

namespace LearningCurves.Engine.Checkpoints;

/// <summary>
/// Checkpoints in Hugging Face layout, for every architecture of <see cref="TensorTable"/>: a folder with config.json and
/// model.safetensors (or shards through model.safetensors.index.json), or torch.save's pytorch_model.bin (or its shards)
/// when there is no safetensors file. Tensor names may carry the body prefix ("transformer.", "gpt_neox.") or not;
/// stored buffers (attention masks, rotary frequencies) are ignored; the head is used when present under its name or an
/// alias, otherwise it is tied to the embedding. Every shape is checked against config.json, and missing or unexpected
/// tensors are reported by name, in one line.
/// </summary>
public static class HfCheckpoint
{
    /// <summary>Loads config and weights (F32, F16 or BF16, widened to float32) from <paramref name="dir"/>.</summary>
    public static ModelWeights Load(string dir)
    {
        var cfg = HfConfig.LoadFromFolder(dir);
        using var ck = TensorSources.Open(dir);
        return Load(ck, cfg, dir);
    }

    /// <summary>Loads the weights of <paramref name="cfg"/> from an open checkpoint; <paramref name="source"/> names it.</summary>
    public static ModelWeights Load(ITensorSource ck, ModelConfig cfg, string source)
    {
        var (expected, stored, hasHead, headName) = Resolve(ck, cfg, source);
        var configPath = Path.Combine(source, HfConfig.FileName);
        string canonicalHead = TensorTable.Of(cfg.Architecture).Head.Name, wteName = TensorTable.For(cfg, false)[0].Name;
        return LoadResolved(ck, cfg, source, expected, stored, headName, configPath, canonicalHead, wteName);
    }

    /// <summary>
    /// Checks an open checkpoint against <paramref name="cfg"/> from its headers only (no tensor data is read): every
    /// expected tensor present once (bare or prefixed), nothing unexpected but buffers, each shape as the config says and
    /// a float dtype. Returns the expected tensors (with the head when one is stored), the stored name of each, whether
    /// a head is stored and under which name. Every problem is one <see cref="UserError"/>.
    /// </summary>
    public static (IReadOnlyList<TensorSpec> Expected, Dictionary<string, string> Stored, bool HasHead, string HeadName) Resolve(
        ITensorSource ck, ModelConfig cfg, string source)
    {
        ArgumentNullException.ThrowIfNull(ck);
        ArgumentNullException.ThrowIfNull(cfg);
        var arch = cfg.Architecture;
        var table = TensorTable.Of(arch);
        string prefix = table.BodyPrefix, canonicalHead = table.Head.Name, wteName = TensorTable.For(cfg, false)[0].Name;
        // The head under its name or an alias (transformers 5: GPT-NeoX's lm_head.weight); never under two.
        var storedHeads = table.HeadNames.Where(ck.Contains).ToList();
        if (storedHeads.Count > 1)
            throw UserError.InFile(ck.Source, $"the head is stored twice, as {string.Join(" and ", storedHeads.Select(n => $"'{n}'"))}");
        bool hasHead = storedHeads.Count == 1;
        string headName = hasHead ? storedHeads[0] : canonicalHead;
        var expected = TensorTable.For(cfg, hasHead);
        var configPath = Path.Combine(source, HfConfig.FileName);

        // Map each expected name to the stored one (bare or prefixed); both present is ambiguous.
        var stored = new Dictionary<string, string>(StringComparer.Ordinal);
        var missing = new List<string>();
        foreach (var t in expected)
        {
            string name = t.Name;
            if (t.Role == TensorRole.Head)
            {
                stored[name] = headName; // found above; the head is never prefixed
                continue;
            }
            bool bare = ck.Contains(name);
            bool prefixed = ck.Contains(prefix + name);
            if (bare && prefixed)
                throw UserError.InFile(ck.Source, $"tensor '{name}' is stored both with and without the '{prefix}' prefix");
            if (bare) stored[name] = name;
            else if (prefixed) stored[name] = prefix + name;
            else missing.Add(name);
        }
        var used = new HashSet<string>(stored.Values, StringComparer.Ordinal);
        var unexpected = ck.Names.Where(n => !used.Contains(n) && !TensorTable.IsBuffer(arch, n)).Order(StringComparer.Ordinal).ToList();
        if (missing.Count > 0 || unexpected.Count > 0)
        {
            var parts = new List<string>();
            if (missing.Count > 0) parts.Add($"missing tensors {Names(missing)}");
            if (unexpected.Count > 0) parts.Add($"unexpected tensors {Names(unexpected)}");
            throw UserError.InFile(ck.Source,
                $"does not match {configPath} (model_type {cfg.ModelType}, {(arch == Architecture.Gpt2 ? "n_layer" : "num_hidden_layers")}={cfg.Layers}, tie_word_embeddings={cfg.TieWordEmbeddings.ToString().ToLowerInvariant()}): {string.Join("; ", parts)}");
        }
        if (!hasHead && !cfg.TieWordEmbeddings)
            throw UserError.InFile(ck.Source, $"missing tensor '{headName}': {configPath} sets tie_word_embeddings false");

        string sizes = cfg.IsLlamaFamily
            ? $"vocab_size={cfg.VocabSize}, hidden_size={cfg.Embd}, intermediate_size={cfg.InnerSize}, num_attention_heads={cfg.Heads}, num_key_value_heads={cfg.KvHeadCount}, head size {cfg.HeadSize}"
            : arch == Architecture.GptNeoX
            ? $"vocab_size={cfg.VocabSize}, hidden_size={cfg.Embd}, intermediate_size={cfg.InnerSize}"
            : $"vocab_size={cfg.VocabSize}, n_positions={cfg.MaxPositions}, n_embd={cfg.Embd}, n_inner={cfg.InnerSize}";
        foreach (var t in expected)
        {
            var info = ck.Meta(stored[t.Name]);
            if (!info.Shape.SequenceEqual(t.Shape))
                throw UserError.InFile(info.File, $"tensor '{info.Name}' has shape {info.ShapeText} but {configPath} ({sizes}) needs [{string.Join(", ", t.Shape)}]");
            if (info.DType is not (SafeTensorsDType.F32 or SafeTensorsDType.F16 or SafeTensorsDType.BF16))
                throw UserError.InFile(info.File, $"tensor '{info.Name}' has dtype {info.DType}; only F32, F16 and BF16 weights are supported");
        }
        return (expected, stored, hasHead, headName);
    }

    private static ModelWeights LoadResolved(ITensorSource ck, ModelConfig cfg, string source, IReadOnlyList<TensorSpec> expected,
        Dictionary<string, string> stored, string headName, string configPath, string canonicalHead, string wteName)
    {

        // The content hash covers every weight as stored (widened to float32) with its canonical name, so the same
        // weights hash the same whatever the container, dtype widening aside, prefix or tensor order (ModelWeights.ContentHash).
        var hash = new XxHash128();
        var arrays = new Dictionary<TensorKey, float[]>();
        float[]? head = null;
        foreach (var t in expected)
        {
            var raw = new float[ck.Meta(stored[t.Name]).ElementCount];
            ck.ReadFloats(stored[t.Name], raw);
            if (t.Role == TensorRole.Head)
            {
                head = raw; // hashed below, once known not to be a tied copy
                continue;
            }
            hash.Append(Encoding.UTF8.GetBytes(t.Name + "\0"));
            hash.Append(MemoryMarshal.AsBytes(raw.AsSpan()));
            float[] a = raw;
            if (t.Transform != TensorTransform.None)
            {
                a = new float[raw.Length];
                TensorTable.ToEngine(t, cfg, raw, a);
            }
            arrays[t.Key] = a;
        }
        var wte = arrays[new TensorKey(TensorRole.Wte, -1)];
        if (head is not null && cfg.TieWordEmbeddings)
        {
            // transformers would tie the head to the embedding here and drop the stored copy; accept it only when it is that copy.
            if (!head.AsSpan().SequenceEqual(wte))
                throw UserError.InFile(ck.Meta(headName).File, $"{headName} differs from {wteName} but {configPath} sets tie_word_embeddings true");
            head = null;
        }
        if (head is not null)
        {
            hash.Append(Encoding.UTF8.GetBytes(canonicalHead + "\0")); // whichever name it was stored under
            hash.Append(MemoryMarshal.AsBytes(head.AsSpan()));
            arrays[new TensorKey(TensorRole.Head, -1)] = head;
        }
        return new ModelWeights(cfg, arrays)
        {
            Source = source,
            ContentHash = Convert.ToHexStringLower(hash.GetCurrentHash()),
        };
    }

    private static string Names(List<string> names) =>
        string.Join(", ", names.Take(8).Select(n => $"'{n}'")) + (names.Count > 8 ? $" and {names.Count - 8} more" : "");

    /// <summary>
    /// Writes <paramref name="dir"/>/config.json and <paramref name="dir"/>/model.safetensors as transformers'
    /// save_pretrained does for GPT2LMHeadModel (or GPTNeoXForCausalLM): keys with the "transformer." ("gpt_neox.")
    /// prefix, no buffers, lm_head.weight (embed_out.weight) only when the head is untied, metadata {"format": "pt"} plus <paramref name="metadata"/>.
    /// Each file appears only when complete.
    /// </summary>
    public static void Save(string dir, ModelWeights w, StoreDType dtype = StoreDType.F32, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(dir);
        ArgumentNullException.ThrowIfNull(w);
        var cfg = w.Config with { TieWordEmbeddings = w.LmHead is null };
        cfg.Validate(dir);
        var writer = new SafeTensorsWriter();
        writer.Metadata["format"] = "pt";
        if (metadata is not null)
        {
            foreach (var (k, v) in metadata) writer.Metadata[k] = v;
        }
        if (w.Blocks.Length != cfg.Layers) throw new ArgumentException($"{w.Blocks.Length} blocks but n_layer is {cfg.Layers}", nameof(w));
        string prefix = TensorTable.Prefix(cfg.Architecture), headName = TensorTable.HeadName(cfg.Architecture);
        // Sorted by stored name, as the reference writer orders tensors of one dtype.
        foreach (var (stored, spec) in TensorTable.For(cfg, w.LmHead is not null)
                     .Select(t => (Stored: t.Name == headName ? t.Name : prefix + t.Name, t))
                     .OrderBy(e => e.Stored, StringComparer.Ordinal))
        {
            var engine = w[spec];
            var values = engine;
            if (spec.Transform != TensorTransform.None)
            {
                values = new float[engine.Length];
                TensorTable.ToStored(spec, cfg, engine, values);
            }
            writer.Add(stored, values, dtype, spec.Shape);
        }
        Directory.CreateDirectory(dir);
        writer.Save(Path.Combine(dir, SafeTensorsCheckpoint.SingleFileName));
        HfConfig.Save(dir, cfg, dtype);
    }
}

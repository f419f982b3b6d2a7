using System.IO.Hashing;
using System.Runtime.InteropServices;
using System.Text;
using LearningCurves.Engine.Model;

namespace LearningCurves.Engine.Checkpoints;

/// <summary>
/// GPT-2 checkpoints in Hugging Face layout: a folder with config.json and model.safetensors (or shards through
/// model.safetensors.index.json), or torch.save's pytorch_model.bin (or its shards) when there is no safetensors file. Tensor names may carry the "transformer." prefix or not; the attention mask buffers
/// (attn.bias, attn.masked_bias) are ignored; lm_head.weight is used when present, otherwise the head is tied to wte.
/// Conv1D weights are [in, out]. Every shape is checked against config.json, and missing or unexpected tensors are
/// reported by name.
/// </summary>
public static class HfCheckpoint
{
    public const string Prefix = "transformer.";

    /// <summary>Loads config and weights (F32, F16 or BF16, widened to float32) from <paramref name="dir"/>.</summary>
    public static Gpt2Weights Load(string dir)
    {
        var cfg = HfConfig.LoadFromFolder(dir);
        using var ck = TensorSources.Open(dir);
        return Load(ck, cfg, dir);
    }

    /// <summary>The expected tensors of <paramref name="cfg"/>, without prefix, with their shapes.</summary>
    public static IReadOnlyList<(string Name, long[] Shape)> ExpectedTensors(Gpt2Config cfg, bool untiedHead)
    {
        ArgumentNullException.ThrowIfNull(cfg);
        long v = cfg.VocabSize, p = cfg.MaxPositions, c = cfg.Embd, i = cfg.InnerSize;
        var list = new List<(string, long[])> { ("wte.weight", [v, c]), ("wpe.weight", [p, c]) };
        for (int l = 0; l < cfg.Layers; l++)
        {
            string h = $"h.{l}.";
            list.Add((h + "ln_1.weight", [c]));
            list.Add((h + "ln_1.bias", [c]));
            list.Add((h + "attn.c_attn.weight", [c, 3 * c]));
            list.Add((h + "attn.c_attn.bias", [3 * c]));
            list.Add((h + "attn.c_proj.weight", [c, c]));
            list.Add((h + "attn.c_proj.bias", [c]));
            list.Add((h + "ln_2.weight", [c]));
            list.Add((h + "ln_2.bias", [c]));
            list.Add((h + "mlp.c_fc.weight", [c, i]));
            list.Add((h + "mlp.c_fc.bias", [i]));
            list.Add((h + "mlp.c_proj.weight", [i, c]));
            list.Add((h + "mlp.c_proj.bias", [c]));
        }
        list.Add(("ln_f.weight", [c]));
        list.Add(("ln_f.bias", [c]));
        if (untiedHead) list.Add(("lm_head.weight", [v, c]));
        return list;
    }

    private static bool IsMaskBuffer(string name) =>
        name.EndsWith(".attn.bias", StringComparison.Ordinal) || name.EndsWith(".attn.masked_bias", StringComparison.Ordinal);

    /// <summary>Loads the weights of <paramref name="cfg"/> from an open checkpoint; <paramref name="source"/> names it.</summary>
    public static Gpt2Weights Load(ITensorSource ck, Gpt2Config cfg, string source)
    {
        ArgumentNullException.ThrowIfNull(ck);
        ArgumentNullException.ThrowIfNull(cfg);
        bool hasHead = ck.Contains("lm_head.weight");
        var expected = ExpectedTensors(cfg, hasHead);
        var configPath = Path.Combine(source, HfConfig.FileName);

        // Map each expected name to the stored one (bare or prefixed); both present is ambiguous.
        var stored = new Dictionary<string, string>(StringComparer.Ordinal);
        var missing = new List<string>();
        foreach (var (name, _) in expected)
        {
            bool bare = ck.Contains(name);
            bool prefixed = name != "lm_head.weight" && ck.Contains(Prefix + name);
            if (bare && prefixed)
                throw UserError.InFile(ck.Source, $"tensor '{name}' is stored both with and without the '{Prefix}' prefix");
            if (bare) stored[name] = name;
            else if (prefixed) stored[name] = Prefix + name;
            else missing.Add(name);
        }
        var used = new HashSet<string>(stored.Values, StringComparer.Ordinal);
        var unexpected = ck.Names.Where(n => !used.Contains(n) && !IsMaskBuffer(n)).Order(StringComparer.Ordinal).ToList();
        if (missing.Count > 0 || unexpected.Count > 0)
        {
            var parts = new List<string>();
            if (missing.Count > 0) parts.Add($"missing tensors {Names(missing)}");
            if (unexpected.Count > 0) parts.Add($"unexpected tensors {Names(unexpected)}");
            throw UserError.InFile(ck.Source,
                $"does not match {configPath} (n_layer={cfg.Layers}, tie_word_embeddings={cfg.TieWordEmbeddings.ToString().ToLowerInvariant()}): {string.Join("; ", parts)}");
        }
        if (!hasHead && !cfg.TieWordEmbeddings)
            throw UserError.InFile(ck.Source, $"missing tensor 'lm_head.weight': {configPath} sets tie_word_embeddings false");

        foreach (var (name, shape) in expected)
        {
            var info = ck.Meta(stored[name]);
            if (!info.Shape.SequenceEqual(shape))
            {
                throw UserError.InFile(info.File,
                    $"tensor '{info.Name}' has shape {info.ShapeText} but {configPath} (vocab_size={cfg.VocabSize}, n_positions={cfg.MaxPositions}, n_embd={cfg.Embd}, n_inner={cfg.InnerSize}) needs [{string.Join(", ", shape)}]");
            }
            if (info.DType is not (SafeTensorsDType.F32 or SafeTensorsDType.F16 or SafeTensorsDType.BF16))
                throw UserError.InFile(info.File, $"tensor '{info.Name}' has dtype {info.DType}; only F32, F16 and BF16 weights are supported");
        }

        // The content hash covers every weight as float32 with its canonical name, so the same weights hash the same
        // whatever the container, dtype widening aside, prefix or tensor order (see Gpt2Weights.ContentHash).
        var hash = new XxHash128();
        void Hash(string name, float[] a)
        {
            hash.Append(Encoding.UTF8.GetBytes(name + "\0"));
            hash.Append(MemoryMarshal.AsBytes(a.AsSpan()));
        }
        float[] Read(string name)
        {
            var a = new float[ck.Meta(stored[name]).ElementCount];
            ck.ReadFloats(stored[name], a);
            return a;
        }
        float[] R(string name)
        {
            var a = Read(name);
            Hash(name, a);
            return a;
        }

        var blocks = new Gpt2LayerWeights[cfg.Layers];
        for (int l = 0; l < cfg.Layers; l++)
        {
            string h = $"h.{l}.";
            blocks[l] = new Gpt2LayerWeights
            {
                Ln1W = R(h + "ln_1.weight"), Ln1B = R(h + "ln_1.bias"),
                AttnW = R(h + "attn.c_attn.weight"), AttnB = R(h + "attn.c_attn.bias"),
                AttnProjW = R(h + "attn.c_proj.weight"), AttnProjB = R(h + "attn.c_proj.bias"),
                Ln2W = R(h + "ln_2.weight"), Ln2B = R(h + "ln_2.bias"),
                FcW = R(h + "mlp.c_fc.weight"), FcB = R(h + "mlp.c_fc.bias"),
                FcProjW = R(h + "mlp.c_proj.weight"), FcProjB = R(h + "mlp.c_proj.bias"),
            };
        }
        var wte = R("wte.weight");
        float[]? head = hasHead ? Read("lm_head.weight") : null;
        if (head is not null && cfg.TieWordEmbeddings)
        {
            // transformers would tie the head to wte here and drop the stored copy; accept it only when it is that copy.
            if (!head.AsSpan().SequenceEqual(wte))
                throw UserError.InFile(ck.Meta("lm_head.weight").File,
                    $"lm_head.weight differs from wte.weight but {configPath} sets tie_word_embeddings true");
            head = null;
        }
        // A tied head's stored copy is not part of the weights (it was just checked equal to wte).
        if (head is not null) Hash("lm_head.weight", head);
        var wpe = R("wpe.weight");
        var lnFW = R("ln_f.weight");
        var lnFB = R("ln_f.bias");
        return new Gpt2Weights
        {
            Config = cfg,
            Wte = wte,
            Wpe = wpe,
            Blocks = blocks,
            LnFW = lnFW,
            LnFB = lnFB,
            LmHead = head,
            Source = source,
            ContentHash = Convert.ToHexStringLower(hash.GetCurrentHash()),
        };
    }

    private static string Names(List<string> names) =>
        string.Join(", ", names.Take(8).Select(n => $"'{n}'")) + (names.Count > 8 ? $" and {names.Count - 8} more" : "");

    /// <summary>
    /// Writes <paramref name="dir"/>/config.json and <paramref name="dir"/>/model.safetensors as transformers'
    /// save_pretrained does for GPT2LMHeadModel: keys with the "transformer." prefix, no attention mask buffers,
    /// lm_head.weight only when the head is untied, metadata {"format": "pt"} plus <paramref name="metadata"/>.
    /// Each file appears only when complete.
    /// </summary>
    public static void Save(string dir, Gpt2Weights w, StoreDType dtype = StoreDType.F32, IReadOnlyDictionary<string, string>? metadata = null)
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
        var arrays = new Dictionary<string, float[]>(StringComparer.Ordinal)
        {
            ["wte.weight"] = w.Wte,
            ["wpe.weight"] = w.Wpe,
            ["ln_f.weight"] = w.LnFW,
            ["ln_f.bias"] = w.LnFB,
        };
        if (w.Blocks.Length != cfg.Layers) throw new ArgumentException($"{w.Blocks.Length} blocks but n_layer is {cfg.Layers}", nameof(w));
        for (int l = 0; l < cfg.Layers; l++)
        {
            var b = w.Blocks[l];
            string h = $"h.{l}.";
            arrays[h + "ln_1.weight"] = b.Ln1W;
            arrays[h + "ln_1.bias"] = b.Ln1B;
            arrays[h + "attn.c_attn.weight"] = b.AttnW;
            arrays[h + "attn.c_attn.bias"] = b.AttnB;
            arrays[h + "attn.c_proj.weight"] = b.AttnProjW;
            arrays[h + "attn.c_proj.bias"] = b.AttnProjB;
            arrays[h + "ln_2.weight"] = b.Ln2W;
            arrays[h + "ln_2.bias"] = b.Ln2B;
            arrays[h + "mlp.c_fc.weight"] = b.FcW;
            arrays[h + "mlp.c_fc.bias"] = b.FcB;
            arrays[h + "mlp.c_proj.weight"] = b.FcProjW;
            arrays[h + "mlp.c_proj.bias"] = b.FcProjB;
        }
        if (w.LmHead is not null) arrays["lm_head.weight"] = w.LmHead;
        // Sorted by name, as the reference writer orders tensors of one dtype.
        foreach (var (name, shape) in ExpectedTensors(cfg, w.LmHead is not null)
                     .Select(e => (Stored: e.Name == "lm_head.weight" ? e.Name : Prefix + e.Name, e.Name, e.Shape))
                     .OrderBy(e => e.Stored, StringComparer.Ordinal)
                     .Select(e => (e.Stored, e.Shape)))
        {
            writer.Add(name, arrays[name.StartsWith(Prefix, StringComparison.Ordinal) ? name[Prefix.Length..] : name], dtype, shape);
        }
        Directory.CreateDirectory(dir);
        writer.Save(Path.Combine(dir, SafeTensorsCheckpoint.SingleFileName));
        HfConfig.Save(dir, cfg, dtype);
    }
}

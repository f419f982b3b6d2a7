using LearningCurves.Engine;
using LearningCurves.Engine.Checkpoints;
using LearningCurves.Engine.Model;
using LearningCurves.Tests.Common;
using Xunit;
using LearningCurves.Formats;

namespace LearningCurves.Engine.Tests;

public class CheckpointTests
{
    private static readonly ModelConfig Tiny = new() { VocabSize = 50, MaxPositions = 16, Embd = 8, Layers = 2, Heads = 2, Inner = 12 };

    private static void SameWeights(ModelWeights a, ModelWeights b)
    {
        Assert.Equal(a.Specs.Select(x => x.Name), b.Specs.Select(x => x.Name));
        foreach (var spec in a.Specs) Assert.Equal(a[spec], b[spec]);
    }

    /// <summary>Rewrites a saved model.safetensors with its tensors renamed / dropped / added.</summary>
    private static void Rewrite(string dir, Func<string, string?> rename, params (string Name, float[] Data, long[] Shape)[] extra)
    {
        var path = Path.Combine(dir, "model.safetensors");
        var w = new SafeTensorsWriter();
        using (var f = SafeTensorsFile.Open(path))
        {
            foreach (var t in f.Tensors)
            {
                var n = rename(t.Name);
                if (n is not null) w.Add(n, f.ReadFloats(t.Name), StoreDType.F32, t.Shape);
            }
        }
        foreach (var (name, data, shape) in extra) w.Add(name, data, StoreDType.F32, shape);
        w.Save(path);
    }

    private static UserError LoadFails(string dir) => Assert.Throws<UserError>(() => HfCheckpoint.Load(dir));

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Save_then_load_is_exact_in_f32(bool untied)
    {
        int seed = Random.Shared.Next();
        var w = ModelWeights.Random(Tiny, seed, untiedHead: untied);
        var dir = TestPaths.TempDir();
        HfCheckpoint.Save(dir, w, metadata: new Dictionary<string, string> { ["step"] = "1000" });
        Assert.Equal(["config.json", "model.safetensors"], Directory.GetFiles(dir).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        var back = HfCheckpoint.Load(dir);
        SameWeights(w, back);
        Assert.Equal(Tiny with { TieWordEmbeddings = !untied }, back.Config);

        using var f = SafeTensorsFile.Open(Path.Combine(dir, "model.safetensors"));
        Assert.Equal("pt", f.Metadata["format"]);
        Assert.Equal("1000", f.Metadata["step"]);
        Assert.True(f.Contains("transformer.h.1.mlp.c_proj.weight"));
        Assert.Equal([12L, 8L], f.Info("transformer.h.1.mlp.c_proj.weight").Shape);
        Assert.Equal(untied, f.Contains("lm_head.weight"));
        Assert.DoesNotContain(f.Names, n => n.EndsWith(".attn.bias", StringComparison.Ordinal) || n.EndsWith(".attn.masked_bias", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(StoreDType.F16)]
    [InlineData(StoreDType.BF16)]
    public void Half_precision_checkpoints_widen_on_load(StoreDType dtype)
    {
        var w = ModelWeights.Random(Tiny, 7);
        var dir = TestPaths.TempDir();
        HfCheckpoint.Save(dir, w, dtype);
        var back = HfCheckpoint.Load(dir);
        float tol = dtype == StoreDType.F16 ? 1e-3f : 8e-3f;
        for (int i = 0; i < w.Wte.Length; i++)
            Assert.True(Math.Abs(back.Wte[i] - w.Wte[i]) <= tol * Math.Abs(w.Wte[i]) + 1e-7f, $"wte[{i}] {back.Wte[i]} vs {w.Wte[i]}");
        Assert.Contains(dtype == StoreDType.F16 ? "\"float16\"" : "\"bfloat16\"", File.ReadAllText(Path.Combine(dir, "config.json")), StringComparison.Ordinal);
    }

    [Fact]
    public void Keys_without_the_prefix_and_mask_buffers_are_accepted()
    {
        var w = ModelWeights.Random(Tiny, 3);
        var dir = TestPaths.TempDir();
        HfCheckpoint.Save(dir, w);
        Rewrite(dir, n => n.StartsWith("transformer.", StringComparison.Ordinal) ? n["transformer.".Length..] : n,
            ("h.0.attn.bias", new float[16 * 16], [1, 1, 16, 16]), ("h.1.attn.masked_bias", [-1e4f], []));
        SameWeights(w, HfCheckpoint.Load(dir));
    }

    [Fact]
    public void Missing_and_unexpected_tensors_are_named()
    {
        var dir = TestPaths.TempDir();
        HfCheckpoint.Save(dir, ModelWeights.Random(Tiny, 3));
        Rewrite(dir, n => n == "transformer.h.1.ln_2.bias" ? null : n, ("transformer.h.2.ln_1.weight", new float[8], [8]));
        var e = LoadFails(dir);
        Assert.StartsWith(Path.Combine(dir, "model.safetensors") + ": does not match", e.Message);
        Assert.Contains("missing tensors 'h.1.ln_2.bias'", e.Message, StringComparison.Ordinal);
        Assert.Contains("unexpected tensors 'transformer.h.2.ln_1.weight'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_config_that_does_not_match_the_shapes_is_named()
    {
        var dir = TestPaths.TempDir();
        HfCheckpoint.Save(dir, ModelWeights.Random(Tiny, 3));
        HfConfig.Save(dir, Tiny with { Inner = 16 });
        var e = LoadFails(dir);
        Assert.StartsWith(Path.Combine(dir, "model.safetensors") + ": tensor 'transformer.h.0.mlp.c_fc.weight' has shape [8, 12]", e.Message);
        Assert.Contains("needs [8, 16]", e.Message, StringComparison.Ordinal);

        HfConfig.Save(dir, Tiny with { Layers = 3 });
        Assert.Contains("missing tensors 'h.2.ln_1.weight'", LoadFails(dir).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_untied_config_without_lm_head_is_an_error()
    {
        var dir = TestPaths.TempDir();
        HfCheckpoint.Save(dir, ModelWeights.Random(Tiny, 3));
        HfConfig.Save(dir, Tiny with { TieWordEmbeddings = false });
        Assert.Contains("missing tensor 'lm_head.weight'", LoadFails(dir).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_tied_config_accepts_a_stored_copy_of_wte_but_not_a_different_head()
    {
        var w = ModelWeights.Random(Tiny, 3);
        var dir = TestPaths.TempDir();
        HfCheckpoint.Save(dir, w);
        Rewrite(dir, n => n, ("lm_head.weight", w.Wte, [50, 8]));
        Assert.Null(HfCheckpoint.Load(dir).LmHead);

        var other = (float[])w.Wte.Clone();
        other[5] += 1;
        HfCheckpoint.Save(dir, w);
        Rewrite(dir, n => n, ("lm_head.weight", other, [50, 8]));
        Assert.Contains("lm_head.weight differs from wte.weight", LoadFails(dir).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_padded_vocabulary_loads()
    {
        var cfg = Tiny with { VocabSize = 64 };
        var dir = TestPaths.TempDir();
        HfCheckpoint.Save(dir, ModelWeights.Random(cfg, 1));
        Assert.Equal(64 * 8, HfCheckpoint.Load(dir).Wte.Length);
    }

    [Fact]
    public void Sharded_models_load()
    {
        var w = ModelWeights.Random(Tiny, 11, untiedHead: true);
        var dir = TestPaths.TempDir();
        HfCheckpoint.Save(dir, w);
        var single = Path.Combine(dir, "model.safetensors");
        var a = new SafeTensorsWriter();
        var b = new SafeTensorsWriter();
        var map = new List<string>();
        using (var f = SafeTensorsFile.Open(single))
        {
            foreach (var t in f.Tensors)
            {
                bool first = t.Name.Contains(".h.0.", StringComparison.Ordinal) || t.Name.Contains("wte", StringComparison.Ordinal);
                (first ? a : b).Add(t.Name, f.ReadFloats(t.Name), StoreDType.F32, t.Shape);
                map.Add($"\"{t.Name}\":\"{(first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors")}\"");
            }
        }
        File.Delete(single);
        a.Save(Path.Combine(dir, "model-00001-of-00002.safetensors"));
        b.Save(Path.Combine(dir, "model-00002-of-00002.safetensors"));
        File.WriteAllText(Path.Combine(dir, "model.safetensors.index.json"), "{\"metadata\":{},\"weight_map\":{" + string.Join(",", map) + "}}");
        SameWeights(w, HfCheckpoint.Load(dir));
    }

    [Fact]
    public void Loads_the_real_hugging_face_checkpoint()
    {
        var w = HfCheckpoint.Load(TestPaths.SharedFixture("tiny-random-gpt2"));
        Assert.Equal(5, w.Blocks.Length);
        Assert.Null(w.LmHead);
        Assert.Equal(1000 * 32, w.Wte.Length);
        Assert.Equal(32 * 128, w.Blocks[4].FcW.Length);
    }

    public static TheoryData<string> Architectures => new() { "gpt2", "gpt_neox", "qwen2" };

    private static ModelConfig ConfigOf(string modelType) => modelType switch
    {
        "gpt_neox" => Tiny with { Architecture = Architecture.GptNeoX, RotaryPct = 0.5, Gelu = GeluKind.Erf, ParallelResidual = true, TieWordEmbeddings = false },
        "qwen2" => Tiny with { Architecture = Architecture.Qwen2, Heads = 4, KvHeads = 2, TieWordEmbeddings = false },
        _ => Tiny with { TieWordEmbeddings = false },
    };

    [Theory]
    [MemberData(nameof(Architectures))]
    public void Every_missing_or_misshapen_tensor_is_one_line_naming_it(string modelType)
    {
        var cfg = ConfigOf(modelType);
        var w = ModelWeights.Random(cfg, 4, untiedHead: true);
        var dir = TestPaths.TempDir();
        string prefix = TensorTable.Prefix(cfg.Architecture);
        foreach (var spec in TensorTable.For(cfg, untiedHead: true))
        {
            string stored = spec.Role == TensorRole.Head ? spec.Name : prefix + spec.Name;
            HfCheckpoint.Save(dir, w);
            Rewrite(dir, n => n == stored ? null : n);
            var e = LoadFails(dir);
            Assert.DoesNotContain('\n', e.Message);
            Assert.Contains($"'{spec.Name}'", e.Message, StringComparison.Ordinal);

            // The same values under another shape: [n] for a matrix, [1, n] for a vector.
            HfCheckpoint.Save(dir, w);
            long[] shape = spec.Shape.Length == 2 ? [spec.ElementCount] : [1, spec.ElementCount];
            Rewrite(dir, n => n == stored ? null : n, (stored, new float[spec.ElementCount], shape));
            e = LoadFails(dir);
            Assert.DoesNotContain('\n', e.Message);
            Assert.Contains($"tensor '{stored}' has shape [{string.Join(", ", shape)}]", e.Message, StringComparison.Ordinal);
            Assert.Contains($"needs [{string.Join(", ", spec.Shape)}]", e.Message, StringComparison.Ordinal);
        }
    }

    [Theory]
    [MemberData(nameof(Architectures))]
    public void A_tensor_the_model_does_not_have_is_an_error_never_another_tensor(string modelType)
    {
        var cfg = ConfigOf(modelType);
        var w = ModelWeights.Random(cfg, 5, untiedHead: false);
        Assert.Throws<ArgumentException>(() => w[TensorRole.Head]);
        Assert.Throws<ArgumentException>(() => w[TensorRole.Ln1W, cfg.Layers]);
        Assert.Throws<ArgumentException>(() => w[TensorRole.AttnW]); // a block tensor outside the blocks
        if (cfg.Architecture == Architecture.GptNeoX) Assert.Throws<ArgumentException>(() => w[TensorRole.Wpe]);

        // Building weights without one of the table's tensors, with a wrong length, or with one it lacks, is refused.
        var all = w.Specs.ToDictionary(s => s.Key, s => w[s]);
        var spec = w.Specs[Random.Shared.Next(w.Specs.Count)];
        var missing = new Dictionary<TensorKey, float[]>(all);
        missing.Remove(spec.Key);
        Assert.Contains($"'{spec.Name}'", Assert.Throws<ArgumentException>(() => new ModelWeights(cfg, missing)).Message, StringComparison.Ordinal);
        var shortened = new Dictionary<TensorKey, float[]>(all) { [spec.Key] = new float[spec.ElementCount - 1] };
        Assert.Contains($"'{spec.Name}'", Assert.Throws<ArgumentException>(() => new ModelWeights(cfg, shortened)).Message, StringComparison.Ordinal);
        var extra = new Dictionary<TensorKey, float[]>(all) { [new TensorKey(TensorRole.Ln1W, cfg.Layers)] = new float[cfg.Embd] };
        Assert.Throws<ArgumentException>(() => new ModelWeights(cfg, extra));
    }

    /// <summary>Qwen2's q/k/v biases are part of the model whatever attention_bias says (Qwen2Config has none), and an
    /// o_proj bias, which Qwen2 never has, is an unexpected tensor.</summary>
    [Fact]
    public void Qwen2_has_q_k_v_biases_and_no_o_proj_bias()
    {
        var cfg = ConfigOf("qwen2");
        var names = TensorTable.For(cfg, untiedHead: true).Select(s => s.Name).ToHashSet();
        foreach (var n in new[] { "q_proj", "k_proj", "v_proj" }) Assert.Contains($"layers.1.self_attn.{n}.bias", names);
        Assert.DoesNotContain("layers.1.self_attn.o_proj.bias", names);
        Assert.DoesNotContain(names, n => n.StartsWith("layers.0.mlp.", StringComparison.Ordinal) && n.EndsWith(".bias", StringComparison.Ordinal));
        Assert.Equal(names, TensorTable.For(cfg with { Architecture = Architecture.Llama, AttentionBias = true }, untiedHead: true)
            .Select(s => s.Name).Where(n => !n.EndsWith("o_proj.bias", StringComparison.Ordinal)).ToHashSet());

        var w = ModelWeights.Random(cfg, 6, untiedHead: true);
        var dir = TestPaths.TempDir();
        HfCheckpoint.Save(dir, w);
        SameWeights(w, HfCheckpoint.Load(dir));
        Rewrite(dir, n => n, ("model.layers.0.self_attn.o_proj.bias", new float[cfg.Embd], [cfg.Embd]));
        var e = LoadFails(dir);
        Assert.Contains("unexpected tensors", e.Message, StringComparison.Ordinal);
        Assert.Contains("model.layers.0.self_attn.o_proj.bias", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Each_architecture_table_names_every_role_once_per_layer()
    {
        foreach (var table in new[] { TensorTable.Gpt2, TensorTable.GptNeoX, TensorTable.Llama, TensorTable.Olmo, TensorTable.Olmo2, TensorTable.Qwen2 })
        {
            var roles = table.Layer.Select(e => e.Role).ToList();
            Assert.Equal(roles.Distinct().Count(), roles.Count);
            var global = table.Before.Concat(table.After).Append(table.Head).Select(e => e.Role).ToList();
            Assert.Equal(global.Distinct().Count(), global.Count);
            Assert.All(table.Layer, e => Assert.Contains("{0}", e.Name, StringComparison.Ordinal));
        }
    }
}

using LearningCurves.Engine;
using LearningCurves.Engine.Checkpoints;
using LearningCurves.Engine.Model;
using LearningCurves.Tests.Common;
using Xunit;
using LearningCurves.Formats;

namespace LearningCurves.Engine.Tests;

public class CheckpointTests
{
    private static readonly Gpt2Config Tiny = new() { VocabSize = 50, MaxPositions = 16, Embd = 8, Layers = 2, Heads = 2, Inner = 12 };

    private static void SameWeights(Gpt2Weights a, Gpt2Weights b)
    {
        Assert.Equal(a.Wte, b.Wte);
        Assert.Equal(a.Wpe, b.Wpe);
        Assert.Equal(a.LnFW, b.LnFW);
        Assert.Equal(a.LnFB, b.LnFB);
        Assert.Equal(a.LmHead, b.LmHead);
        for (int l = 0; l < a.Blocks.Length; l++)
        {
            var x = a.Blocks[l];
            var y = b.Blocks[l];
            Assert.Equal(x.AttnW, y.AttnW);
            Assert.Equal(x.AttnB, y.AttnB);
            Assert.Equal(x.AttnProjW, y.AttnProjW);
            Assert.Equal(x.AttnProjB, y.AttnProjB);
            Assert.Equal(x.FcW, y.FcW);
            Assert.Equal(x.FcB, y.FcB);
            Assert.Equal(x.FcProjW, y.FcProjW);
            Assert.Equal(x.FcProjB, y.FcProjB);
            Assert.Equal(x.Ln1W, y.Ln1W);
            Assert.Equal(x.Ln1B, y.Ln1B);
            Assert.Equal(x.Ln2W, y.Ln2W);
            Assert.Equal(x.Ln2B, y.Ln2B);
        }
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
        var w = Gpt2Weights.Random(Tiny, seed, untiedHead: untied);
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
        var w = Gpt2Weights.Random(Tiny, 7);
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
        var w = Gpt2Weights.Random(Tiny, 3);
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
        HfCheckpoint.Save(dir, Gpt2Weights.Random(Tiny, 3));
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
        HfCheckpoint.Save(dir, Gpt2Weights.Random(Tiny, 3));
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
        HfCheckpoint.Save(dir, Gpt2Weights.Random(Tiny, 3));
        HfConfig.Save(dir, Tiny with { TieWordEmbeddings = false });
        Assert.Contains("missing tensor 'lm_head.weight'", LoadFails(dir).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_tied_config_accepts_a_stored_copy_of_wte_but_not_a_different_head()
    {
        var w = Gpt2Weights.Random(Tiny, 3);
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
        HfCheckpoint.Save(dir, Gpt2Weights.Random(cfg, 1));
        Assert.Equal(64 * 8, HfCheckpoint.Load(dir).Wte.Length);
    }

    [Fact]
    public void Sharded_models_load()
    {
        var w = Gpt2Weights.Random(Tiny, 11, untiedHead: true);
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
}

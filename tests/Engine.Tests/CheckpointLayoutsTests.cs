using System.Text;
using System.Text.Json.Nodes;
using LearningCurves.Engine.Backends;
using LearningCurves.Engine.Checkpoints;
using LearningCurves.Engine.Model;
using LearningCurves.Formats;
using LearningCurves.Tests.Common;
using Xunit;

namespace LearningCurves.Engine.Tests;

/// <summary>
/// The layouts real runs are saved in (issue 23 items 2 and 3): GPT-2 with the exact GELU and the flags the paper's and
/// CRFM's Mistral runs set; transformers 5's GPT-NeoX (head named lm_head.weight, rope_parameters, dtype); a tied head
/// absent from the file. Configs and checkpoints are written by the test.
/// </summary>
public class CheckpointLayoutsTests
{
    private static void EditConfig(string dir, Action<JsonObject> edit)
    {
        var path = Path.Combine(dir, HfConfig.FileName);
        var o = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(o);
        File.WriteAllText(path, o.ToJsonString());
    }

    /// <summary>Rewrites model.safetensors with tensors renamed (null: dropped).</summary>
    private static void Rename(string dir, Func<string, string?> rename, params (string Name, float[] Data, long[] Shape)[] extra)
    {
        var path = Path.Combine(dir, "model.safetensors");
        var w = new SafeTensorsWriter();
        using (var f = SafeTensorsFile.Open(path))
        {
            foreach (var t in f.Tensors)
            {
                if (rename(t.Name) is { } n) w.Add(n, f.ReadFloats(t.Name), StoreDType.F32, t.Shape);
            }
        }
        foreach (var (name, data, shape) in extra) w.Add(name, data, StoreDType.F32, shape);
        w.Save(path);
    }

    private static int[][] Sequences(int seed, int vocab, int maxLen) =>
        Enumerable.Range(0, 4).Select(i => Enumerable.Range(0, 2 + new Random(seed + i).Next(maxLen - 1)).Select(_ => Random.Shared.Next(vocab)).ToArray()).ToArray();

    [Theory]
    [InlineData(false, 11)]
    [InlineData(true, 12)]
    public void Gpt2_with_the_exact_gelu_and_its_flags_matches_float64(bool inverseLayerIdx, int seed)
    {
        seed ^= Random.Shared.Next(1 << 16);
        var cfg = new ModelConfig { VocabSize = 97, MaxPositions = 24, Embd = 24, Layers = 2, Heads = 3, Inner = 40, Gelu = GeluKind.Erf, ScaleAttnByInverseLayerIdx = inverseLayerIdx };
        var dir = TestPaths.TempDir();
        HfCheckpoint.Save(dir, ModelWeights.Random(cfg, seed));
        Assert.Contains("\"activation_function\": \"gelu\"", File.ReadAllText(Path.Combine(dir, HfConfig.FileName)), StringComparison.Ordinal);
        // As the paper's and CRFM's configs have them.
        EditConfig(dir, o => o["reorder_and_upcast_attn"] = true);
        var w = HfCheckpoint.Load(dir);
        Assert.Equal(GeluKind.Erf, w.Config.Gelu);
        Assert.Equal(inverseLayerIdx, w.Config.ScaleAttnByInverseLayerIdx);
        using var model = new DecoderModel(new CpuBackend(Precision.Fp32), w);
        var seqs = Sequences(seed, cfg.VocabSize, cfg.MaxPositions);
        var got = model.ScoreAll(seqs);
        double worst = 0;
        for (int s = 0; s < seqs.Length; s++)
        {
            var want = NaiveGpt2.SurprisalBits(w, seqs[s]);
            for (int i = 0; i < want.Length; i++) worst = Math.Max(worst, Math.Abs(want[i] - got[s][i]));
        }
        Assert.True(worst < 1e-5, $"seed {seed}: {worst:E2} bits from float64");

        // The tanh GELU of the same weights is a different model: the reference tells them apart.
        var tanh = NaiveGpt2.SurprisalBits(w.With(TensorRole.LnFB, w.LnFB, cfg with { Gelu = GeluKind.Tanh }), seqs[0]);
        Assert.NotEqual(tanh, NaiveGpt2.SurprisalBits(w, seqs[0]));
    }

    [Fact]
    public void The_papers_gpt2_config_reads()
    {
        // tylerachang/lm-learning-curves gpt2_config.json's values (exact GELU, a padded SentencePiece vocabulary).
        var c = HfConfig.Parse("""
            {"activation_function":"gelu","architectures":["GPT2LMHeadModel"],"attn_pdrop":0.1,"bos_token_id":50256,
             "embd_pdrop":0.1,"eos_token_id":50256,"initializer_range":0.02,"layer_norm_epsilon":1e-05,"model_type":"gpt2",
             "n_ctx":128,"n_embd":768,"n_head":12,"n_inner":3072,"n_layer":12,"n_positions":128,"resid_pdrop":0.1,
             "scale_attn_weights":true,"vocab_size":51200}
            """u8, "paper/config.json");
        Assert.Equal(GeluKind.Erf, c.Gelu);
        Assert.Equal((51200, 128, 3072), (c.VocabSize, c.MaxPositions, c.InnerSize));
        var mistral = HfConfig.Parse("""{"model_type":"gpt2","activation_function":"gelu_new","scale_attn_by_inverse_layer_idx":true,"reorder_and_upcast_attn":true,"n_ctx":1024}"""u8, "m");
        Assert.True(mistral.ScaleAttnByInverseLayerIdx);
        Assert.Equal(GeluKind.Tanh, mistral.Gelu);
    }

    private static ModelConfig NeoX(bool tied = false) => new()
    {
        Architecture = Architecture.GptNeoX, VocabSize = 61, MaxPositions = 20, Embd = 24, Layers = 2, Heads = 2, Inner = 36,
        RotaryPct = 0.5, RotaryBase = 500, ParallelResidual = true, Gelu = GeluKind.Erf, TieWordEmbeddings = tied,
    };

    [Fact]
    public void A_transformers_5_gpt_neox_reads_as_the_same_model()
    {
        var cfg = NeoX();
        var w = ModelWeights.Random(cfg, 3, untiedHead: true);
        var old = TestPaths.TempDir();
        HfCheckpoint.Save(old, w);
        var v5 = TestPaths.TempDir();
        HfCheckpoint.Save(v5, w);
        // transformers 5.17: the head is lm_head.weight; rope_theta and the rotary fraction in rope_parameters; dtype.
        Rename(v5, n => n == "embed_out.weight" ? "lm_head.weight" : n);
        EditConfig(v5, o =>
        {
            o.Remove("rotary_pct");
            o.Remove("rotary_emb_base");
            o.Remove("torch_dtype");
            o["dtype"] = "float32";
            o["rope_parameters"] = new JsonObject { ["rope_type"] = "default", ["rope_theta"] = 500, ["partial_rotary_factor"] = 0.5 };
            o["partial_rotary_factor"] = 0.25; // stale top-level value: transformers 5 reads rope_parameters
        });
        var a = HfCheckpoint.Load(old);
        var b = HfCheckpoint.Load(v5);
        Assert.Equal(a.Config, b.Config);
        Assert.Equal(a.ContentHash, b.ContentHash);
        foreach (var s in a.Specs) Assert.Equal(a[s], b[s]);
        var seqs = Sequences(5, cfg.VocabSize, cfg.MaxPositions);
        using var ma = new DecoderModel(new CpuBackend(Precision.Fp32), a);
        using var mb = new DecoderModel(new CpuBackend(Precision.Fp32), b);
        Assert.Equal(ma.ScoreAll(seqs), mb.ScoreAll(seqs));

        // Both names at once is ambiguous.
        Rename(v5, n => n, ("embed_out.weight", w.LmHead!, [cfg.VocabSize, cfg.Embd]));
        var e = Assert.Throws<UserError>(() => HfCheckpoint.Load(v5));
        Assert.Contains("the head is stored twice, as 'embed_out.weight' and 'lm_head.weight'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Rope_parameters_other_than_the_default_are_refused_by_name()
    {
        var e = Assert.Throws<UserError>(() => HfConfig.Parse("""{"model_type":"gpt_neox","rope_parameters":{"rope_type":"linear","factor":2.0,"rope_theta":10000}}"""u8, "c.json"));
        Assert.Contains("\"rope_type\" is \"linear\"", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<UserError>(() => HfConfig.Parse("""{"model_type":"gpt_neox","rope_parameters":3}"""u8, "c.json"));
        Assert.Contains("\"rope_parameters\" must be an object", e.Message, StringComparison.Ordinal);
        var c = HfConfig.Parse("""{"model_type":"gpt_neox","hidden_size":64,"num_attention_heads":4,"num_hidden_layers":1,"intermediate_size":8,"rope_parameters":{"rope_theta":1000000.0,"partial_rotary_factor":0.5}}"""u8, "c.json");
        Assert.Equal((1_000_000.0, 0.5), (c.RotaryBase, c.RotaryPct));
    }

    [Theory]
    [InlineData("gpt2")]
    [InlineData("gpt_neox")]
    public void A_tied_head_absent_from_the_file_is_the_embedding(string modelType)
    {
        var cfg = modelType == "gpt_neox" ? NeoX(tied: true) : new ModelConfig { VocabSize = 61, MaxPositions = 20, Embd = 24, Layers = 1, Heads = 2 };
        var w = ModelWeights.Random(cfg, 8);
        var dir = TestPaths.TempDir();
        HfCheckpoint.Save(dir, w);
        var back = HfCheckpoint.Load(dir);
        Assert.Null(back.LmHead);
        Assert.Same(back.Wte, back.Head);
        Assert.Contains("\"tie_word_embeddings\": true", File.ReadAllText(Path.Combine(dir, HfConfig.FileName)), StringComparison.Ordinal);
        using var m = new DecoderModel(new CpuBackend(Precision.Fp32), back);
        Assert.All(m.ScoreAll(Sequences(2, cfg.VocabSize, cfg.MaxPositions)).SelectMany(r => r), v => Assert.True(float.IsFinite(v)));
    }
}

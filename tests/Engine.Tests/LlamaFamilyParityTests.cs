using System.Text.Json.Nodes;
using LearningCurves.Engine.Backends;
using LearningCurves.Engine.Checkpoints;
using LearningCurves.Engine.Model;
using LearningCurves.Tests.Common;
using Xunit;

namespace LearningCurves.Engine.Tests;

/// <summary>
/// The LLaMA family (llama, olmo, olmo2, qwen2) against the float64 references of tests/reference/llama_reference.py,
/// committed in tests/fixtures/parity-llama/: GQA, odd head counts with an explicit head_dim, tied and untied heads,
/// attention and MLP biases, OLMo's clip_qkv and weightless layer norm, OLMo-2's QK-norm and post-norms, Qwen2's q/k/v
/// biases (sliding window off, in transformers 4's and 5's config layouts), the "linear" and "llama3" rotary scalings,
/// F32 and BF16, one file and two shards. A fixture whose model_type is not in <see cref="HfConfig.SupportedModelTypes"/> is skipped with a reason,
/// so these become live tests the moment support lands.
/// </summary>
public class LlamaFamilyParityTests
{
    public const string NotYet = "llama family not yet supported by the engine";

    public static readonly TheoryData<string> Fixtures = new(
        "llama-gqa-untied-f32", "llama-tied-bias-bf16", "llama-odd-heads-headdim-f32", "olmo-clip-f32", "olmo2-gqa-f32", "olmo2-sharded-bf16",
        "qwen2-gqa-untied-f32", "qwen2-tied-mqa-bf16", "llama-rope-linear-f32", "llama-rope-llama3-f32");

    private static string Fixture(string name) => Path.Combine(TestPaths.RepoRoot, "tests", "fixtures", "parity-llama", name);

    private static JsonNode Config(string name) => JsonNode.Parse(File.ReadAllText(Path.Combine(Fixture(name), "config.json")))!;

    private static void SkipUnlessSupported(string name)
    {
        string type = Config(name)["model_type"]!.GetValue<string>();
        if (!HfConfig.SupportedModelTypes.Contains(type)) Assert.Skip($"{NotYet} (model_type \"{type}\" of {name})");
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Llama_family_fixtures_match_the_float64_reference_on_the_cpu(string name)
    {
        SkipUnlessSupported(name);
        var w = HfCheckpoint.Load(Fixture(name));
        using var model = new DecoderModel(new CpuBackend(Precision.Fp32), w);
        TestContext.Current.SendDiagnosticMessage(ParityCheck.Run(model, Fixture(name), batchSize: 5));
    }

    /// <summary>Runs whatever the engine supports: the fixtures themselves are complete and cover every variant the
    /// issue names.</summary>
    [Fact]
    public void The_fixtures_cover_every_required_variant_and_are_small()
    {
        var all = Fixtures.Select(f => (string)f.Data).ToList();
        var cfgs = all.Select(n => (Name: n, Cfg: Config(n))).ToList();
        int Int(JsonNode c, string k) => c[k]!.GetValue<int>();
        bool Flag(JsonNode c, string k) => c[k] is JsonNode v && v.GetValue<bool>();
        Assert.Contains(cfgs, c => c.Cfg["model_type"]!.GetValue<string>() == "llama" && Int(c.Cfg, "num_key_value_heads") < Int(c.Cfg, "num_attention_heads"));
        Assert.Contains(cfgs, c => Int(c.Cfg, "num_attention_heads") % 2 == 1 && Int(c.Cfg, "num_key_value_heads") == 1);
        Assert.Contains(cfgs, c => c.Cfg["head_dim"] is not null && Int(c.Cfg, "head_dim") * Int(c.Cfg, "num_attention_heads") != Int(c.Cfg, "hidden_size"));
        Assert.Contains(cfgs, c => Flag(c.Cfg, "tie_word_embeddings"));
        Assert.Contains(cfgs, c => !Flag(c.Cfg, "tie_word_embeddings"));
        Assert.Contains(cfgs, c => Flag(c.Cfg, "attention_bias") && Flag(c.Cfg, "mlp_bias"));
        Assert.Contains(cfgs, c => c.Cfg["model_type"]!.GetValue<string>() == "olmo" && c.Cfg["clip_qkv"] is not null);
        Assert.Contains(cfgs, c => c.Cfg["model_type"]!.GetValue<string>() == "olmo2" && c.Cfg["torch_dtype"]!.GetValue<string>() == "float32");
        Assert.Contains(cfgs, c => c.Cfg["model_type"]!.GetValue<string>() == "olmo2" && File.Exists(Path.Combine(Fixture(c.Name), "model.safetensors.index.json")));
        Assert.Contains(cfgs, c => (c.Cfg["torch_dtype"] ?? c.Cfg["dtype"])!.GetValue<string>() == "bfloat16");
        // qwen2: GQA with an odd head count, untied and tied, F32 and BF16, sliding window set but off (transformers 4)
        // and layer_types all full attention (transformers 5), with no attention_bias key (the q/k/v biases are fixed).
        var qwen = cfgs.Where(c => c.Cfg["model_type"]!.GetValue<string>() == "qwen2").Select(c => c.Cfg).ToList();
        Assert.Contains(qwen, c => Int(c, "num_attention_heads") % 2 == 1 && Int(c, "num_key_value_heads") is > 1 and var kv && kv < Int(c, "num_attention_heads"));
        Assert.Contains(qwen, c => Flag(c, "tie_word_embeddings") && c["dtype"]!.GetValue<string>() == "bfloat16" && c["layer_types"]!.AsArray().All(t => t!.GetValue<string>() == "full_attention"));
        Assert.Contains(qwen, c => !Flag(c, "tie_word_embeddings") && c["torch_dtype"]!.GetValue<string>() == "float32" && !Flag(c, "use_sliding_window")
            && c["sliding_window"] is not null && Int(c, "max_window_layers") < Int(c, "num_hidden_layers"));
        Assert.All(qwen, c => Assert.Null(c["attention_bias"]));
        // Rotary scaling: linear in transformers 5's rope_parameters, llama3 in transformers 4's rope_scaling.
        Assert.Contains(cfgs, c => c.Cfg["rope_parameters"]?["rope_type"]?.GetValue<string>() == "linear");
        Assert.Contains(cfgs, c => c.Cfg["rope_scaling"]?["rope_type"]?.GetValue<string>() == "llama3");
        foreach (var n in all)
        {
            long bytes = Directory.EnumerateFiles(Fixture(n)).Sum(f => new FileInfo(f).Length);
            Assert.True(bytes < 200_000, $"{n}: {bytes} bytes");
            foreach (var f in new[] { "config.json", "ids.txt", "surprisal.npy", "logit_rows.npy", "logits.npy" })
                Assert.True(File.Exists(Path.Combine(Fixture(n), f)), $"{n}/{f} missing");
        }
    }

    /// <summary>The safetensors files hold exactly transformers' tensor names for each architecture (what a loader must
    /// map), and the references come from those tensors: read with the engine's own safetensors reader.</summary>
    [Theory]
    [MemberData(nameof(Fixtures))]
    public void The_files_hold_transformers_tensor_names(string name)
    {
        var cfg = Config(name);
        string type = cfg["model_type"]!.GetValue<string>();
        int layers = cfg["num_hidden_layers"]!.GetValue<int>();
        var dir = Fixture(name);
        var files = File.Exists(Path.Combine(dir, "model.safetensors.index.json"))
            ? Directory.EnumerateFiles(dir, "model-*.safetensors").ToList()
            : [Path.Combine(dir, "model.safetensors")];
        var names = new HashSet<string>();
        foreach (var f in files)
        {
            using var st = SafeTensorsFile.Open(f);
            names.UnionWith(st.Tensors.Select(t => t.Name));
        }
        var want = new HashSet<string> { "model.embed_tokens.weight" };
        if (type != "olmo") want.Add("model.norm.weight");
        if (!(cfg["tie_word_embeddings"]?.GetValue<bool>() ?? false)) want.Add("lm_head.weight");
        for (int l = 0; l < layers; l++)
        {
            string p = $"model.layers.{l}.";
            foreach (var proj in new[] { "q_proj", "k_proj", "v_proj", "o_proj" })
            {
                want.Add(p + $"self_attn.{proj}.weight");
                if (cfg["attention_bias"]?.GetValue<bool>() ?? false) want.Add(p + $"self_attn.{proj}.bias");
                if (type == "qwen2" && proj != "o_proj") want.Add(p + $"self_attn.{proj}.bias");
            }
            foreach (var proj in new[] { "gate_proj", "up_proj", "down_proj" })
            {
                want.Add(p + $"mlp.{proj}.weight");
                if (cfg["mlp_bias"]?.GetValue<bool>() ?? false) want.Add(p + $"mlp.{proj}.bias");
            }
            if (type is "llama" or "qwen2") want.UnionWith([p + "input_layernorm.weight", p + "post_attention_layernorm.weight"]);
            if (type == "olmo2")
                want.UnionWith([p + "post_attention_layernorm.weight", p + "post_feedforward_layernorm.weight", p + "self_attn.q_norm.weight", p + "self_attn.k_norm.weight"]);
        }
        Assert.True(want.SetEquals(names), $"{name}: missing [{string.Join(", ", want.Except(names))}], unexpected [{string.Join(", ", names.Except(want))}]");
    }
}

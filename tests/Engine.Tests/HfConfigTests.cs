using System.Text;
using LearningCurves.Engine;
using LearningCurves.Engine.Checkpoints;
using LearningCurves.Engine.Model;
using LearningCurves.Tests.Common;
using Xunit;
using LearningCurves.Formats;

namespace LearningCurves.Engine.Tests;

public class HfConfigTests
{
    private static ModelConfig P(string json) => HfConfig.Parse(Encoding.UTF8.GetBytes(json), "m/config.json");

    private static void Refuses(string json, string fragment)
    {
        var e = Assert.Throws<UserError>(() => P(json));
        Assert.StartsWith("m/config.json: ", e.Message);
        Assert.Contains(fragment, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Reads_every_option()
    {
        var c = P("""
            {"model_type":"gpt2","vocab_size":51200,"n_positions":128,"n_embd":48,"n_layer":3,"n_head":4,"n_inner":100,
             "layer_norm_epsilon":1e-6,"activation_function":"gelu_new","scale_attn_weights":false,
             "scale_attn_by_inverse_layer_idx":true,"tie_word_embeddings":false,"reorder_and_upcast_attn":true}
            """);
        Assert.Equal(new ModelConfig
        {
            VocabSize = 51200, MaxPositions = 128, Embd = 48, Layers = 3, Heads = 4, Inner = 100, LayerNormEpsilon = 1e-6f,
            ScaleAttnWeights = false, ScaleAttnByInverseLayerIdx = true, TieWordEmbeddings = false,
        }, c);
        Assert.Equal(100, c.InnerSize);
    }

    [Fact]
    public void Missing_keys_take_the_transformers_defaults_and_n_ctx_is_the_legacy_name()
    {
        var c = P("""{"n_ctx":256,"n_inner":null}""");
        Assert.Equal(256, c.MaxPositions);
        Assert.Equal(50257, c.VocabSize);
        Assert.Equal(768, c.Embd);
        Assert.Equal(12, c.Layers);
        Assert.Equal(3072, c.InnerSize);
        Assert.True(c.ScaleAttnWeights);
        Assert.False(c.ScaleAttnByInverseLayerIdx);
        Assert.True(c.TieWordEmbeddings);
        Assert.Equal(1e-5f, c.LayerNormEpsilon);
        Assert.Equal(1024, P("{}").MaxPositions);
    }

    [Fact]
    public void Llama_family_configs_read_with_transformers_defaults_and_transformers_5_rope_parameters()
    {
        var l = P("""{"model_type":"llama","hidden_size":2048,"num_attention_heads":32,"num_key_value_heads":4,"intermediate_size":5632,"num_hidden_layers":22,"vocab_size":32000}""");
        Assert.Equal(Architecture.Llama, l.Architecture);
        Assert.Equal((32, 4, 64, 64, 64 * 40), (l.Heads, l.KvHeadCount, l.HeadSize, l.RotaryDims, l.QkvWidth));
        Assert.Equal((1e-6f, 10000.0, false), (l.LayerNormEpsilon, l.RotaryBase, l.TieWordEmbeddings));
        var o2 = P("""{"model_type":"olmo2","hidden_size":64,"num_attention_heads":4,"head_dim":8,"rope_parameters":{"rope_type":"default","rope_theta":500000.0,"partial_rotary_factor":0.5},"dtype":"bfloat16"}""");
        Assert.Equal((Architecture.Olmo2, 8, 4, 500000.0, 1e-5f), (o2.Architecture, o2.HeadSize, o2.RotaryDims, o2.RotaryBase, o2.LayerNormEpsilon));
        var o = P("""{"model_type":"olmo","clip_qkv":8.0,"attention_bias":true,"rms_norm_eps":1e-6}""");
        Assert.Equal((Architecture.Olmo, 8.0, true, 1e-5f), (o.Architecture, o.ClipQkv, o.AttentionBias, o.LayerNormEpsilon));
        // What ToJson writes reads back equal.
        foreach (var c in new[] { l, o2, o, l with { AttentionBias = true, MlpBias = true, HeadDim = 32, TieWordEmbeddings = true } })
            Assert.Equal(c, P(HfConfig.ToJson(c)));
    }

    /// <summary>Qwen2 as Qwen2Config reads it: its defaults, q/k/v biases whatever attention_bias says, and sliding-window
    /// attention accepted only where it is off.</summary>
    [Fact]
    public void Qwen2_configs_read_with_qwen2_defaults_and_sliding_window_off()
    {
        // Qwen2.5-0.5B's config.json as published (transformers 4): sliding_window and max_window_layers set, but
        // use_sliding_window false, so no layer slides.
        var q = P("""
            {"architectures":["Qwen2ForCausalLM"],"attention_dropout":0.0,"bos_token_id":151643,"eos_token_id":151643,
             "hidden_act":"silu","hidden_size":896,"initializer_range":0.02,"intermediate_size":4864,
             "max_position_embeddings":32768,"max_window_layers":24,"model_type":"qwen2","num_attention_heads":14,
             "num_hidden_layers":24,"num_key_value_heads":2,"rms_norm_eps":1e-06,"rope_theta":1000000.0,
             "sliding_window":32768,"tie_word_embeddings":true,"torch_dtype":"bfloat16","transformers_version":"4.43.1",
             "use_cache":true,"use_sliding_window":false,"vocab_size":151936}
            """);
        Assert.Equal((Architecture.Qwen2, 14, 2, 64, 64, 1000000.0, 1e-6f), (q.Architecture, q.Heads, q.KvHeadCount, q.HeadSize, q.RotaryDims, q.RotaryBase, q.LayerNormEpsilon));
        Assert.Equal((true, false, true, false, "qwen2"), (q.QkvBias, q.AttentionBias, q.TieWordEmbeddings, q.MlpBias, q.ModelType));
        Assert.Equal(494_032_768, q.ParameterCount(untiedHead: false)); // Qwen2.5-0.5B's published count: q/k/v biases, no o_proj bias
        // Qwen2Config's defaults; attention_bias is not a Qwen2 key and changes nothing.
        var d = P("""{"model_type":"qwen2","attention_bias":true}""");
        Assert.Equal((151936, 32768, 4096, 22016, 32, 32, 32, 10000.0, 1e-6f, false), (d.VocabSize, d.MaxPositions, d.Embd, d.InnerSize, d.Layers, d.Heads, d.KvHeadCount, d.RotaryBase, d.LayerNormEpsilon, d.TieWordEmbeddings));
        Assert.Equal((false, true), (d.AttentionBias, d.QkvBias));
        // transformers 5: rope_parameters, layer_types all full attention (which wins over use_sliding_window).
        var t5 = P("""
            {"model_type":"qwen2","hidden_size":64,"num_attention_heads":4,"num_key_value_heads":2,"num_hidden_layers":2,
             "rope_parameters":{"rope_type":"default","rope_theta":1000000.0},"use_sliding_window":true,"sliding_window":8,
             "max_window_layers":0,"layer_types":["full_attention","full_attention"],"dtype":"bfloat16"}
            """);
        Assert.Equal((Architecture.Qwen2, 1000000.0, 16), (t5.Architecture, t5.RotaryBase, t5.HeadSize));
        // rotary settings keyed by layer type: the full-attention layers' are read.
        Assert.Equal(500000.0, P("""{"model_type":"qwen2","num_hidden_layers":1,"rope_parameters":{"full_attention":{"rope_type":"default","rope_theta":500000.0}}}""").RotaryBase);
        // A sliding window that no layer uses: the window is on, but max_window_layers covers every layer; or it is null.
        P("""{"model_type":"qwen2","num_hidden_layers":4,"use_sliding_window":true,"sliding_window":4096,"max_window_layers":4}""");
        P("""{"model_type":"qwen2","num_hidden_layers":4,"use_sliding_window":true,"sliding_window":null,"max_window_layers":0}""");
        // What ToJson writes reads back equal.
        foreach (var c in new[] { q, d, t5, q with { HeadDim = 32, TieWordEmbeddings = false } })
            Assert.Equal(c, P(HfConfig.ToJson(c)));
        Assert.Contains("\"Qwen2ForCausalLM\"", HfConfig.ToJson(q), StringComparison.Ordinal);
        // Options Qwen2 does not have are refused on a config built in code too (ToJson could not write them).
        var e = Assert.Throws<UserError>(() => (q with { AttentionBias = true }).Validate("q"));
        Assert.Equal("q: qwen2 has biases on q, k and v only (no attention_bias, mlp_bias or clip_qkv)", e.Message);
    }

    [Fact]
    public void Qwen2_sliding_window_attention_is_refused_naming_the_field()
    {
        Refuses("""{"model_type":"qwen2","num_hidden_layers":32,"use_sliding_window":true,"sliding_window":4096,"max_window_layers":28}""",
            "\"use_sliding_window\" is true (sliding_window 4096 on layers 28..31, from max_window_layers 28); only full attention is supported (sliding-window attention is not)");
        // max_window_layers defaults to 28: a 32-layer model with the window on slides its last four layers.
        Refuses("""{"model_type":"qwen2","use_sliding_window":true}""", "\"use_sliding_window\" is true (sliding_window 4096 on layers 28..31");
        Refuses("""{"model_type":"qwen2","num_hidden_layers":3,"layer_types":["full_attention","sliding_attention","full_attention"]}""",
            "\"layer_types\" gives layer 1 \"sliding_attention\"; only \"full_attention\" is supported (sliding-window attention is not)");
        Refuses("""{"model_type":"qwen2","num_hidden_layers":3,"layer_types":["full_attention"]}""", "\"layer_types\" has 1 entries for 3 layers (num_hidden_layers)");
        Refuses("""{"model_type":"qwen2","layer_types":"full_attention"}""", "\"layer_types\" must be a list of strings");
        Refuses("""{"model_type":"qwen2","use_sliding_window":"no"}""", "\"use_sliding_window\" must be true or false");
        Refuses("""{"model_type":"qwen2","sliding_window":1.5}""", "\"sliding_window\" must be an integer or null");
        Refuses("""{"model_type":"qwen2","mlp_bias":true}""", "qwen2 has no MLP biases");
        Refuses("""{"model_type":"qwen2","rope_scaling":{"type":"yarn","factor":4.0}}""", "\"rope_scaling\" asks for \"yarn\" rotary scaling");
        Refuses("""{"model_type":"qwen2","hidden_act":"gelu"}""", "only \"silu\" (SwiGLU) is supported for qwen2");
    }

    /// <summary>The rotary scalings the LLaMA family runs, in each form a config.json gives them: transformers 4's
    /// rope_scaling keyed by "type" or "rope_type", transformers 5's rope_parameters (with rope_theta), per layer type.</summary>
    [Fact]
    public void Linear_and_llama3_rope_scaling_read_in_every_config_form()
    {
        var linear = new RopeScaling { Type = RopeScalingType.Linear, Factor = 4 };
        var llama3 = new RopeScaling { Type = RopeScalingType.Llama3, Factor = 8, LowFreqFactor = 1, HighFreqFactor = 4, OriginalMaxPositions = 8192 };
        const string L3 = "\"factor\":8.0,\"low_freq_factor\":1.0,\"high_freq_factor\":4.0,\"original_max_position_embeddings\":8192";
        Assert.Equal(linear, P("""{"model_type":"llama","rope_scaling":{"type":"linear","factor":4.0}}""").RotaryScaling);
        Assert.Equal(linear, P("""{"model_type":"llama","rope_scaling":{"rope_type":"linear","factor":4}}""").RotaryScaling);
        // rope_type wins over type, as transformers reads them.
        Assert.Equal(linear, P("""{"model_type":"qwen2","rope_scaling":{"type":"yarn","rope_type":"linear","factor":4}}""").RotaryScaling);
        var t4 = P("""{"model_type":"llama","rope_theta":500000.0,"rope_scaling":{""" + L3 + ""","rope_type":"llama3"}}""");
        Assert.Equal((500000.0, llama3), (t4.RotaryBase, t4.RotaryScaling));
        Assert.Equal(llama3, P("""{"model_type":"olmo","rope_scaling":{"type":"llama3",""" + L3 + "}}").RotaryScaling);
        var t5 = P("""{"model_type":"olmo2","rope_parameters":{"rope_type":"llama3","rope_theta":500000.0,""" + L3 + "}}");
        Assert.Equal((500000.0, llama3), (t5.RotaryBase, t5.RotaryScaling));
        var t5Linear = P("""{"model_type":"qwen2","num_hidden_layers":1,"rope_parameters":{"full_attention":{"rope_type":"linear","rope_theta":1e6,"factor":4}}}""");
        Assert.Equal((1e6, linear), (t5Linear.RotaryBase, t5Linear.RotaryScaling));
        // The same scaling in both objects is one scaling; "default" and null are none.
        Assert.Equal(linear, P("""{"model_type":"llama","rope_scaling":{"type":"linear","factor":4},"rope_parameters":{"rope_type":"linear","factor":4,"rope_theta":1e4}}""").RotaryScaling);
        Assert.Null(P("""{"model_type":"llama","rope_scaling":{"rope_type":"default"},"rope_parameters":null}""").RotaryScaling);
        Assert.Equal(10000, P("""{"model_type":"llama"}""").Rotary.Theta);
        Assert.Null(P("""{"model_type":"llama","rope_scaling":null}""").Rotary.Scaling);

        // What ToJson writes (transformers 4's rope_scaling) reads back equal.
        var cfg = P("""{"model_type":"llama","hidden_size":64,"num_attention_heads":4}""");
        foreach (var s in new[] { linear, llama3 })
            Assert.Equal(cfg with { RotaryScaling = s }, P(HfConfig.ToJson(cfg with { RotaryScaling = s })));
        // inspect's summary names the scaling.
        Assert.Contains("(rope_theta 10000, llama3 scaling, factor 8, low_freq_factor 1, high_freq_factor 4, original_max_position_embeddings 8192)",
            (cfg with { RotaryScaling = llama3 }).LlamaFamilySummary(), StringComparison.Ordinal);
        Assert.Contains("(rope_theta 10000, linear scaling, factor 4)", (cfg with { RotaryScaling = linear }).LlamaFamilySummary(), StringComparison.Ordinal);
    }

    [Fact]
    public void Other_rope_scalings_and_bad_parameters_are_refused_in_one_line()
    {
        void Exactly(string json, string message)
        {
            var e = Assert.Throws<UserError>(() => P(json));
            Assert.Equal("m/config.json: " + message, e.Message);
        }
        foreach (var kind in new[] { "dynamic", "yarn", "longrope", "ntk", "su" })
        {
            Exactly("""{"model_type":"llama","rope_scaling":{"type":"KIND","factor":4.0}}""".Replace("KIND", kind, StringComparison.Ordinal),
                $"\"rope_scaling\" asks for \"{kind}\" rotary scaling; only the default rotary, \"linear\" and \"llama3\" are supported");
            Exactly("""{"model_type":"qwen2","rope_parameters":{"rope_type":"KIND","rope_theta":1e6,"factor":4.0}}""".Replace("KIND", kind, StringComparison.Ordinal),
                $"\"rope_parameters\" asks for \"{kind}\" rotary scaling; only the default rotary, \"linear\" and \"llama3\" are supported");
        }
        Exactly("""{"model_type":"llama","rope_scaling":{"type":"linear"}}""", "\"rope_scaling\" asks for \"linear\" rotary scaling without \"factor\"");
        Exactly("""{"model_type":"llama","rope_scaling":{"type":"linear","factor":"4"}}""", "\"rope_scaling\" asks for \"linear\" rotary scaling with \"factor\" \"4\"; it must be a number");
        Exactly("""{"model_type":"llama","rope_scaling":{"type":"linear","factor":0}}""", "\"rope_scaling\" asks for \"linear\" rotary scaling, but its factor must be positive (got 0)");
        Exactly("""{"model_type":"llama","rope_parameters":{"rope_type":"linear","factor":-2}}""", "\"rope_parameters\" asks for \"linear\" rotary scaling, but its factor must be positive (got -2)");
        Exactly("""{"model_type":"llama","rope_scaling":{"rope_type":"llama3","factor":8.0}}""",
            "\"rope_scaling\" asks for \"llama3\" rotary scaling without \"original_max_position_embeddings\"");
        Exactly("""{"model_type":"llama","rope_scaling":{"rope_type":"llama3","factor":8.0,"original_max_position_embeddings":8192,"high_freq_factor":4}}""",
            "\"rope_scaling\" asks for \"llama3\" rotary scaling without \"low_freq_factor\"");
        Exactly("""{"model_type":"llama","rope_scaling":{"rope_type":"llama3","factor":8.0,"original_max_position_embeddings":8192.5,"low_freq_factor":1,"high_freq_factor":4}}""",
            "\"rope_scaling\" asks for \"llama3\" rotary scaling with \"original_max_position_embeddings\" 8192.5; it must be an integer");
        Exactly("""{"model_type":"llama","rope_scaling":{"rope_type":"llama3","factor":8.0,"original_max_position_embeddings":8192,"low_freq_factor":4,"high_freq_factor":4}}""",
            "\"rope_scaling\" asks for \"llama3\" rotary scaling, but its high_freq_factor must be greater than low_freq_factor (got high_freq_factor 4, low_freq_factor 4)");
        Exactly("""{"model_type":"llama","rope_scaling":{"rope_type":"llama3","factor":8.0,"original_max_position_embeddings":8192,"low_freq_factor":0,"high_freq_factor":4}}""",
            "\"rope_scaling\" asks for \"llama3\" rotary scaling, but its low_freq_factor must be positive (got 0)");
        Exactly("""{"model_type":"llama","rope_parameters":{"rope_type":"llama3","factor":8.0,"original_max_position_embeddings":0,"low_freq_factor":1,"high_freq_factor":4}}""",
            "\"rope_parameters\" asks for \"llama3\" rotary scaling, but its original_max_position_embeddings must be positive (got 0)");
        Exactly("""{"model_type":"llama","rope_scaling":{"rope_type":3,"factor":8.0}}""", "\"rope_scaling\" \"rope_type\" must be a string (got 3)");
        Exactly("""{"model_type":"llama","rope_scaling":{"type":"linear","factor":2},"rope_parameters":{"rope_type":"linear","factor":4}}""",
            "\"rope_parameters\" asks for linear scaling, factor 4, but rope_scaling for linear scaling, factor 2; give one rotary scaling");
        // A top-level rope_type is not where transformers reads it: refused as before, for every model type.
        Exactly("""{"model_type":"llama","rope_type":"linear"}""",
            "\"rope_type\" asks for \"linear\" rotary scaling (\"rope_type\" is \"linear\"); only the default rotary (rope_theta, no scaling) is supported");
        // GPT-NeoX keeps refusing any scaling; a scaling on a config built in code is refused by Validate.
        Refuses("""{"model_type":"gpt_neox","rope_parameters":{"rope_type":"linear","factor":2}}""", "\"rope_parameters\" asks for \"linear\" rotary scaling");
        var e = Assert.Throws<UserError>(() => new ModelConfig { VocabSize = 8, MaxPositions = 8, Embd = 8, Layers = 1, Heads = 2, RotaryScaling = new RopeScaling { Type = RopeScalingType.Linear, Factor = 2 } }.Validate("c"));
        Assert.Equal("c: rope scaling is supported for the LLaMA family only, not gpt2", e.Message);
        e = Assert.Throws<UserError>(() => (P("""{"model_type":"llama"}""") with { RotaryScaling = new RopeScaling { Type = RopeScalingType.Llama3, Factor = 2 } }).Validate("c"));
        Assert.Equal("c: rope scaling \"llama3\": low_freq_factor must be positive (got 0)", e.Message);
    }

    [Fact]
    public void Unsupported_options_are_clear_errors()
    {
        Refuses("""{"add_cross_attention":true}""", "\"add_cross_attention\" is true");
        Refuses("""{"activation_function":"relu"}""", "\"activation_function\" is \"relu\"");
        Refuses("""{"model_type":"mistral"}""", "only \"gpt2\", \"gpt_neox\", \"llama\", \"olmo\", \"olmo2\" and \"qwen2\"");
        Refuses("""{"model_type":"llama","rope_parameters":{"rope_type":"yarn","factor":4}}""", "\"rope_parameters\" asks for \"yarn\"");
        Refuses("""{"model_type":"llama","hidden_act":"gelu"}""", "only \"silu\" (SwiGLU) is supported for llama");
        Refuses("""{"model_type":"llama","hidden_size":64,"num_attention_heads":4,"num_key_value_heads":3}""", "must divide num_attention_heads");
        Refuses("""{"model_type":"olmo2","mlp_bias":true}""", "olmo2 has no MLP biases");
        Refuses("""{"model_type":"llama","clip_qkv":8}""", "only olmo clips");
        Refuses("""{"model_type":"gpt_neox","hidden_act":"relu"}""", "\"hidden_act\" is \"relu\"; only \"gelu\" (exact) and the tanh GELU (gelu_new, gelu_fast) are supported");
        Refuses("""{"model_type":"gpt_neox","hidden_act":1}""", "\"hidden_act\" must be a string (got 1)");
        Refuses("""{"activation_function":"relu"}""", "only \"gelu\" (exact) and the tanh GELU (gelu_new, gelu_pytorch_tanh, gelu_fast) are supported");
        Refuses("""{"activation_function":["gelu"]}""", "\"activation_function\" must be a string (got [\"gelu\"])");
        Refuses("""{"layer_norm_epsilon":"1e-5"}""", "\"layer_norm_epsilon\" must be a number (got \"1e-5\")");
        Refuses("""{"model_type":"gpt_neox","rope_scaling":{"type":"linear","factor":2}}""", "\"rope_scaling\" is set");
        Refuses("""{"model_type":"gpt_neox","hidden_size":24,"num_attention_heads":2,"rotary_pct":0.25}""", "must be even");
        Refuses("""{"n_embd":"32"}""", "\"n_embd\" must be an integer");
        Refuses("""{"n_embd":32.5}""", "\"n_embd\" must be an integer");
        Refuses("""{"tie_word_embeddings":1}""", "\"tie_word_embeddings\" must be true or false");
        Refuses("""{"n_inner":0}""", "\"n_inner\" must be positive or null");
        Refuses("""{"n_embd":30,"n_head":4}""", "must be divisible by n_head");
        Refuses("""{"n_embd":""", "not valid JSON");
        Refuses("[]", "not a JSON object");
    }

    [Fact]
    public void Accepts_add_cross_attention_false_and_tanh_gelu_aliases()
    {
        Assert.Equal(768, P("""{"add_cross_attention":false,"activation_function":"gelu_pytorch_tanh"}""").Embd);
    }

    [Fact]
    public void A_missing_config_is_named()
    {
        var dir = TestPaths.TempDir();
        var e = Assert.Throws<UserError>(() => HfConfig.LoadFromFolder(dir));
        Assert.Equal($"{Path.Combine(dir, "config.json")}: not found: a model folder needs config.json", e.Message);
    }

    [Theory]
    [InlineData(0, true, false)]
    [InlineData(70, false, true)]
    public void Written_configs_read_back_the_same(int inner, bool tie, bool inverse)
    {
        var cfg = new ModelConfig
        {
            VocabSize = 300, MaxPositions = 64, Embd = 24, Layers = 2, Heads = 3, Inner = inner, LayerNormEpsilon = 1e-5f,
            TieWordEmbeddings = tie, ScaleAttnByInverseLayerIdx = inverse,
        };
        Assert.Equal(cfg, P(HfConfig.ToJson(cfg)));
    }

    [Fact]
    public void Reads_the_real_hugging_face_config()
    {
        var c = HfConfig.LoadFromFolder(TestPaths.SharedFixture("tiny-random-gpt2"));
        Assert.Equal((1000, 512, 32, 5, 4, 128), (c.VocabSize, c.MaxPositions, c.Embd, c.Layers, c.Heads, c.InnerSize));
    }

    [Fact]
    public void Gpt_neox_configs_read_as_pythia_writes_them()
    {
        // pythia-70m's config.json, as published.
        const string pythia = """
            {"architectures": ["GPTNeoXForCausalLM"], "bos_token_id": 0, "eos_token_id": 0, "hidden_act": "gelu",
             "hidden_size": 512, "initializer_range": 0.02, "intermediate_size": 2048, "layer_norm_eps": 1e-05,
             "max_position_embeddings": 2048, "model_type": "gpt_neox", "num_attention_heads": 8, "num_hidden_layers": 6,
             "rotary_emb_base": 10000, "rotary_pct": 0.25, "tie_word_embeddings": false, "torch_dtype": "float16",
             "transformers_version": "4.24.0", "use_cache": true, "use_parallel_residual": true, "vocab_size": 50304}
            """;
        var cfg = HfConfig.Parse(System.Text.Encoding.UTF8.GetBytes(pythia), "config.json");
        Assert.Equal(Architecture.GptNeoX, cfg.Architecture);
        Assert.Equal((50304, 2048, 512, 6, 8, 2048), (cfg.VocabSize, cfg.MaxPositions, cfg.Embd, cfg.Layers, cfg.Heads, cfg.InnerSize));
        Assert.Equal(16, cfg.RotaryDims);
        Assert.True(cfg.ParallelResidual);
        Assert.False(cfg.TieWordEmbeddings);
        Assert.Equal(GeluKind.Erf, cfg.Gelu);
        Assert.Equal(10000, cfg.RotaryBase);
        Assert.Equal(cfg, HfConfig.Parse(System.Text.Encoding.UTF8.GetBytes(HfConfig.ToJson(cfg)), "round trip"));
        var newer = HfConfig.Parse("""{"model_type":"gpt_neox","hidden_size":64,"num_attention_heads":4,"num_hidden_layers":1,"intermediate_size":8,"partial_rotary_factor":1.0,"rope_theta":500,"hidden_act":"gelu_fast","use_parallel_residual":false}"""u8, "c");
        Assert.Equal((16, 500.0, GeluKind.Tanh, false), (newer.RotaryDims, newer.RotaryBase, newer.Gelu, newer.ParallelResidual));
    }
}

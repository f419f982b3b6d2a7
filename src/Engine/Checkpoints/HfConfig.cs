using System.Text;
using System.Text.Json;
using LearningCurves.Engine.Model;
using LearningCurves.Formats.IO;
using LearningCurves.Formats;

namespace LearningCurves.Engine.Checkpoints;

/// <summary>
/// A Hugging Face GPT-2 <c>config.json</c> to <see cref="ModelConfig"/> and back. Missing keys take the transformers
/// GPT2Config defaults; a key of the wrong type, an unsupported option or an unknown activation is an error naming the
/// file and the key.
/// </summary>
public static class HfConfig
{
    public const string FileName = "config.json";

    /// <summary>Activations computed as the tanh approximation of GELU (what the engine implements).</summary>
    private static readonly string[] TanhGelu = ["gelu_new", "gelu_pytorch_tanh", "gelu_fast"];

    /// <summary>transformers' names of the exact GELU, 0.5 x (1 + erf(x / sqrt 2)).</summary>
    private static readonly string[] ErfGelu = ["gelu", "gelu_python"];

    /// <summary>The config.json model_type values the engine loads (tests make the architectures' parity fixtures
    /// live from this list: add a model type here when its support lands).</summary>
    public static IReadOnlyList<string> SupportedModelTypes { get; } = ["gpt2", "gpt_neox", "llama", "olmo", "olmo2", "qwen2"];

    /// <summary>Reads <paramref name="dir"/>/config.json.</summary>
    public static ModelConfig LoadFromFolder(string dir)
    {
        ArgumentNullException.ThrowIfNull(dir);
        var path = Path.Combine(dir, FileName);
        if (!File.Exists(path)) throw UserError.InFile(path, "not found: a model folder needs config.json");
        return Parse(File.ReadAllBytes(path), path);
    }

    /// <summary>Parses config.json bytes; <paramref name="source"/> names the file in errors.</summary>
    public static ModelConfig Parse(ReadOnlySpan<byte> json, string source)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json.ToArray(), new JsonDocumentOptions { AllowTrailingCommas = false, CommentHandling = JsonCommentHandling.Disallow });
        }
        catch (JsonException e)
        {
            throw UserError.InFile(source, $"not valid JSON ({e.Message.ReplaceLineEndings(" ")})");
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw UserError.InFile(source, "config is not a JSON object");
            UserError Bad(string key, string what) => UserError.InFile(source, $"\"{key}\" {what}");

            // transformers 5 keeps the rotary settings in "rope_parameters" (and reads the rotary fraction only from
            // there): those keys are read from it first, then from the top level as older configs have them.
            JsonElement? rope = null;
            if (root.TryGetProperty("rope_parameters", out var rp) && rp.ValueKind != JsonValueKind.Null)
            {
                if (rp.ValueKind != JsonValueKind.Object) throw Bad("rope_parameters", $"must be an object (got {rp.GetRawText()})");
                rope = rp;
            }

            JsonElement? Get(string key)
            {
                if (rope is { } r && key is "rope_theta" or "partial_rotary_factor" or "rope_type"
                    && r.TryGetProperty(key, out var rv) && rv.ValueKind != JsonValueKind.Null)
                    return rv;
                return root.TryGetProperty(key, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;
            }

            // The LLaMA family reads rope_parameters' rope_type itself (ParseLlama: the scalings it runs); a top-level
            // rope_type is refused for every model type.
            var modelType = Get("model_type");
            bool llamaFamily = modelType is { ValueKind: JsonValueKind.String } mt && mt.GetString() is "llama" or "olmo" or "olmo2" or "qwen2";
            var ropeType = llamaFamily ? (root.TryGetProperty("rope_type", out var top) && top.ValueKind != JsonValueKind.Null ? top : null) : Get("rope_type");
            if (ropeType is not null && (ropeType.Value.ValueKind != JsonValueKind.String || ropeType.Value.GetString() != "default"))
            {
                string kind = ropeType.Value.ValueKind == JsonValueKind.String ? ropeType.Value.GetString()! : ropeType.Value.GetRawText();
                string from = rope is { } r2 && r2.TryGetProperty("rope_type", out _) ? "rope_parameters" : "rope_type";
                throw Bad(from, $"asks for \"{kind}\" rotary scaling (\"rope_type\" is {ropeType.Value.GetRawText()}); only the default rotary (rope_theta, no scaling) is supported");
            }

            int Int(string key, int fallback)
            {
                var v = Get(key);
                if (v is null) return fallback;
                if (v.Value.ValueKind != JsonValueKind.Number || !v.Value.TryGetInt32(out int i))
                    throw Bad(key, $"must be an integer (got {v.Value.GetRawText()})");
                return i;
            }
            bool Bool(string key, bool fallback)
            {
                var v = Get(key);
                if (v is null) return fallback;
                return v.Value.ValueKind switch
                {
                    JsonValueKind.True => true,
                    JsonValueKind.False => false,
                    _ => throw Bad(key, $"must be true or false (got {v.Value.GetRawText()})"),
                };
            }

            double Num(string key, double fallback)
            {
                var v = Get(key);
                if (v is null) return fallback;
                if (v.Value.ValueKind != JsonValueKind.Number) throw Bad(key, $"must be a number (got {v.Value.GetRawText()})");
                return v.Value.GetDouble();
            }

            if (modelType is not null && modelType.Value.ValueKind == JsonValueKind.String && modelType.Value.GetString() == "gpt_neox")
                return ParseNeoX(source, Get, Int, Bool, Num, Bad);
            if (llamaFamily)
                return ParseLlama(modelType!.Value.GetString()!, source, root, Get, Int, Bool, Num, Bad);
            if (modelType is not null && (modelType.Value.ValueKind != JsonValueKind.String || modelType.Value.GetString() != "gpt2"))
                throw Bad("model_type", $"is {modelType.Value.GetRawText()}; only \"gpt2\", \"gpt_neox\", \"llama\", \"olmo\", \"olmo2\" and \"qwen2\" checkpoints are supported");

            if (Bool("add_cross_attention", false)) throw Bad("add_cross_attention", "is true; cross-attention (encoder-decoder GPT-2) is not supported");
            // reorder_and_upcast_attn only changes how fp16 attention is computed; the engine's fp32 attention is the
            // same either way, so it is accepted whatever its value (but must still be a boolean).
            _ = Bool("reorder_and_upcast_attn", false);

            var gelu = Gelu(Get, "activation_function", "gelu_new", "gelu_new, gelu_pytorch_tanh, gelu_fast", Bad);
            double eps = Num("layer_norm_epsilon", 1e-5);

            // n_positions is the current name; n_ctx the legacy one (older configs have only it).
            int positions = Get("n_positions") is not null ? Int("n_positions", 1024) : Int("n_ctx", 1024);
            var cfg = new ModelConfig
            {
                VocabSize = Int("vocab_size", 50257),
                MaxPositions = positions,
                Embd = Int("n_embd", 768),
                Layers = Int("n_layer", 12),
                Heads = Int("n_head", 12),
                Inner = Int("n_inner", 0),
                LayerNormEpsilon = (float)eps,
                ScaleAttnWeights = Bool("scale_attn_weights", true),
                ScaleAttnByInverseLayerIdx = Bool("scale_attn_by_inverse_layer_idx", false),
                TieWordEmbeddings = Bool("tie_word_embeddings", true),
                Gelu = gelu,
            };
            if (Get("n_inner") is not null && cfg.Inner <= 0) throw Bad("n_inner", $"must be positive or null (got {cfg.Inner})");
            cfg.Validate(source);
            return cfg;
        }
    }

    /// <summary>The GELU the activation name under <paramref name="key"/> asks for (default <paramref name="fallback"/>):
    /// exact (erf) or the tanh approximation; another name, or a value that is not a string, is refused naming the key
    /// and the tanh names of this architecture (<paramref name="tanhNames"/>).</summary>
    private static GeluKind Gelu(Func<string, JsonElement?> get, string key, string fallback, string tanhNames, Func<string, string, UserError> bad)
    {
        var act = get(key);
        string activation = fallback;
        if (act is not null)
        {
            if (act.Value.ValueKind != JsonValueKind.String) throw bad(key, $"must be a string (got {act.Value.GetRawText()})");
            activation = act.Value.GetString()!;
        }
        return Array.IndexOf(ErfGelu, activation) >= 0 ? GeluKind.Erf
            : Array.IndexOf(TanhGelu, activation) >= 0 ? GeluKind.Tanh
            : throw bad(key, $"is \"{activation}\"; only \"gelu\" (exact) and the tanh GELU ({tanhNames}) are supported");
    }

    /// <summary>
    /// GPT-NeoX (transformers' GPTNeoXConfig names and defaults): hidden_size, num_hidden_layers,
    /// num_attention_heads, intermediate_size, max_position_embeddings, rotary_pct (or partial_rotary_factor, default
    /// 0.25), rotary_emb_base (or rope_theta, 10000), layer_norm_eps, use_parallel_residual (true), hidden_act ("gelu":
    /// exact; gelu_new/gelu_fast/gelu_pytorch_tanh: tanh), tie_word_embeddings (false). Rope scaling and
    /// attention_bias false are refused by name.
    /// </summary>
    private static ModelConfig ParseNeoX(string source, Func<string, JsonElement?> get, Func<string, int, int> integer,
        Func<string, bool, bool> boolean, Func<string, double, double> number, Func<string, string, UserError> bad)
    {
        var gelu = Gelu(get, "hidden_act", "gelu", "gelu_new, gelu_fast", bad);
        if (get("rope_scaling") is not null) throw bad("rope_scaling", "is set; scaled rotary embeddings are not supported");
        if (!boolean("attention_bias", true)) throw bad("attention_bias", "is false; GPT-NeoX without attention biases is not supported");
        double pct = get("partial_rotary_factor") is not null ? number("partial_rotary_factor", 0.25) : number("rotary_pct", 0.25);
        double rbase = get("rope_theta") is not null ? number("rope_theta", 10000) : number("rotary_emb_base", 10000);
        int hidden = integer("hidden_size", 6144);
        var cfg = new ModelConfig
        {
            Architecture = Architecture.GptNeoX,
            VocabSize = integer("vocab_size", 50432),
            MaxPositions = integer("max_position_embeddings", 2048),
            Embd = hidden,
            Layers = integer("num_hidden_layers", 44),
            Heads = integer("num_attention_heads", 64),
            Inner = integer("intermediate_size", 24576),
            LayerNormEpsilon = (float)number("layer_norm_eps", 1e-5),
            TieWordEmbeddings = boolean("tie_word_embeddings", false),
            RotaryPct = pct,
            RotaryBase = rbase,
            ParallelResidual = boolean("use_parallel_residual", true),
            Gelu = gelu,
        };
        if (cfg.Inner <= 0) throw bad("intermediate_size", $"must be positive (got {cfg.Inner})");
        cfg.Validate(source);
        return cfg;
    }

    /// <summary>
    /// The LLaMA family (transformers' LlamaConfig, OlmoConfig, Olmo2Config, Qwen2Config names and defaults): hidden_size,
    /// intermediate_size, num_hidden_layers, num_attention_heads, num_key_value_heads (default num_attention_heads),
    /// head_dim (default hidden_size / num_attention_heads), max_position_embeddings, rms_norm_eps (llama 1e-6, olmo2
    /// 1e-5; OLMo's layer norm has a fixed 1e-5), rope_theta (10000) or transformers 5's rope_parameters {rope_type,
    /// rope_theta, partial_rotary_factor}, attention_bias, mlp_bias (llama), clip_qkv (olmo), hidden_act (silu only),
    /// tie_word_embeddings (false). rope_scaling (or rope_parameters) may ask for the "linear" or "llama3" scaling
    /// (<see cref="ReadRopeScaling"/>); any other type is refused, naming it. qwen2:
    /// Qwen2Config's defaults (vocab_size 151936, hidden_size 4096, intermediate_size 22016, max_position_embeddings
    /// 32768, rms_norm_eps 1e-6), q/k/v biases always and no o_proj bias whatever attention_bias says (Qwen2Attention
    /// does not read it), and full attention only (<see cref="RefuseSlidingWindow"/>).
    /// </summary>
    private static ModelConfig ParseLlama(string type, string source, JsonElement root, Func<string, JsonElement?> get, Func<string, int, int> integer,
        Func<string, bool, bool> boolean, Func<string, double, double> number, Func<string, string, UserError> bad)
    {
        var act = get("hidden_act");
        if (act is not null && (act.Value.ValueKind != JsonValueKind.String || act.Value.GetString() is not ("silu" or "swish")))
            throw bad("hidden_act", $"is {act.Value.GetRawText()}; only \"silu\" (SwiGLU) is supported for {type}");
        double theta = number("rope_theta", 10000), pct = number("partial_rotary_factor", 1.0);
        RopeScaling? scaling = null;
        string? scalingKey = null;
        foreach (var key in new[] { "rope_scaling", "rope_parameters" })
        {
            var rope = get(key);
            if (rope is null) continue;
            if (rope.Value.ValueKind != JsonValueKind.Object) throw bad(key, $"must be an object (got {rope.Value.GetRawText()})");
            // transformers 5 may key the rotary settings by layer type; only full-attention layers are run.
            if (rope.Value.TryGetProperty("full_attention", out var full) && full.ValueKind == JsonValueKind.Object) rope = full;
            var s = ReadRopeScaling(key, rope.Value, bad);
            if (s is not null)
            {
                if (scaling is not null && s != scaling)
                    throw bad(key, $"asks for {s.Describe()}, but {scalingKey} for {scaling.Describe()}; give one rotary scaling");
                scaling = s;
                scalingKey = key;
            }
            if (rope.Value.TryGetProperty("rope_theta", out var th))
            {
                if (th.ValueKind != JsonValueKind.Number) throw bad(key, $"rope_theta must be a number (got {th.GetRawText()})");
                theta = th.GetDouble();
            }
            if (rope.Value.TryGetProperty("partial_rotary_factor", out var f))
            {
                if (f.ValueKind != JsonValueKind.Number) throw bad(key, $"partial_rotary_factor must be a number (got {f.GetRawText()})");
                pct = f.GetDouble();
            }
        }
        if (type != "llama" && get("mlp_bias") is not null && boolean("mlp_bias", false))
            throw bad("mlp_bias", $"is true; {type} has no MLP biases");
        if (type != "olmo" && get("clip_qkv") is not null) throw bad("clip_qkv", $"is set; only olmo clips q/k/v");
        int heads = integer("num_attention_heads", 32);
        var arch = type switch { "olmo" => Architecture.Olmo, "olmo2" => Architecture.Olmo2, "qwen2" => Architecture.Qwen2, _ => Architecture.Llama };
        bool qwen2 = arch == Architecture.Qwen2;
        var cfg = new ModelConfig
        {
            Architecture = arch,
            VocabSize = integer("vocab_size", type switch { "llama" => 32000, "qwen2" => 151936, _ => 50304 }),
            MaxPositions = integer("max_position_embeddings", qwen2 ? 32768 : 2048),
            Embd = integer("hidden_size", 4096),
            Layers = integer("num_hidden_layers", 32),
            Heads = heads,
            KvHeads = integer("num_key_value_heads", heads),
            HeadDim = integer("head_dim", 0),
            Inner = integer("intermediate_size", qwen2 ? 22016 : 11008),
            LayerNormEpsilon = (float)(type == "olmo" ? 1e-5 : number("rms_norm_eps", type is "llama" or "qwen2" ? 1e-6 : 1e-5)),
            TieWordEmbeddings = boolean("tie_word_embeddings", false),
            RotaryPct = pct,
            RotaryBase = theta,
            RotaryScaling = scaling,
            AttentionBias = !qwen2 && boolean("attention_bias", false),
            MlpBias = type == "llama" && boolean("mlp_bias", false),
            ClipQkv = type == "olmo" ? number("clip_qkv", 0) : 0,
        };
        if (cfg.Inner <= 0) throw bad("intermediate_size", $"must be positive (got {cfg.Inner})");
        if (cfg.KvHeads <= 0) throw bad("num_key_value_heads", $"must be positive (got {cfg.KvHeads})");
        if (get("head_dim") is not null && cfg.HeadDim <= 0) throw bad("head_dim", $"must be positive (got {cfg.HeadDim})");
        if (pct <= 0 || pct > 1) throw bad("partial_rotary_factor", $"must be in (0, 1] (got {pct})");
        if (qwen2) RefuseSlidingWindow(cfg.Layers, root, get, integer, boolean, bad);
        cfg.Validate(source);
        if (cfg.RotaryDims % 2 != 0) throw bad("partial_rotary_factor", $"{pct} gives {cfg.RotaryDims} rotary dimensions of head size {cfg.HeadSize}; they must be even");
        return cfg;
    }

    /// <summary>The rotary scaling an object of rotary settings (<paramref name="key"/>: rope_scaling or rope_parameters)
    /// asks for, read as transformers does: the type is "rope_type", else transformers 4's "type", else "default" (none:
    /// null). "linear" needs factor; "llama3" factor, low_freq_factor, high_freq_factor and
    /// original_max_position_embeddings (<see cref="RopeScaling.Problem"/> says which values are refused). Every other
    /// type (dynamic, yarn, longrope, ...) is refused naming it.</summary>
    private static RopeScaling? ReadRopeScaling(string key, JsonElement rope, Func<string, string, UserError> bad)
    {
        JsonElement? Field(string name) => rope.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;
        string kind = "default";
        foreach (var kindKey in new[] { "type", "rope_type" }) // rope_type wins when both are there
        {
            if (Field(kindKey) is not { } k) continue;
            if (k.ValueKind != JsonValueKind.String) throw bad(key, $"\"{kindKey}\" must be a string (got {k.GetRawText()})");
            kind = k.GetString()!;
        }
        var type = kind switch
        {
            "default" => (RopeScalingType?)null,
            "linear" => RopeScalingType.Linear,
            "llama3" => RopeScalingType.Llama3,
            _ => throw bad(key, $"asks for \"{kind}\" rotary scaling; only the default rotary, \"linear\" and \"llama3\" are supported"),
        };
        if (type is null) return null;
        double Number(string name)
        {
            if (Field(name) is not { } v) throw bad(key, $"asks for \"{kind}\" rotary scaling without \"{name}\"");
            if (v.ValueKind != JsonValueKind.Number) throw bad(key, $"asks for \"{kind}\" rotary scaling with \"{name}\" {v.GetRawText()}; it must be a number");
            return v.GetDouble();
        }
        int original = 0;
        if (type == RopeScalingType.Llama3)
        {
            const string name = "original_max_position_embeddings";
            if (Field(name) is not { } v) throw bad(key, $"asks for \"{kind}\" rotary scaling without \"{name}\"");
            if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out original))
                throw bad(key, $"asks for \"{kind}\" rotary scaling with \"{name}\" {v.GetRawText()}; it must be an integer");
        }
        var scaling = new RopeScaling
        {
            Type = type.Value,
            Factor = Number("factor"),
            LowFreqFactor = type == RopeScalingType.Llama3 ? Number("low_freq_factor") : 0,
            HighFreqFactor = type == RopeScalingType.Llama3 ? Number("high_freq_factor") : 0,
            OriginalMaxPositions = original,
        };
        if (scaling.Problem() is { } problem) throw bad(key, $"asks for \"{kind}\" rotary scaling, but its {problem}");
        return scaling;
    }

    /// <summary>
    /// Qwen2's sliding-window attention, read as transformers' Qwen2Config does, refused wherever it would be used:
    /// <c>layer_types</c> (transformers 5; one "full_attention" or "sliding_attention" per layer) says it per layer when
    /// present, and every entry must be "full_attention"; without it, <c>sliding_window</c> counts only when
    /// <c>use_sliding_window</c> is true (it becomes None otherwise) and then applies to the layers from
    /// <c>max_window_layers</c> (default 28) on; an absent <c>sliding_window</c> is the default 4096, a null one none.
    /// </summary>
    private static void RefuseSlidingWindow(int layers, JsonElement root, Func<string, JsonElement?> get, Func<string, int, int> integer,
        Func<string, bool, bool> boolean, Func<string, string, UserError> bad)
    {
        bool use = boolean("use_sliding_window", false);
        var window = get("sliding_window");
        if (window is not null && (window.Value.ValueKind != JsonValueKind.Number || !window.Value.TryGetInt32(out _)))
            throw bad("sliding_window", $"must be an integer or null (got {window.Value.GetRawText()})");
        string? windowText = window?.GetRawText() ?? (root.TryGetProperty("sliding_window", out _) ? null : "4096");
        int maxWindowLayers = integer("max_window_layers", 28);
        var types = get("layer_types");
        if (types is not null)
        {
            if (types.Value.ValueKind != JsonValueKind.Array) throw bad("layer_types", $"must be a list of strings (got {types.Value.GetRawText()})");
            int n = types.Value.GetArrayLength();
            if (n != layers) throw bad("layer_types", $"has {n} entries for {layers} layers (num_hidden_layers)");
            int i = 0;
            foreach (var t in types.Value.EnumerateArray())
            {
                if (t.ValueKind != JsonValueKind.String || t.GetString() != "full_attention")
                    throw bad("layer_types", $"gives layer {i} {t.GetRawText()}; only \"full_attention\" is supported (sliding-window attention is not)");
                i++;
            }
            return;
        }
        if (use && windowText is not null && maxWindowLayers < layers)
            throw bad("use_sliding_window", $"is true (sliding_window {windowText} on layers {Math.Max(maxWindowLayers, 0)}..{layers - 1}, from max_window_layers {maxWindowLayers}); only full attention is supported (sliding-window attention is not)");
    }

    /// <summary>config.json text in the layout transformers writes for GPT2LMHeadModel (or GPTNeoXForCausalLM).</summary>
    public static string ToJson(ModelConfig cfg, StoreDType dtype = StoreDType.F32)
    {
        ArgumentNullException.ThrowIfNull(cfg);
        if (cfg.Architecture == Architecture.GptNeoX) return NeoXJson(cfg, dtype);
        if (cfg.IsLlamaFamily) return LlamaJson(cfg, dtype);
        return JsonObjectText(w =>
        {
            w.WriteString("activation_function", cfg.Gelu == GeluKind.Erf ? "gelu" : "gelu_new");
            w.WriteStartArray("architectures");
            w.WriteStringValue("GPT2LMHeadModel");
            w.WriteEndArray();
            w.WriteNumber("attn_pdrop", 0.0);
            w.WriteNumber("embd_pdrop", 0.0);
            w.WriteNumber("initializer_range", 0.02);
            w.WriteNumber("layer_norm_epsilon", (double)(decimal)cfg.LayerNormEpsilon);
            w.WriteString("model_type", "gpt2");
            w.WriteNumber("n_ctx", cfg.MaxPositions);
            w.WriteNumber("n_embd", cfg.Embd);
            w.WriteNumber("n_head", cfg.Heads);
            if (cfg.Inner > 0) w.WriteNumber("n_inner", cfg.Inner);
            else w.WriteNull("n_inner");
            w.WriteNumber("n_layer", cfg.Layers);
            w.WriteNumber("n_positions", cfg.MaxPositions);
            w.WriteBoolean("reorder_and_upcast_attn", false);
            w.WriteNumber("resid_pdrop", 0.0);
            w.WriteBoolean("scale_attn_by_inverse_layer_idx", cfg.ScaleAttnByInverseLayerIdx);
            w.WriteBoolean("scale_attn_weights", cfg.ScaleAttnWeights);
            w.WriteBoolean("tie_word_embeddings", cfg.TieWordEmbeddings);
            w.WriteString("torch_dtype", TorchDType(dtype));
            w.WriteBoolean("use_cache", true);
            w.WriteNumber("vocab_size", cfg.VocabSize);
        });
    }

    /// <summary>LlamaForCausalLM / OlmoForCausalLM / Olmo2ForCausalLM / Qwen2ForCausalLM config.json: the keys <see cref="ParseLlama"/> reads.</summary>
    private static string LlamaJson(ModelConfig cfg, StoreDType dtype) => JsonObjectText(w =>
    {
        w.WriteStartArray("architectures");
        w.WriteStringValue(cfg.Architecture switch
        {
            Architecture.Olmo => "OlmoForCausalLM", Architecture.Olmo2 => "Olmo2ForCausalLM", Architecture.Qwen2 => "Qwen2ForCausalLM", _ => "LlamaForCausalLM",
        });
        w.WriteEndArray();
        bool qwen2 = cfg.Architecture == Architecture.Qwen2;
        if (!qwen2) w.WriteBoolean("attention_bias", cfg.AttentionBias);
        if (cfg.ClipQkv > 0) w.WriteNumber("clip_qkv", cfg.ClipQkv);
        if (cfg.HeadDim > 0) w.WriteNumber("head_dim", cfg.HeadDim);
        w.WriteString("hidden_act", "silu");
        w.WriteNumber("hidden_size", cfg.Embd);
        w.WriteNumber("intermediate_size", cfg.InnerSize);
        if (qwen2)
        {
            // Full attention on every layer, as Qwen2Config writes it with use_sliding_window false.
            w.WriteStartArray("layer_types");
            for (int l = 0; l < cfg.Layers; l++) w.WriteStringValue("full_attention");
            w.WriteEndArray();
        }
        w.WriteNumber("max_position_embeddings", cfg.MaxPositions);
        if (qwen2) w.WriteNumber("max_window_layers", cfg.Layers);
        if (cfg.Architecture == Architecture.Llama) w.WriteBoolean("mlp_bias", cfg.MlpBias);
        w.WriteString("model_type", cfg.ModelType);
        w.WriteNumber("num_attention_heads", cfg.Heads);
        w.WriteNumber("num_hidden_layers", cfg.Layers);
        w.WriteNumber("num_key_value_heads", cfg.KvHeadCount);
        if (cfg.RotaryPct != 1.0) w.WriteNumber("partial_rotary_factor", cfg.RotaryPct);
        if (cfg.Architecture != Architecture.Olmo) w.WriteNumber("rms_norm_eps", (double)(decimal)cfg.LayerNormEpsilon);
        if (cfg.RotaryScaling is { } scaling)
        {
            // transformers 4's rope_scaling, as Llama 3.1's config.json has it.
            w.WriteStartObject("rope_scaling");
            w.WriteNumber("factor", scaling.Factor);
            if (scaling.Type == RopeScalingType.Llama3)
            {
                w.WriteNumber("high_freq_factor", scaling.HighFreqFactor);
                w.WriteNumber("low_freq_factor", scaling.LowFreqFactor);
                w.WriteNumber("original_max_position_embeddings", scaling.OriginalMaxPositions);
            }
            w.WriteString("rope_type", scaling.TypeName);
            w.WriteEndObject();
        }
        else w.WriteNull("rope_scaling");
        w.WriteNumber("rope_theta", cfg.RotaryBase);
        if (qwen2) w.WriteNull("sliding_window");
        w.WriteBoolean("tie_word_embeddings", cfg.TieWordEmbeddings);
        w.WriteString("torch_dtype", TorchDType(dtype));
        w.WriteBoolean("use_cache", true);
        if (qwen2) w.WriteBoolean("use_sliding_window", false);
        w.WriteNumber("vocab_size", cfg.VocabSize);
    });

    /// <summary>config.json's torch_dtype of weights stored as <paramref name="dtype"/>.</summary>
    private static string TorchDType(StoreDType dtype) => dtype switch { StoreDType.F16 => "float16", StoreDType.BF16 => "bfloat16", _ => "float32" };

    /// <summary>An indented JSON object written by <paramref name="body"/>, with a final newline.</summary>
    private static string JsonObjectText(Action<Utf8JsonWriter> body)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            body(w);
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray()) + "\n";
    }

    private static string NeoXJson(ModelConfig cfg, StoreDType dtype) => JsonObjectText(w =>
    {
        w.WriteStartArray("architectures");
        w.WriteStringValue("GPTNeoXForCausalLM");
        w.WriteEndArray();
        w.WriteNumber("attention_dropout", 0.0);
        w.WriteNumber("bos_token_id", 0);
        w.WriteNumber("eos_token_id", 0);
        w.WriteString("hidden_act", cfg.Gelu == GeluKind.Erf ? "gelu" : "gelu_new");
        w.WriteNumber("hidden_dropout", 0.0);
        w.WriteNumber("hidden_size", cfg.Embd);
        w.WriteNumber("initializer_range", 0.02);
        w.WriteNumber("intermediate_size", cfg.InnerSize);
        w.WriteNumber("layer_norm_eps", (double)(decimal)cfg.LayerNormEpsilon);
        w.WriteNumber("max_position_embeddings", cfg.MaxPositions);
        w.WriteString("model_type", "gpt_neox");
        w.WriteNumber("num_attention_heads", cfg.Heads);
        w.WriteNumber("num_hidden_layers", cfg.Layers);
        w.WriteNumber("rotary_emb_base", cfg.RotaryBase);
        w.WriteNumber("rotary_pct", cfg.RotaryPct);
        w.WriteBoolean("tie_word_embeddings", cfg.TieWordEmbeddings);
        w.WriteString("torch_dtype", TorchDType(dtype));
        w.WriteBoolean("use_cache", true);
        w.WriteBoolean("use_parallel_residual", cfg.ParallelResidual);
        w.WriteNumber("vocab_size", cfg.VocabSize);
    });

    /// <summary>Writes config.json into <paramref name="dir"/> atomically.</summary>
    public static void Save(string dir, ModelConfig cfg, StoreDType dtype = StoreDType.F32)
    {
        ArgumentNullException.ThrowIfNull(dir);
        Directory.CreateDirectory(dir);
        AtomicFile.WriteAllText(Path.Combine(dir, FileName), ToJson(cfg, dtype));
    }
}

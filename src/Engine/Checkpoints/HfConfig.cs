using System.Text;
using System.Text.Json;
using LearningCurves.Engine.Model;

namespace LearningCurves.Engine.Checkpoints;

/// <summary>
/// A Hugging Face GPT-2 <c>config.json</c> to <see cref="Gpt2Config"/> and back. Missing keys take the transformers
/// GPT2Config defaults; a key of the wrong type, an unsupported option or an unknown activation is an error naming the
/// file and the key.
/// </summary>
public static class HfConfig
{
    public const string FileName = "config.json";

    /// <summary>Activations computed as the tanh approximation of GELU (what the engine implements).</summary>
    private static readonly string[] TanhGelu = ["gelu_new", "gelu_pytorch_tanh", "gelu_fast"];

    /// <summary>Reads <paramref name="dir"/>/config.json.</summary>
    public static Gpt2Config LoadFromFolder(string dir)
    {
        ArgumentNullException.ThrowIfNull(dir);
        var path = Path.Combine(dir, FileName);
        if (!File.Exists(path)) throw UserError.InFile(path, "not found: a model folder needs config.json");
        return Parse(File.ReadAllBytes(path), path);
    }

    /// <summary>Parses config.json bytes; <paramref name="source"/> names the file in errors.</summary>
    public static Gpt2Config Parse(ReadOnlySpan<byte> json, string source)
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

            JsonElement? Get(string key) =>
                root.TryGetProperty(key, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

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

            var modelType = Get("model_type");
            if (modelType is not null && (modelType.Value.ValueKind != JsonValueKind.String || modelType.Value.GetString() != "gpt2"))
                throw Bad("model_type", $"is {modelType.Value.GetRawText()}; only \"gpt2\" checkpoints are supported");

            if (Bool("add_cross_attention", false)) throw Bad("add_cross_attention", "is true; cross-attention (encoder-decoder GPT-2) is not supported");
            // reorder_and_upcast_attn only changes how fp16 attention is computed; the engine's fp32 attention is the
            // same either way, so it is accepted whatever its value (but must still be a boolean).
            _ = Bool("reorder_and_upcast_attn", false);

            var act = Get("activation_function");
            string activation = "gelu_new";
            if (act is not null)
            {
                if (act.Value.ValueKind != JsonValueKind.String) throw Bad("activation_function", $"must be a string (got {act.Value.GetRawText()})");
                activation = act.Value.GetString()!;
            }
            if (Array.IndexOf(TanhGelu, activation) < 0)
                throw Bad("activation_function", $"is \"{activation}\"; only the tanh GELU (gelu_new) is supported");

            double eps = 1e-5;
            var e = Get("layer_norm_epsilon");
            if (e is not null)
            {
                if (e.Value.ValueKind != JsonValueKind.Number) throw Bad("layer_norm_epsilon", $"must be a number (got {e.Value.GetRawText()})");
                eps = e.Value.GetDouble();
            }

            // n_positions is the current name; n_ctx the legacy one (older configs have only it).
            int positions = Get("n_positions") is not null ? Int("n_positions", 1024) : Int("n_ctx", 1024);
            var cfg = new Gpt2Config
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
            };
            if (Get("n_inner") is not null && cfg.Inner <= 0) throw Bad("n_inner", $"must be positive or null (got {cfg.Inner})");
            cfg.Validate(source);
            return cfg;
        }
    }

    /// <summary>config.json text in the layout transformers writes for GPT2LMHeadModel.</summary>
    public static string ToJson(Gpt2Config cfg, StoreDType dtype = StoreDType.F32)
    {
        ArgumentNullException.ThrowIfNull(cfg);
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("activation_function", "gelu_new");
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
            w.WriteString("torch_dtype", dtype switch { StoreDType.F16 => "float16", StoreDType.BF16 => "bfloat16", _ => "float32" });
            w.WriteBoolean("use_cache", true);
            w.WriteNumber("vocab_size", cfg.VocabSize);
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray()) + "\n";
    }

    /// <summary>Writes config.json into <paramref name="dir"/> atomically.</summary>
    public static void Save(string dir, Gpt2Config cfg, StoreDType dtype = StoreDType.F32)
    {
        ArgumentNullException.ThrowIfNull(dir);
        Directory.CreateDirectory(dir);
        AtomicFile.WriteAllText(Path.Combine(dir, FileName), ToJson(cfg, dtype));
    }
}

using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace LearningCurves.Formats.Runs;

/// <summary>The state of one row (one checkpoint) of a run's curve file; "pending", "done" or "failed" in the files.</summary>
[JsonConverter(typeof(RowStatusJsonConverter))]
public enum RowStatus
{
    Pending,
    Done,
    Failed,
}

/// <summary>
/// What is known about one row (a row record file <c>rows/NNNNNN.json</c>, and each entry of the manifest's "rows"):
/// its status, the checksum of its bytes when done, the reason when failed, the content hash of the checkpoint's
/// weights when it was loaded (<c>weights_hash</c>), and, in the merged view, the step whose weights it serves when
/// another row of the run has the same hash and a larger step (<c>duplicate_of</c>). Absent optional fields are left
/// out of the file.
/// </summary>
public sealed record RowRecord(
    [property: JsonPropertyName("row")] int Row,
    [property: JsonPropertyName("step")] long Step,
    [property: JsonPropertyName("path")] string Path,
    [property: JsonPropertyName("status")] RowStatus Status,
    [property: JsonPropertyName("checksum"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Checksum = null,
    [property: JsonPropertyName("reason"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Reason = null,
    [property: JsonPropertyName("device"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Device = null,
    [property: JsonPropertyName("weights_hash"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? WeightsHash = null,
    [property: JsonPropertyName("duplicate_of"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] long? DuplicateOf = null)
{
    /// <summary>The record as a row record file holds it (indented, ending in a newline).</summary>
    public string ToFileText() => RunManifestJson.Text(this);

    /// <summary>The record as a JSON object (e.g. for `status --json`).</summary>
    public JsonObject ToJson() => (JsonObject)JsonSerializer.SerializeToNode(this, RunManifestJson.Options)!;

    /// <summary>Reads a row record file strictly (row, step, path and status present), or a <see cref="UserError"/>
    /// naming <paramref name="file"/>.</summary>
    public static RowRecord Read(string file) => RunManifestJson.ReadStrict<RowRecord>(file, "row record");
}

/// <summary>manifest.json's "eval_set": the eval set the sweep scored.</summary>
public sealed record EvalSetEntry
{
    [JsonPropertyName("path")] public string? Path { get; init; }
    [JsonPropertyName("hash")] public string? Hash { get; init; }
    [JsonPropertyName("sequences")] public int Sequences { get; init; }
    [JsonPropertyName("seq_len")] public int SeqLen { get; init; }
    [JsonPropertyName("examples")] public int Examples { get; init; }
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; }
}

/// <summary>manifest.json's "model_config": the model of the run's checkpoints, in transformers' config names.</summary>
public sealed record ModelConfigEntry
{
    [JsonPropertyName("model_type")] public string? ModelType { get; init; }

    /// <summary>The model's (possibly padded) vocabulary: surprisal normalises over all of its logits, as transformers
    /// does; the eval set's (the tokenizer's) is eval_set.vocab_size.</summary>
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; }

    [JsonPropertyName("n_positions")] public int Positions { get; init; }
    [JsonPropertyName("n_embd")] public int Embd { get; init; }
    [JsonPropertyName("n_layer")] public int Layers { get; init; }
    [JsonPropertyName("n_head")] public int Heads { get; init; }
    [JsonPropertyName("n_inner")] public int Inner { get; init; }
    [JsonPropertyName("layer_norm_epsilon")] public float LayerNormEpsilon { get; init; }
    [JsonPropertyName("scale_attn_weights")] public bool ScaleAttnWeights { get; init; }
    [JsonPropertyName("scale_attn_by_inverse_layer_idx")] public bool ScaleAttnByInverseLayerIdx { get; init; }
    [JsonPropertyName("tie_word_embeddings")] public bool TieWordEmbeddings { get; init; }
    [JsonPropertyName("rotary_dims")] public int RotaryDims { get; init; }

    /// <summary>gpt_neox's rotary_emb_base; null for other models.</summary>
    [JsonPropertyName("rotary_emb_base")] public double? RotaryBase { get; init; }

    /// <summary>The LLaMA family's rope scaling (config.json's rope_scaling or rope_parameters); absent when there is
    /// none.</summary>
    [JsonPropertyName("rope_scaling"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public RopeScalingEntry? RopeScaling { get; init; }

    [JsonPropertyName("use_parallel_residual")] public bool ParallelResidual { get; init; }

    /// <summary>"erf" or "tanh".</summary>
    [JsonPropertyName("gelu")] public string? Gelu { get; init; }
}

/// <summary>manifest.json's "model_config"."rope_scaling", with transformers' names: rope_type "linear" (factor) or
/// "llama3" (factor, low_freq_factor, high_freq_factor, original_max_position_embeddings).</summary>
public sealed record RopeScalingEntry
{
    [JsonPropertyName("rope_type")] public string RopeType { get; init; } = "";
    [JsonPropertyName("factor")] public double Factor { get; init; }
    [JsonPropertyName("low_freq_factor"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double? LowFreqFactor { get; init; }
    [JsonPropertyName("high_freq_factor"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double? HighFreqFactor { get; init; }
    [JsonPropertyName("original_max_position_embeddings"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public int? OriginalMaxPositions { get; init; }
}

/// <summary>manifest.json's "surprisal": the curve file and its layout.</summary>
public sealed record SurprisalEntry
{
    [JsonPropertyName("file")] public string File { get; init; } = SweepFolder.SurprisalFile;
    [JsonPropertyName("dtype")] public string Dtype { get; init; } = "float32";
    [JsonPropertyName("shape")] public long[] Shape { get; init; } = [];
    [JsonPropertyName("order")] public string Order { get; init; } = "C";
    [JsonPropertyName("units")] public string Units { get; init; } = "bits";
    [JsonPropertyName("missing")] public string Missing { get; init; } = "NaN";
}

/// <summary>manifest.json's "steps": the steps file.</summary>
public sealed record StepsEntry
{
    [JsonPropertyName("file")] public string File { get; init; } = SweepFolder.StepsFile;
    [JsonPropertyName("dtype")] public string Dtype { get; init; } = "int64";
}

/// <summary>
/// A run's manifest.json: what the sweep scored (eval set, model, backend) and every checkpoint row. The sweep (Engine's
/// RunStore) writes it and the later stages read it, both through this type and <see cref="RunManifestJson"/>.
/// </summary>
public sealed record RunManifest
{
    public const string FormatName = "learning-curves-sweep/1";

    [JsonPropertyName("format")] public string? Format { get; init; }
    [JsonPropertyName("run")] public string? Run { get; init; }
    [JsonPropertyName("run_path")] public string? RunPath { get; init; }
    [JsonPropertyName("eval_set")] public EvalSetEntry? EvalSet { get; init; }
    [JsonPropertyName("model_config")] public ModelConfigEntry? ModelConfig { get; init; }
    [JsonPropertyName("engine_version")] public string? EngineVersion { get; init; }
    [JsonPropertyName("backend")] public string? Backend { get; init; }
    [JsonPropertyName("precision")] public string? Precision { get; init; }
    [JsonPropertyName("device")] public string? Device { get; init; }
    [JsonPropertyName("surprisal")] public SurprisalEntry? Surprisal { get; init; }
    [JsonPropertyName("steps")] public StepsEntry? Steps { get; init; }
    [JsonPropertyName("rows"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public IReadOnlyList<RowRecord>? Rows { get; init; }

    /// <summary>eval_set.path: the eval set folder the sweep scored, when recorded.</summary>
    [JsonIgnore] public string? EvalSetPath => EvalSet?.Path;

    /// <summary>The checkpoint rows (step, weights folder) in row order; null when the manifest lists none.</summary>
    [JsonIgnore] public IReadOnlyList<(long Step, string Path)>? Checkpoints => Rows?.Select(r => (r.Step, r.Path)).ToList();

    /// <summary>The manifest as the file holds it (indented, ending in a newline).</summary>
    public string ToFileText() => RunManifestJson.Text(this);

    /// <summary>Reads <paramref name="path"/> as the later stages do; null when there is no such file or it is not a
    /// JSON object. Fields it lacks are null or zero.</summary>
    public static RunManifest? Read(string path)
    {
        if (!File.Exists(path)) return null;
        var node = RunManifestJson.Parse(path);
        if (node is not JsonObject) return null;
        try
        {
            return node.Deserialize<RunManifest>(RunManifestJson.Options);
        }
        catch (JsonException e)
        {
            throw UserError.InFile(path, $"invalid manifest ({e.Message})");
        }
    }

    /// <summary>Reads <paramref name="path"/> as the sweep does: a JSON object whose rows each have row, step, path and
    /// status, or a <see cref="UserError"/> naming the file.</summary>
    public static RunManifest ReadStrict(string path) => RunManifestJson.ReadStrict<RunManifest>(path, "manifest");
}

/// <summary>The one serialiser of manifest.json and the row record files (System.Text.Json, indented).</summary>
public static class RunManifestJson
{
    /// <summary>How the files are written and leniently read.</summary>
    public static JsonSerializerOptions Options { get; } = new() { WriteIndented = true };

    // As Options, and a row must have row, step, path and status.
    private static readonly JsonSerializerOptions Strict = new(Options)
    {
        TypeInfoResolver = new DefaultJsonTypeInfoResolver
        {
            Modifiers =
            {
                info =>
                {
                    if (info.Type != typeof(RowRecord)) return;
                    foreach (var p in info.Properties)
                        if (p.Name is "row" or "step" or "path" or "status") p.IsRequired = true;
                },
            },
        },
    };

    /// <summary>The file text of a manifest or row record: indented JSON and a newline.</summary>
    public static string Text<T>(T value) => JsonSerializer.Serialize(value, Options) + "\n";

    internal static JsonNode? Parse(string path)
    {
        try
        {
            return JsonNode.Parse(File.ReadAllText(path));
        }
        catch (JsonException e)
        {
            throw UserError.InFile(path, $"invalid JSON ({e.Message})");
        }
    }

    internal static T ReadStrict<T>(string path, string what)
        where T : class
    {
        var node = Parse(path) as JsonObject ?? throw UserError.InFile(path, $"a {what} must be a JSON object");
        try
        {
            return node.Deserialize<T>(Strict) ?? throw UserError.InFile(path, $"malformed {what}");
        }
        catch (JsonException e) when (e.InnerException is UnknownRowStatusException u)
        {
            throw UserError.InFile(path, u.Message);
        }
        catch (JsonException)
        {
            throw UserError.InFile(path, $"malformed {what}");
        }
    }
}

internal sealed class UnknownRowStatusException(string message) : Exception(message);

/// <summary>Writes a <see cref="RowStatus"/> as its lower-case name and reads only those.</summary>
internal sealed class RowStatusJsonConverter : JsonConverter<RowStatus>
{
    public override RowStatus Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        string? s = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
        foreach (var v in Enum.GetValues<RowStatus>())
            if (s == Name(v)) return v;
        throw new JsonException(null, new UnknownRowStatusException($"unknown row status '{s}'"));
    }

    public override void Write(Utf8JsonWriter writer, RowStatus value, JsonSerializerOptions options) => writer.WriteStringValue(Name(value));

    internal static string Name(RowStatus s) => s.ToString().ToLowerInvariant();
}

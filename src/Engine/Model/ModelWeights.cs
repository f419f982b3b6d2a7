namespace LearningCurves.Engine.Model;

/// <summary>
/// All of a checkpoint's parameters widened to float32 (F16/BF16 files are widened on load) in the engine's layout
/// (products' weights [in, out], y = x W + b; fused qkv as q (all heads) | k | v), keyed by <see cref="TensorKey"/>,
/// plus the config. Exactly the tensors of the architecture's <see cref="ArchitectureTable"/> are held, each with its
/// element count: the constructor refuses anything else, and asking for a tensor the model does not have is an error,
/// never another tensor.
/// </summary>
public sealed class ModelWeights
{
    private readonly Dictionary<TensorKey, float[]> _tensors;

    /// <param name="tensors">Every tensor of <see cref="TensorTable.For"/>(config, untiedHead) by key, engine layout;
    /// the head present exactly when it is untied.</param>
    public ModelWeights(ModelConfig config, IReadOnlyDictionary<TensorKey, float[]> tensors)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(tensors);
        Config = config;
        bool untied = tensors.ContainsKey(new TensorKey(TensorRole.Head, -1));
        Specs = TensorTable.For(config, untied);
        _tensors = new Dictionary<TensorKey, float[]>(Specs.Count);
        foreach (var s in Specs)
        {
            if (!tensors.TryGetValue(s.Key, out var a))
                throw new ArgumentException($"no values for tensor '{s.Name}' ({s.Role}) of a {config.ModelType} model", nameof(tensors));
            if (a.Length != s.ElementCount)
                throw new ArgumentException($"tensor '{s.Name}' has {a.Length} values; its shape [{string.Join(", ", s.Shape)}] needs {s.ElementCount}", nameof(tensors));
            _tensors.Add(s.Key, a);
        }
        if (tensors.Count != _tensors.Count)
        {
            var extra = tensors.Keys.First(k => !_tensors.ContainsKey(k));
            throw new ArgumentException($"tensor {extra.Role} (layer {extra.Layer}) is not part of a {config.ModelType} model", nameof(tensors));
        }
        Blocks = Enumerable.Range(0, config.Layers).Select(l => new LayerWeights(this, l)).ToArray();
    }

    public ModelConfig Config { get; }

    /// <summary>The tensors held, in table order (with the head when untied).</summary>
    public IReadOnlyList<TensorSpec> Specs { get; }

    /// <summary>The engine-layout values of a tensor; an <see cref="ArgumentException"/> naming it when the model has none.</summary>
    public float[] this[TensorRole role, int layer = -1] =>
        _tensors.TryGetValue(new TensorKey(role, layer), out var a)
            ? a
            : throw new ArgumentException($"a {Config.ModelType} model with {Config.Layers} layers{(LmHead is null ? ", tied head," : "")} has no tensor {role}{(layer >= 0 ? $" in layer {layer}" : "")}");

    /// <summary>The values of <paramref name="s"/>.</summary>
    public float[] this[TensorSpec s] => this[s.Role, s.Layer];

    public float[] Wte => this[TensorRole.Wte];

    /// <summary>Learned positions (GPT-2); empty for rotary models.</summary>
    public float[] Wpe => _tensors.TryGetValue(new TensorKey(TensorRole.Wpe, -1), out var a) ? a : [];

    public LayerWeights[] Blocks { get; }

    public float[] LnFW => this[TensorRole.LnFW];

    public float[] LnFB => this[TensorRole.LnFB];

    /// <summary>The checkpoint's own head (V, C) when untied; null means tied to <see cref="Wte"/>.</summary>
    public float[]? LmHead => _tensors.GetValueOrDefault(new TensorKey(TensorRole.Head, -1));

    /// <summary>The output projection actually used: the untied head when present, otherwise wte.</summary>
    public float[] Head => LmHead ?? Wte;

    /// <summary>Where these weights came from (a folder or file path), for messages.</summary>
    public string Source { get; init; } = "";

    /// <summary>
    /// XxHash128 (hex) of every tensor read from the checkpoint, as float32 after widening, each preceded by its name
    /// without prefix, in load order; equal hashes mean equal weights whatever the container. Empty for weights that
    /// were not loaded from a checkpoint.
    /// </summary>
    public string ContentHash { get; init; } = "";

    /// <summary>These weights with <paramref name="role"/> (outside the blocks) replaced.</summary>
    public ModelWeights With(TensorRole role, float[] values, ModelConfig? config = null)
    {
        var d = _tensors.ToDictionary(kv => kv.Key, kv => kv.Value);
        d[new TensorKey(role, -1)] = values;
        return new ModelWeights(config ?? Config, d) { Source = Source };
    }

    /// <summary>Fresh random weights (GPT-2 init: N(0, 0.02), projections scaled by 1/sqrt(2L), layer norm weights 1,
    /// positions N(0, 0.01)), for benchmarks and tests. Draws block by block, each block's tensors in role order, then
    /// the embeddings, the final norm and the head.</summary>
    public static ModelWeights Random(ModelConfig cfg, int seed, bool untiedHead = false)
    {
        ArgumentNullException.ThrowIfNull(cfg);
        var rng = new Random(seed);
        float projStd = 0.02f / MathF.Sqrt(2 * cfg.Layers);
        float[] Normal(long n, float std)
        {
            var a = new float[n];
            for (long i = 0; i < n; i += 2)
            {
                // Box-Muller: two normals per draw.
                double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
                double r = Math.Sqrt(-2.0 * Math.Log(u1));
                a[i] = (float)(r * Math.Cos(2 * Math.PI * u2) * std);
                if (i + 1 < n) a[i + 1] = (float)(r * Math.Sin(2 * Math.PI * u2) * std);
            }
            return a;
        }
        float[] Init(TensorSpec s) => s.Role switch
        {
            TensorRole.Ln1W or TensorRole.Ln2W or TensorRole.LnFW or TensorRole.QNormW or TensorRole.KNormW or TensorRole.PostAttnNormW or TensorRole.PostMlpNormW => Enumerable.Repeat(1f, (int)s.ElementCount).ToArray(),
            TensorRole.AttnProjW or TensorRole.FcProjW => Normal(s.ElementCount, projStd),
            TensorRole.Wpe => Normal(s.ElementCount, 0.01f),
            _ => Normal(s.ElementCount, 0.02f),
        };
        var specs = TensorTable.For(cfg, untiedHead);
        var t = new Dictionary<TensorKey, float[]>();
        foreach (var s in specs.Where(s => s.Layer >= 0).OrderBy(s => s.Layer).ThenBy(s => s.Role)) t[s.Key] = Init(s);
        foreach (var s in specs.Where(s => s.Layer < 0).OrderBy(s => s.Role)) t[s.Key] = Init(s);
        return new ModelWeights(cfg, t) { Source = $"random(seed={seed})" };
    }
}

/// <summary>One block's tensors of a <see cref="ModelWeights"/> (engine layout), by role; missing roles are errors.</summary>
public sealed class LayerWeights
{
    private readonly ModelWeights _w;

    internal LayerWeights(ModelWeights w, int layer)
    {
        _w = w;
        Layer = layer;
    }

    public int Layer { get; }

    public float[] this[TensorRole role] => _w[role, Layer];

    public float[] Ln1W => this[TensorRole.Ln1W];           // (C)
    public float[] Ln1B => this[TensorRole.Ln1B];           // (C)
    public float[] AttnW => this[TensorRole.AttnW];         // (C, 3C)
    public float[] AttnB => this[TensorRole.AttnB];         // (3C)
    public float[] AttnProjW => this[TensorRole.AttnProjW]; // (C, C)
    public float[] AttnProjB => this[TensorRole.AttnProjB]; // (C)
    public float[] Ln2W => this[TensorRole.Ln2W];           // (C)
    public float[] Ln2B => this[TensorRole.Ln2B];           // (C)
    public float[] FcW => this[TensorRole.FcW];             // (C, I)
    public float[] FcB => this[TensorRole.FcB];             // (I)
    public float[] FcProjW => this[TensorRole.FcProjW];     // (I, C)
    public float[] FcProjB => this[TensorRole.FcProjB];     // (C)
}

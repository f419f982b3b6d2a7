using LearningCurves.Engine.Model;

namespace LearningCurves.Training;

/// <summary>One named parameter tensor inside the flat parameter vector.</summary>
/// <param name="Name">Hugging Face name without the <c>transformer.</c> prefix (e.g. <c>h.0.attn.c_attn.weight</c>).</param>
/// <param name="Offset">First element in the flat vector.</param>
/// <param name="Shape">Row-major shape as stored in the checkpoint.</param>
/// <param name="Decay">Whether AdamW weight decay applies (matrices and embeddings; not biases or layer norms).</param>
public sealed record ParameterTensor(string Name, long Offset, int[] Shape, bool Decay)
{
    public long Length => Shape.Aggregate(1L, (a, d) => a * d);
}

/// <summary>
/// Where each GPT-2 parameter lives in one flat float vector, so that the optimizer, clipping and zeroing are single
/// loops. The order is the checkpoint's: wte, wpe, then each block's tensors, then ln_f. The head is tied to wte.
/// </summary>
public sealed class ParameterLayout
{
    public ParameterLayout(ModelConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        Config = config;
        if (config.Architecture != Architecture.Gpt2)
            throw new ArgumentException($"the trainer trains GPT-2 only (got {config.ModelType})", nameof(config));
        // The names, shapes and order are the architecture's tensor table (the one checkpoints load and save by); weight
        // decay applies to the matrices and embeddings.
        var list = new List<ParameterTensor>();
        var byRole = new Dictionary<(TensorRole, int), ParameterTensor>();
        long off = 0;
        _specs = TensorTable.For(config, untiedHead: false);
        foreach (var spec in _specs)
        {
            var t = new ParameterTensor(spec.Name, off, spec.Shape.Select(d => checked((int)d)).ToArray(), spec.Shape.Length == 2);
            list.Add(t);
            byRole[(spec.Role, spec.Layer)] = t;
            off += t.Length;
        }
        ParameterTensor R(TensorRole role, int layer = -1) => byRole[(role, layer)];
        Wte = R(TensorRole.Wte);
        Wpe = R(TensorRole.Wpe);
        Blocks = new BlockTensors[config.Layers];
        for (int l = 0; l < config.Layers; l++)
        {
            Blocks[l] = new BlockTensors(
                R(TensorRole.Ln1W, l), R(TensorRole.Ln1B, l), R(TensorRole.AttnW, l), R(TensorRole.AttnB, l),
                R(TensorRole.AttnProjW, l), R(TensorRole.AttnProjB, l), R(TensorRole.Ln2W, l), R(TensorRole.Ln2B, l),
                R(TensorRole.FcW, l), R(TensorRole.FcB, l), R(TensorRole.FcProjW, l), R(TensorRole.FcProjB, l));
        }
        LnFW = R(TensorRole.LnFW);
        LnFB = R(TensorRole.LnFB);
        Tensors = list;
        Count = off;
    }

    private readonly IReadOnlyList<TensorSpec> _specs;

    public ModelConfig Config { get; }

    /// <summary>All tensors in flat order.</summary>
    public IReadOnlyList<ParameterTensor> Tensors { get; }

    /// <summary>Total number of parameters.</summary>
    public long Count { get; }

    public ParameterTensor Wte { get; }
    public ParameterTensor Wpe { get; }
    public BlockTensors[] Blocks { get; }
    public ParameterTensor LnFW { get; }
    public ParameterTensor LnFB { get; }

    /// <summary>Copies engine weights (tied head only) into a new flat vector, tensor by tensor in table order.</summary>
    public float[] Flatten(ModelWeights w)
    {
        ArgumentNullException.ThrowIfNull(w);
        if (w.LmHead is not null) throw new ArgumentException("the trainer ties the head to wte; weights have an untied lm_head");
        if (w.Config.Layers != Config.Layers || w.Config.Embd != Config.Embd || w.Config.VocabSize != Config.VocabSize
            || w.Config.MaxPositions != Config.MaxPositions || w.Config.InnerSize != Config.InnerSize)
            throw new ArgumentException("weights do not match the layout's config");
        var flat = new float[Count];
        for (int i = 0; i < _specs.Count; i++)
        {
            var (t, a) = (Tensors[i], w[_specs[i]]);
            if (a.Length != t.Length) throw new ArgumentException($"{t.Name}: {a.Length} values, expected {t.Length}");
            a.CopyTo(flat.AsSpan((int)t.Offset, (int)t.Length));
        }
        return flat;
    }

    /// <summary>Engine weights (copies) from a flat vector, for saving a checkpoint or scoring.</summary>
    public ModelWeights Unflatten(ReadOnlySpan<float> flat, string source = "")
    {
        if (flat.Length != Count) throw new ArgumentException($"{flat.Length} parameters, expected {Count}");
        var tensors = new Dictionary<TensorKey, float[]>(_specs.Count);
        for (int i = 0; i < _specs.Count; i++) tensors[_specs[i].Key] = flat.Slice((int)Tensors[i].Offset, (int)Tensors[i].Length).ToArray();
        return new ModelWeights(Config, tensors) { Source = source };
    }

    /// <summary>The tensors of one transformer block.</summary>
    public sealed record BlockTensors(
        ParameterTensor Ln1W, ParameterTensor Ln1B, ParameterTensor AttnW, ParameterTensor AttnB,
        ParameterTensor AttnProjW, ParameterTensor AttnProjB, ParameterTensor Ln2W, ParameterTensor Ln2B,
        ParameterTensor FcW, ParameterTensor FcB, ParameterTensor FcProjW, ParameterTensor FcProjB);
}

namespace LearningCurves.Engine.Model;

/// <summary>
/// One transformer block's parameters, float32, in Hugging Face GPT-2 layout. Conv1D weights are [in, out]
/// (y = x W + b), exactly as stored in the checkpoint.
/// </summary>
public sealed class Gpt2LayerWeights
{
    public required float[] Ln1W { get; init; }      // (C)        h.{i}.ln_1.weight
    public required float[] Ln1B { get; init; }      // (C)        h.{i}.ln_1.bias
    public required float[] AttnW { get; init; }     // (C, 3C)    h.{i}.attn.c_attn.weight
    public required float[] AttnB { get; init; }     // (3C)       h.{i}.attn.c_attn.bias
    public required float[] AttnProjW { get; init; } // (C, C)     h.{i}.attn.c_proj.weight
    public required float[] AttnProjB { get; init; } // (C)        h.{i}.attn.c_proj.bias
    public required float[] Ln2W { get; init; }      // (C)        h.{i}.ln_2.weight
    public required float[] Ln2B { get; init; }      // (C)        h.{i}.ln_2.bias
    public required float[] FcW { get; init; }       // (C, I)     h.{i}.mlp.c_fc.weight
    public required float[] FcB { get; init; }       // (I)        h.{i}.mlp.c_fc.bias
    public required float[] FcProjW { get; init; }   // (I, C)     h.{i}.mlp.c_proj.weight
    public required float[] FcProjB { get; init; }   // (C)        h.{i}.mlp.c_proj.bias
}

/// <summary>
/// All of a GPT-2 checkpoint's parameters widened to float32 (F16/BF16 files are widened on load), plus the config.
/// </summary>
public sealed class Gpt2Weights
{
    public required Gpt2Config Config { get; init; }
    public required float[] Wte { get; init; }       // (V, C)     wte.weight
    public required float[] Wpe { get; init; }       // (P, C)     wpe.weight; empty for rotary models (GPT-NeoX)
    public required Gpt2LayerWeights[] Blocks { get; init; } // L of them
    public required float[] LnFW { get; init; }      // (C)        ln_f.weight
    public required float[] LnFB { get; init; }      // (C)        ln_f.bias

    /// <summary>(V, C) lm_head.weight when the checkpoint has its own; null means tied to <see cref="Wte"/>.</summary>
    public float[]? LmHead { get; init; }

    /// <summary>The output projection actually used: lm_head when present, otherwise wte.</summary>
    public float[] Head => LmHead ?? Wte;

    /// <summary>Where these weights came from (a folder or file path), for messages.</summary>
    public string Source { get; init; } = "";

    /// <summary>
    /// XxHash128 (hex) of every tensor read from the checkpoint, as float32 after widening, each preceded by its name
    /// without prefix, in load order; equal hashes mean equal weights whatever the container. Empty for weights that
    /// were not loaded from a checkpoint.
    /// </summary>
    public string ContentHash { get; init; } = "";

    /// <summary>Fresh random weights (GPT-2 init: N(0, 0.02), projections scaled by 1/sqrt(2L)), for benchmarks and tests.</summary>
    public static Gpt2Weights Random(Gpt2Config cfg, int seed, bool untiedHead = false)
    {
        var rng = new Random(seed);
        int c = cfg.Embd, inner = cfg.InnerSize;
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
        float[] Const(int n, float v) => Enumerable.Repeat(v, n).ToArray();
        var blocks = new Gpt2LayerWeights[cfg.Layers];
        for (int l = 0; l < cfg.Layers; l++)
        {
            blocks[l] = new Gpt2LayerWeights
            {
                Ln1W = Const(c, 1f), Ln1B = Normal(c, 0.02f),
                AttnW = Normal((long)c * 3 * c, 0.02f), AttnB = Normal(3 * c, 0.02f),
                AttnProjW = Normal((long)c * c, projStd), AttnProjB = Normal(c, 0.02f),
                Ln2W = Const(c, 1f), Ln2B = Normal(c, 0.02f),
                FcW = Normal((long)c * inner, 0.02f), FcB = Normal(inner, 0.02f),
                FcProjW = Normal((long)inner * c, projStd), FcProjB = Normal(c, 0.02f),
            };
        }
        return new Gpt2Weights
        {
            Config = cfg,
            Wte = Normal((long)cfg.VocabSize * c, 0.02f),
            Wpe = cfg.LearnedPositions ? Normal((long)cfg.MaxPositions * c, 0.01f) : [],
            Blocks = blocks,
            LnFW = Const(c, 1f),
            LnFB = Normal(c, 0.02f),
            LmHead = untiedHead ? Normal((long)cfg.VocabSize * c, 0.02f) : null,
            Source = $"random(seed={seed})",
        };
    }
}

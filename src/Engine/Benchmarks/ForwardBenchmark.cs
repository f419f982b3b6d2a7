using System.Diagnostics;
using LearningCurves.Engine.Backends;
using LearningCurves.Engine.Model;

namespace LearningCurves.Engine.Benchmarks;

/// <summary>One measured shape of the forward pass.</summary>
public sealed record ForwardResult(
    string Shape, int Batch, int SeqLen, int ScoredPerSequence, int Repeats,
    double SecondsPerBatch, double TokensPerSecond, double ModelFlopPerBatch, double GflopPerSecond);

/// <summary>
/// Times <see cref="DecoderModel.Score"/> on random weights. FLOPs counted are the model's: 2 per multiply-add of every
/// matrix product (QKV, attention projection, MLP, the causal attention's QK^T and PV over the positions that exist,
/// and the output head for the scored positions only).
/// </summary>
public static class ForwardBenchmark
{
    public static ModelConfig Gpt2Small(int vocab = 50257) => new()
    {
        VocabSize = vocab, MaxPositions = 1024, Embd = 768, Layers = 12, Heads = 12,
    };

    /// <summary>GPT-NeoX of GPT-2-small's width, depth and vocabulary (Pythia-160m's options: rotary_pct 0.25, parallel
    /// residual, exact GELU, untied head), to compare the two architectures at equal size.</summary>
    public static ModelConfig NeoXSmall(int vocab = 50257) => Gpt2Small(vocab) with
    {
        Architecture = Architecture.GptNeoX, RotaryPct = 0.25, ParallelResidual = true, Gelu = GeluKind.Erf, TieWordEmbeddings = false,
    };

    /// <summary>TinyLlama-1.1B's shape: 22 layers, 2048 wide, 32 query heads / 4 kv heads, SwiGLU 5632, vocabulary 32,000
    /// (random weights, tied head for the timing: the head's cost is the same).</summary>
    public static ModelConfig TinyLlama(int layers = 22) => new()
    {
        Architecture = Architecture.Llama, VocabSize = 32000, MaxPositions = 2048, Embd = 2048, Layers = layers, Heads = 32, KvHeads = 4,
        Inner = 5632, LayerNormEpsilon = 1e-5f, RotaryBase = 10000,
    };

    /// <summary>OLMo-2-1B's shape: 16 layers, 2048 wide, 16 heads, SwiGLU 8192, vocabulary 100,352, rope_theta 500,000
    /// (QK-norm and post-norms).</summary>
    public static ModelConfig Olmo2OneB(int layers = 16) => new()
    {
        Architecture = Architecture.Olmo2, VocabSize = 100352, MaxPositions = 4096, Embd = 2048, Layers = layers, Heads = 16,
        Inner = 8192, LayerNormEpsilon = 1e-6f, RotaryBase = 500000,
    };

    public static ModelConfig Tiny => new() { VocabSize = 1000, MaxPositions = 128, Embd = 64, Layers = 2, Heads = 4 };

    /// <summary>Model FLOPs of one batch of B sequences of T tokens with K scored positions each.</summary>
    public static double ModelFlop(ModelConfig cfg, int b, int t, int scored)
    {
        double c = cfg.Embd, inner = cfg.InnerSize, tokens = (double)b * t;
        double perLayer = cfg.IsLlamaFamily
            ? 2 * tokens * (c * cfg.QkvWidth + cfg.AttnWidth * c + 3 * c * inner) // q|k|v, o, gate|up and down
                + 2 * 2 * b * (double)cfg.AttnWidth * (t * (t + 1) / 2.0)
            : 2 * tokens * (c * 3 * c + c * c + 2 * c * inner)
                + 2 * 2 * b * c * (t * (t + 1) / 2.0); // QK^T and PV over the causal triangle
        return cfg.Layers * perLayer + 2.0 * b * scored * c * cfg.VocabSize;
    }

    public static ForwardResult Run(IBackend backend, ModelConfig cfg, string shape, int b, int t, int scored, int repeats, int seed = 1)
    {
        ArgumentNullException.ThrowIfNull(backend);
        var weights = ModelWeights.Random(cfg, seed);
        using var model = new DecoderModel(backend, weights);
        var rng = new Random(seed);
        var seqs = Enumerable.Range(0, b).Select(_ => Enumerable.Range(0, t).Select(_ => rng.Next(cfg.VocabSize)).ToArray()).ToArray();
        var positions = seqs.Select(_ => Enumerable.Range(1, t - 1).OrderBy(_ => rng.Next()).Take(scored).Order().ToArray()).ToArray();
        model.Score(seqs, positions); // warm-up: JIT, first-touch of buffers, library initialisation
        var times = new List<double>();
        for (int i = 0; i < repeats; i++)
        {
            var sw = Stopwatch.StartNew();
            model.Score(seqs, positions);
            times.Add(sw.Elapsed.TotalSeconds);
        }
        times.Sort();
        double sec = times[times.Count / 2];
        double flop = ModelFlop(cfg, b, t, scored);
        return new ForwardResult(shape, b, t, scored, repeats, sec, b * t / sec, flop, flop / sec / 1e9);
    }

    /// <summary>The machine's own cblas_sgemm rate in GFLOP/s on a GPT-2-small-sized product
    /// ((rows, 768) x (768, 3072)), median of several runs.</summary>
    public static double SgemmGflops(int rows = 2048, int k = 768, int n = 3072, int repeats = 5)
    {
        var a = new float[rows * k];
        var bm = new float[k * n];
        var c = new float[rows * n];
        var rng = new Random(2);
        for (int i = 0; i < a.Length; i++) a[i] = (float)rng.NextDouble();
        for (int i = 0; i < bm.Length; i++) bm[i] = (float)rng.NextDouble();
        Blas.Sgemm(false, false, rows, n, k, 1f, a, bm, 0f, c);
        var times = new List<double>();
        for (int i = 0; i < repeats; i++)
        {
            var sw = Stopwatch.StartNew();
            Blas.Sgemm(false, false, rows, n, k, 1f, a, bm, 0f, c);
            times.Add(sw.Elapsed.TotalSeconds);
        }
        times.Sort();
        return 2.0 * rows * k * n / times[times.Count / 2] / 1e9;
    }
}

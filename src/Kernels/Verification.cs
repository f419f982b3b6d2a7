using System.Globalization;
using LearningCurves.Engine.Backends;
using LearningCurves.Engine.Model;

namespace LearningCurves.Kernels;

/// <summary>Absolute error statistics of one comparison.</summary>
/// <param name="Count">Values compared.</param>
/// <param name="NonFinite">Values where either side is NaN or infinite (they fail any limit).</param>
public sealed record ErrorStats(int Count, double MeanAbs, double MaxAbs, int NonFinite, int WorstIndex)
{
    /// <summary>|got - want| over all values; a non-finite value on either side counts as an infinite error.</summary>
    public static ErrorStats Of(ReadOnlySpan<float> got, ReadOnlySpan<double> want)
    {
        if (got.Length != want.Length) throw new ArgumentException($"{got.Length} values against {want.Length}");
        double sum = 0, max = 0;
        int bad = 0, worst = -1;
        for (int i = 0; i < got.Length; i++)
        {
            double d = Math.Abs(got[i] - want[i]);
            if (!double.IsFinite(d))
            {
                bad++;
                if (max != double.PositiveInfinity) worst = i;
                max = double.PositiveInfinity;
                continue;
            }
            sum += d;
            if (d > max)
            {
                max = d;
                worst = i;
            }
        }
        int finite = got.Length - bad;
        return new ErrorStats(got.Length, finite == 0 ? 0 : sum / finite, max, bad, worst);
    }

    public bool Within(double limit) => NonFinite == 0 && MaxAbs <= limit;
}

/// <summary>One model and the sequences to score on it; optionally the float64 reference surprisals of every
/// position 1..len-1 of each sequence (the parity fixtures).</summary>
public sealed record VerifyCase(string Name, ModelWeights Weights, IReadOnlyList<int[]> Sequences, IReadOnlyList<double[]>? Reference = null,
    bool CublasAttention = false, long? HeadChunkBytes = null);

/// <summary>One line of the verify table.</summary>
public sealed record VerifyRow(string Case, string Precision, string Against, ErrorStats Stats, double Limit)
{
    public bool Passed => Stats.Within(Limit);

    public string Format() => string.Create(CultureInfo.InvariantCulture,
        $"{Case,-40} {Precision,-5} {Against,-9} {Stats.Count,7} {Stats.MeanAbs,11:0.00E+00} {Stats.MaxAbs,11:0.00E+00} {Limit,9:0.0E+00}  {(Passed ? "ok" : "FAIL")}{(Stats.NonFinite > 0 ? " (" + Stats.NonFinite.ToString(CultureInfo.InvariantCulture) + " non-finite)" : "")}");

    public static string Header => $"{"case",-40} {"prec",-5} {"against",-9} {"values",7} {"mean |err|",11} {"max |err|",11} {"limit",9}";
}

/// <summary>
/// Compares a backend under test (CUDA) with the CPU backend, and with float64 references when a case has them, by
/// surprisal in bits at every position. The limits are the project's accuracy targets.
/// </summary>
public static class Verification
{
    /// <summary>Max absolute surprisal error in bits allowed for a precision mode. For bf16 this is only the ceiling
    /// used before a case is run; each case's limit is <see cref="Bf16Limit"/> of its own bf16 rounding error. For
    /// tf32 it is the floor of <see cref="Tf32Limit"/>.</summary>
    public static double Limit(Precision p) => p switch
    {
        Precision.Fp32 => 1e-3,
        Precision.Tf32 => 2e-2,
        _ => 1e-1,
    };

    /// <summary>The stated factor of <see cref="Bf16Limit"/>.</summary>
    public const double Bf16Factor = 3;

    /// <summary>
    /// The bf16 limit of one case, derived from bf16 rounding rather than fixed: <see cref="Bf16Factor"/> times the
    /// CPU's bf16 emulation error (max |surprisal| difference, in bits, of the CPU backend in bf16 mode from the CPU
    /// backend in fp32 on the same case), and never below the fp32 limit. Why 3: the GPU and the CPU round to bf16 at
    /// exactly the same places (same buffer types), but from fp32 values that differ in their last bits (other
    /// summation orders), so individual rounding decisions differ; each side is then about one emulation error from
    /// fp32 (2x by the triangle inequality), and the third covers the maximum of one side exceeding the other's over a
    /// few thousand values. docs/cuda.md states it.
    /// </summary>
    public static double Bf16Limit(double emulationError) => Math.Max(Limit(Precision.Fp32), Bf16Factor * emulationError);

    /// <summary>The stated factor of <see cref="Tf32Limit"/>: <see cref="Bf16Factor"/> scaled by the ratio of the two
    /// formats' input rounding errors, TF32's 2^-10 (11 significant bits, truncated: the worse of what cuBLAS did on the
    /// H200, docs/cuda.md) over bf16's 2^-8 (8 significant bits, rounded to nearest).</summary>
    public const double Tf32Factor = Bf16Factor / 4;

    /// <summary>
    /// The tf32 limit of one case: the fixed <see cref="Limit"/> (2e-2 bits), or, for a case whose logits are so sharp
    /// that rounding the products' inputs moves them further, <see cref="Tf32Factor"/> times the case's bf16 emulation
    /// error (as in <see cref="Bf16Limit"/>), whichever is larger. TF32 rounds the same product inputs bf16 mode rounds,
    /// 4x more finely at worst, so to first order its error is at most a quarter of the bf16 one; the CPU does not
    /// emulate TF32 itself (which kernel truncates and which rounds is cuBLAS's choice per shape), so the bf16 emulation
    /// is the case's measured sensitivity to rounding. Never tighter than the fixed limit.
    /// </summary>
    public static double Tf32Limit(double bf16EmulationError) => Math.Max(Limit(Precision.Tf32), Tf32Factor * bf16EmulationError);

    /// <summary>Random GPT-2 models covering the backend's code paths: odd widths, every sequence length remainder,
    /// head sizes above the fused attention kernel's limit, untied heads, inverse-layer scaling, a GPT-2-sized
    /// vocabulary split into several head chunks with a remainder, GPT-NeoX models (rotary, exact GELU, both residual
    /// forms) and LLaMA-family models (GQA with biases; OLMo-2 multi-query with head_dim; Qwen2 GQA with q/k/v biases).</summary>
    public static IReadOnlyList<VerifyCase> RandomCases(int seed, bool quick)
    {
        var cases = new List<VerifyCase>();
        var rng = new Random(seed);
        int[][] Seqs(ModelConfig cfg, params int[] lengths) =>
            lengths.Select(n => Enumerable.Range(0, n).Select(_ => rng.Next(cfg.VocabSize)).ToArray()).ToArray();

        var tiny = new ModelConfig { VocabSize = 257, MaxPositions = 64, Embd = 48, Layers = 2, Heads = 4 };
        cases.Add(new VerifyCase("random-tiny", ModelWeights.Random(tiny, seed), Seqs(tiny, 1, 2, 31, 33, 64, 17)));

        var odd = new ModelConfig { VocabSize = 1001, MaxPositions = 40, Embd = 40, Layers = 2, Heads = 5, Inner = 72, ScaleAttnByInverseLayerIdx = true, TieWordEmbeddings = false };
        cases.Add(new VerifyCase("random-odd-untied", ModelWeights.Random(odd, seed + 1, untiedHead: true), Seqs(odd, 40, 3, 39)));

        var mid = new ModelConfig { VocabSize = 4099, MaxPositions = 128, Embd = 256, Layers = quick ? 2 : 4, Heads = 4 };
        var midW = ModelWeights.Random(mid, seed + 2);
        var midSeqs = Seqs(mid, 128, 128, 100, 128);
        cases.Add(new VerifyCase("random-mid-fused-attn", midW, midSeqs));
        cases.Add(new VerifyCase("random-mid-cublas-attn", midW, midSeqs, CublasAttention: true));

        var wide = new ModelConfig { VocabSize = 320, MaxPositions = 24, Embd = 320, Layers = 1, Heads = 2 };
        cases.Add(new VerifyCase("random-headsize-160", ModelWeights.Random(wide, seed + 3), Seqs(wide, 24, 9)));

        var vocab = new ModelConfig { VocabSize = 50257, MaxPositions = 64, Embd = 64, Layers = 1, Heads = 2 };
        // A 1 MiB logits budget splits 50,257 columns into many chunks with a remainder.
        cases.Add(new VerifyCase("random-gpt2-vocab-chunked", ModelWeights.Random(vocab, seed + 4), Seqs(vocab, 64, 50, 7), HeadChunkBytes: 1L << 20));

        // GPT-NeoX (Pythia's layout): rotary on a quarter of each head, parallel residual, exact GELU, untied head; then
        // full rotary with the sequential residual.
        var neox = new ModelConfig
        {
            Architecture = Architecture.GptNeoX, VocabSize = 503, MaxPositions = 96, Embd = 96, Layers = 2, Heads = 3,
            RotaryPct = 0.25, ParallelResidual = true, Gelu = GeluKind.Erf, TieWordEmbeddings = false,
        };
        cases.Add(new VerifyCase("random-neox-parallel-rot025", ModelWeights.Random(neox, seed + 5, untiedHead: true), Seqs(neox, 96, 1, 45)));
        var neoxSeq = neox with { Embd = 64, Heads = 4, RotaryPct = 1.0, ParallelResidual = false, RotaryBase = 500000 };
        cases.Add(new VerifyCase("random-neox-sequential-rot1", ModelWeights.Random(neoxSeq, seed + 6, untiedHead: true), Seqs(neoxSeq, 70, 33)));

        // The LLaMA family: grouped-query attention with biases (llama), then OLMo-2's QK-norm and post-norms with an
        // odd head count, multi-query and an explicit head_dim.
        var llama = new ModelConfig
        {
            Architecture = Architecture.Llama, VocabSize = 509, MaxPositions = 80, Embd = 96, Layers = 2, Heads = 6, KvHeads = 2,
            Inner = 160, RotaryBase = 500000, LayerNormEpsilon = 1e-6f, AttentionBias = true, MlpBias = true, TieWordEmbeddings = false,
        };
        cases.Add(new VerifyCase("random-llama-gqa-bias", ModelWeights.Random(llama, seed + 7, untiedHead: true), Seqs(llama, 80, 1, 37)));
        var olmo2 = llama with { Architecture = Architecture.Olmo2, Embd = 72, Heads = 5, KvHeads = 1, HeadDim = 16, AttentionBias = false, MlpBias = false };
        cases.Add(new VerifyCase("random-olmo2-mqa-headdim", ModelWeights.Random(olmo2, seed + 8, untiedHead: true), Seqs(olmo2, 65, 2)));
        // Qwen2: LLaMA's blocks with q/k/v biases only (through the qkv product's bias epilogue), 9 query / 3 kv heads, tied.
        var qwen2 = olmo2 with { Architecture = Architecture.Qwen2, Heads = 9, KvHeads = 3, HeadDim = 8, RotaryBase = 1000000, TieWordEmbeddings = true };
        cases.Add(new VerifyCase("random-qwen2-gqa-tied", ModelWeights.Random(qwen2, seed + 9), Seqs(qwen2, 72, 5)));
        return cases;
    }

    /// <summary>Scores every position of every sequence of <paramref name="c"/> on both backends and compares.
    /// <paramref name="configure"/> sets backend options of the backend under test for this case.</summary>
    public static List<VerifyRow> Run(VerifyCase c, Precision precision, IBackend test, IBackend cpu, Action<IBackend, VerifyCase>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(c);
        ArgumentNullException.ThrowIfNull(test);
        ArgumentNullException.ThrowIfNull(cpu);
        configure?.Invoke(test, c);
        float[] got, cpuSide;
        using (var m = new DecoderModel(test, c.Weights)) got = Flatten(m.ScoreAll(c.Sequences));
        using (var m = new DecoderModel(cpu, c.Weights)) cpuSide = Flatten(m.ScoreAll(c.Sequences));
        string p = BackendFactory.Describe(precision);
        double limit = Limit(precision);
        if (precision is Precision.Bf16 or Precision.Tf32)
        {
            // The case's own bf16 rounding error: the CPU's bf16 emulation against the CPU in fp32.
            float[] Cpu(Precision cp)
            {
                using var be = new CpuBackend(cp);
                using var m = new DecoderModel(be, c.Weights);
                return Flatten(m.ScoreAll(c.Sequences));
            }
            // The reference side's scores already are one of the two when it is a CPU backend in that precision.
            var have = (cpu as CpuBackend)?.Precision;
            float[] At(Precision cp) => have == cp ? cpuSide : Cpu(cp);
            double emulation = ErrorStats.Of(At(Precision.Bf16), At(Precision.Fp32).Select(x => (double)x).ToArray()).MaxAbs;
            limit = precision == Precision.Bf16 ? Bf16Limit(emulation) : Tf32Limit(emulation);
        }
        var rows = new List<VerifyRow>
        {
            new(c.Name, p, "cpu", ErrorStats.Of(got, cpuSide.Select(x => (double)x).ToArray()), limit),
        };
        if (c.Reference is not null)
        {
            var want = c.Reference.SelectMany(r => r).ToArray();
            if (want.Length != got.Length)
                throw new InvalidOperationException($"{c.Name}: the reference has {want.Length} surprisals, the sequences {got.Length} positions");
            rows.Add(new VerifyRow(c.Name, p, "float64", ErrorStats.Of(got, want), limit));
            rows.Add(new VerifyRow(c.Name, p, "cpu-f64", ErrorStats.Of(cpuSide, want), limit));
        }
        return rows;
    }

    private static float[] Flatten(float[][] x) => x.SelectMany(r => r).ToArray();
}

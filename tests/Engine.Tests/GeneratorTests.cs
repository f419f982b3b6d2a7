using LearningCurves.Engine.Backends;
using LearningCurves.Engine.Model;
using Xunit;
using LearningCurves.Formats;

namespace LearningCurves.Engine.Tests;

public class GeneratorTests
{
    private static ModelConfig Cfg(int c = 24, int heads = 3, int layers = 2, int v = 53, int p = 24) =>
        new() { VocabSize = v, MaxPositions = p, Embd = c, Layers = layers, Heads = heads };

    public static TheoryData<int, int, int, int, bool, bool, int> Configs => new()
    {
        // C, heads, layers, vocab, untied head, inverse-layer scaling, prompt length
        { 24, 3, 2, 53, false, false, 1 },
        { 37, 1, 1, 301, true, false, 5 },
        { 32, 4, 3, 97, false, true, 11 },
        { 16, 2, 2, 64, true, true, 24 },   // the prompt fills n_positions: prefill only
    };

    [Theory]
    [MemberData(nameof(Configs))]
    public void Cached_logits_match_a_full_rescore(int c, int heads, int layers, int v, bool untied, bool invScale, int promptLen)
    {
        var cfg = Cfg(c, heads, layers, v) with { ScaleAttnByInverseLayerIdx = invScale, TieWordEmbeddings = !untied };
        int seed = Random.Shared.Next();
        CachedMatchesRescore(ModelWeights.Random(cfg, seed, untied), seed, promptLen, $"seed {seed}, prompt {promptLen}");
    }

    /// <summary>Scores a random sequence of the model's full length at every position from the prompt's last on, once
    /// in one pass and once decoding with the cache after a prompt of <paramref name="promptLen"/>; asserts the logits
    /// agree and returns the sequence, positions and full-pass logits.</summary>
    private static (int[] Seq, int[] Positions, float[] Want) CachedMatchesRescore(ModelWeights w, int seed, int promptLen, string what)
    {
        var rng = new Random(seed);
        var seq = Enumerable.Range(0, w.Config.MaxPositions).Select(_ => rng.Next(w.Config.VocabSize)).ToArray();
        using var be = new CpuBackend();
        using var model = new DecoderModel(be, w);
        using var gen = new DecoderModel(be, w);
        var positions = Enumerable.Range(promptLen - 1, seq.Length - promptLen + 1).ToArray();
        var want = model.Logits([seq], [positions]);
        var got = gen.LogitsIncremental(seq, promptLen);
        Assert.Equal(want.Length, got.Length);
        AssertClose(want, got, 2e-4, what);
        return (seq, positions, want);
    }

    public static TheoryData<Architecture, int, int, int, int, bool, int> LlamaConfigs => new()
    {
        // architecture, C, heads, kv heads, head_dim (0: C / heads), biases (attention, mlp where the family has it), prompt length
        { Architecture.Llama, 32, 4, 2, 0, false, 1 },
        { Architecture.Llama, 18, 3, 1, 8, true, 5 },   // multi-query, NH HD != C
        { Architecture.Olmo, 24, 4, 4, 0, true, 7 },    // clip_qkv
        { Architecture.Olmo2, 32, 4, 2, 0, false, 3 },
        { Architecture.Olmo2, 20, 5, 1, 6, true, 24 },  // the prompt fills n_positions: prefill only
        { Architecture.Qwen2, 36, 9, 3, 0, false, 2 },  // q/k/v biases whatever the flag says
        { Architecture.Qwen2, 24, 3, 1, 8, false, 9 },
    };

    /// <summary>The LLaMA family decodes with a cache of the kv heads only; cached logits equal a full rescore.</summary>
    [Theory]
    [MemberData(nameof(LlamaConfigs))]
    public void Llama_family_cached_logits_match_a_full_rescore(Architecture arch, int c, int heads, int kvHeads, int headDim, bool bias, int promptLen)
    {
        var cfg = Cfg(c, heads, 2, 61) with
        {
            Architecture = arch, KvHeads = kvHeads, HeadDim = headDim, Inner = 40, RotaryBase = 500000, TieWordEmbeddings = false,
            AttentionBias = bias, MlpBias = bias && arch == Architecture.Llama, ClipQkv = arch == Architecture.Olmo ? 0.05 : 0, LayerNormEpsilon = 1e-6f,
        };
        cfg.Validate("test");
        int seed = Random.Shared.Next();
        CachedMatchesRescore(ModelWeights.Random(cfg, seed, untiedHead: true), seed, promptLen, $"{arch}, seed {seed}, prompt {promptLen}");
    }

    /// <summary>Scaled rotary (linear; llama3 with all three bands at head_dim 8: wavelengths 6.3, 63, 628 and 6283
    /// against O / high = 16 and O / low = 64) in the decoding path: positions past the prompt turn by the scaled
    /// frequencies too, so cached logits equal a full rescore.</summary>
    [Theory]
    [InlineData(RopeScalingType.Linear, 3)]
    [InlineData(RopeScalingType.Llama3, 1)]
    [InlineData(RopeScalingType.Llama3, 10)]
    public void Scaled_rotary_cached_logits_match_a_full_rescore(RopeScalingType type, int promptLen)
    {
        var scaling = new RopeScaling
        {
            Type = type, Factor = 4, LowFreqFactor = 1, HighFreqFactor = 4, OriginalMaxPositions = type == RopeScalingType.Llama3 ? 64 : 0,
        };
        var cfg = Cfg(32, 4, 2, 61) with
        {
            Architecture = Architecture.Llama, KvHeads = 2, Inner = 40, RotaryBase = 10000, RotaryScaling = scaling,
            TieWordEmbeddings = false, LayerNormEpsilon = 1e-6f,
        };
        cfg.Validate("test");
        int seed = Random.Shared.Next();
        // Sharp attention (q and k weights 40x GPT-2's init scale), so positions, and how they turn, move the logits.
        ModelWeights Weights(ModelConfig c)
        {
            var m = ModelWeights.Random(c, seed, untiedHead: true);
            for (int l = 0; l < c.Layers; l++)
                foreach (var role in new[] { TensorRole.QW, TensorRole.KW })
                {
                    var a = m[role, l];
                    for (int i = 0; i < a.Length; i++) a[i] *= 40;
                }
            return m;
        }
        var (seq, positions, want) = CachedMatchesRescore(Weights(cfg), seed, promptLen, $"{type}, seed {seed}, prompt {promptLen}");

        // The scaling is really applied, and by far more than the tolerance: the same weights without it differ.
        using var be = new CpuBackend();
        using var plain = new DecoderModel(be, Weights(cfg with { RotaryScaling = null }));
        var unscaled = plain.Logits([seq], [positions]);
        double moved = want.Zip(unscaled).Max(p => Math.Abs(p.First - p.Second));
        Assert.True(moved > 1e-2, $"scaled and unscaled rotary gave the same logits (max difference {moved:E2})");
    }

    [Fact]
    public void Greedy_is_deterministic_and_follows_the_arg_max_of_a_full_rescore()
    {
        var cfg = Cfg();
        int seed = Random.Shared.Next();
        var w = ModelWeights.Random(cfg, seed);
        var rng = new Random(seed);
        var prompts = new[] { 3, 3, 7, 1 }.Select(n => Enumerable.Range(0, n).Select(_ => rng.Next(cfg.VocabSize)).ToArray()).ToArray();
        using var be = new CpuBackend();
        using var model = new DecoderModel(be, w);
        using var gen = new DecoderModel(be, w);
        var o = new GenerationOptions { Temperature = 0, MaxTokens = 12, Seed = 1 };
        var a = gen.Generate(prompts, o);
        var b = gen.Generate(prompts, o with { Seed = 999, MaxBatch = 1 });
        for (int i = 0; i < prompts.Length; i++)
        {
            Assert.Equal(a[i], b[i]);
            Assert.Equal(12, a[i].Length);
            // Each greedy token is (within float noise) the most likely next token when the text so far is re-scored.
            var text = prompts[i].Concat(a[i]).ToArray();
            var pos = Enumerable.Range(prompts[i].Length - 1, a[i].Length).ToArray();
            var logits = model.Logits([text], [pos]);
            for (int k = 0; k < pos.Length; k++)
            {
                var row = logits.AsSpan(k * cfg.VocabSize, cfg.VocabSize);
                float max = float.NegativeInfinity;
                foreach (float z in row) max = Math.Max(max, z);
                Assert.True(row[a[i][k]] >= max - 1e-4f, $"seed {seed} prompt {i} step {k}: token {a[i][k]} has logit {row[a[i][k]]}, max {max}");
            }
        }
    }

    [Fact]
    public void Seeded_sampling_is_reproducible_and_independent_of_batching()
    {
        var cfg = Cfg(v: 211);
        var w = ModelWeights.Random(cfg, 17);
        var rng = new Random(Random.Shared.Next());
        var prompts = new[] { 4, 4, 4, 2, 6 }.Select(n => Enumerable.Range(0, n).Select(_ => rng.Next(cfg.VocabSize)).ToArray()).ToArray();
        using var be = new CpuBackend();
        using var gen = new DecoderModel(be, w);
        var o = new GenerationOptions { Temperature = 1.0, MaxTokens = 15, Seed = 42 };
        var a = gen.Generate(prompts, o);
        var b = gen.Generate(prompts, o with { MaxBatch = 2 });
        var c = gen.Generate(prompts, o with { Seed = 43 });
        for (int i = 0; i < prompts.Length; i++) Assert.Equal(a[i], b[i]);
        // With 211 near-uniform choices per step, two seeds agreeing on 75 tokens would be a broken seed.
        Assert.NotEqual(a.SelectMany(x => x), c.SelectMany(x => x));
        // Identical prompts in one batch still draw from their own streams.
        Assert.NotEqual(a[0], a[1]);
    }

    [Fact]
    public void Generation_stops_at_n_positions_and_at_the_stop_token()
    {
        var cfg = Cfg(p: 10);
        var w = ModelWeights.Random(cfg, 5);
        using var be = new CpuBackend();
        using var gen = new DecoderModel(be, w);
        var prompt = new[] { 1, 2, 3, 4, 5, 6, 7, 8 };
        var o = new GenerationOptions { Temperature = 0, MaxTokens = 10 };
        // 8 prompt tokens leave room to feed one more: two new tokens, the last one never fed back.
        Assert.Equal(3, gen.Generate([prompt], o)[0].Length);
        var free = gen.Generate([[1]], o with { MaxTokens = 9 })[0];
        int stop = free[4];
        var stopped = gen.Generate([[1]], o with { MaxTokens = 9, StopToken = stop })[0];
        Assert.Equal(free.Take(Array.IndexOf(free, stop) + 1), stopped);
        Assert.Empty(gen.Generate([[1]], o with { MaxTokens = 0 })[0]);
    }

    [Fact]
    public void Bad_input_is_a_user_error()
    {
        var cfg = Cfg(p: 10);
        var w = ModelWeights.Random(cfg, 5);
        using var be = new CpuBackend();
        using var gen = new DecoderModel(be, w);
        var o = new GenerationOptions();
        Assert.Throws<UserError>(() => gen.Generate([[1, cfg.VocabSize]], o));
        Assert.Throws<UserError>(() => gen.Generate([[]], o));
        Assert.Throws<UserError>(() => gen.Generate([new int[11]], o));
        Assert.Throws<UserError>(() => gen.Generate([[1]], o with { Temperature = -0.1 }));
        Assert.Throws<UserError>(() => gen.Generate([[1]], o with { Temperature = double.NaN }));
    }

    [Fact]
    public void Temperature_reshapes_p_to_the_power_one_over_t()
    {
        float[] logits = [1.0f, 2.0f, 0.5f, 2.0f - 1e-3f, -1f];
        var p1 = Sampling.Distribution(logits, 1.0);
        foreach (double t in new[] { 0.3, 1.0, 2.5 })
        {
            var pt = Sampling.Distribution(logits, t);
            double norm = p1.Sum(p => Math.Pow(p, 1 / t));
            for (int i = 0; i < logits.Length; i++) Assert.Equal(Math.Pow(p1[i], 1 / t) / norm, pt[i], 12);
        }

        // Empirical frequencies of Sample follow the distribution (20k draws: 4.5 SD bound per cell).
        var scratch = new double[logits.Length];
        foreach (double t in new[] { 0.3, 2.5 })
        {
            var p = Sampling.Distribution(logits, t);
            var rng = new Random(Random.Shared.Next());
            var counts = new int[logits.Length];
            const int draws = 20000;
            for (int d = 0; d < draws; d++) counts[Sampling.Sample(logits, t, rng, scratch)]++;
            for (int i = 0; i < logits.Length; i++)
            {
                double sd = Math.Sqrt(draws * p[i] * (1 - p[i]));
                Assert.True(Math.Abs(counts[i] - draws * p[i]) <= 4.5 * sd + 1,
                    $"T={t} token {i}: {counts[i]} draws, expected {draws * p[i]:F1} +- {sd:F1}");
            }
        }

        // T = 0 is the arg max, first on ties; a very small T approaches it.
        Assert.Equal(1, Sampling.Sample([0f, 3f, 3f], 0, new Random(1), new double[3]));
        Assert.Equal(1, Sampling.Sample(logits, 1e-6, new Random(2), scratch));
    }

    private static void AssertClose(ReadOnlySpan<float> want, ReadOnlySpan<float> got, double tol, string what)
    {
        double maxDiff = 0;
        int first = -1;
        for (int i = 0; i < want.Length; i++)
        {
            double d = Math.Abs(want[i] - got[i]);
            if (d > tol * (1 + Math.Abs(want[i])) && first < 0) first = i;
            maxDiff = Math.Max(maxDiff, d);
        }
        Assert.True(first < 0, $"{what}: first mismatch at {first}: want {(first >= 0 ? want[first] : 0)} got {(first >= 0 ? got[first] : 0)}; max diff {maxDiff:G3}");
    }
}

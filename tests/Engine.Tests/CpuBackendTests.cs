using LearningCurves.Engine.Backends;
using LearningCurves.Engine.Model;
using Xunit;
using LearningCurves.Formats;

namespace LearningCurves.Engine.Tests;

/// <summary>The CPU backend's forward pass against a naive float64 GPT-2 written out loop by loop in this file.</summary>
public class CpuBackendTests
{
    private static ModelConfig Tiny(int c = 24, int heads = 3, int layers = 2, int v = 53, int p = 16) =>
        new() { VocabSize = v, MaxPositions = p, Embd = c, Layers = layers, Heads = heads };

    public static TheoryData<int, int, int, int, bool, bool, int> Configs => new()
    {
        // C, heads, layers, vocab, untied head, inverse-layer scaling, n_inner
        { 24, 3, 2, 53, false, false, 0 },
        { 37, 1, 1, 2049, true, false, 0 },   // odd width; vocab one past a head chunk
        { 32, 4, 3, 300, false, true, 48 },   // n_inner set, scale_attn_by_inverse_layer_idx
        { 8, 2, 1, 5000, true, true, 0 },     // several head chunks with a remainder
    };

    [Theory]
    [MemberData(nameof(Configs))]
    public void Score_matches_a_naive_float64_forward(int c, int heads, int layers, int v, bool untied, bool invScale, int inner)
    {
        var cfg = Tiny(c, heads, layers, v) with { ScaleAttnByInverseLayerIdx = invScale, Inner = inner, TieWordEmbeddings = !untied };
        int seed = Random.Shared.Next();
        var w = ModelWeights.Random(cfg, seed, untied);
        var rng = new Random(seed);
        var seqs = new List<int[]>();
        foreach (int len in new[] { 1, 2, 7, cfg.MaxPositions, 5 })
            seqs.Add(Enumerable.Range(0, len).Select(_ => rng.Next(v)).ToArray());
        var positions = seqs.Select(s => Enumerable.Range(1, s.Length - 1).Where(_ => rng.NextDouble() < 0.8).ToArray()).ToList();

        using var be = new CpuBackend();
        using var model = new DecoderModel(be, w);
        var got = model.Score(seqs, positions);

        var want = new List<double>();
        for (int s = 0; s < seqs.Count; s++)
        {
            var logits = LearningCurves.Tests.Common.NaiveGpt2.Logits(w, seqs[s]);
            foreach (int p in positions[s])
            {
                var z = logits[p - 1];
                double max = z.Max();
                double lse = max + Math.Log(z.Sum(x => Math.Exp(x - max)));
                want.Add((lse - z[seqs[s][p]]) / Math.Log(2));
            }
        }
        AssertClose(want, got, 1e-4, $"seed {seed}");

        // The same sequences scored again (activations reused) and one at a time give the same numbers.
        Assert.Equal(got, model.Score(seqs, positions));
        var one = model.Score([seqs[2]], [positions[2]]);
        int offset = positions[0].Length + positions[1].Length;
        AssertClose(got.Skip(offset).Take(one.Length).Select(x => (double)x).ToList(), one, 1e-5, "batch vs single");
    }

    [Fact]
    public void Logits_match_the_naive_forward()
    {
        var cfg = Tiny();
        var w = ModelWeights.Random(cfg, 7);
        var seq = new[] { 1, 5, 9, 2, 0, 52 };
        using var be = new CpuBackend();
        using var model = new DecoderModel(be, w);
        var got = model.Logits([seq], [[0, 3, 5]]);
        var naive = LearningCurves.Tests.Common.NaiveGpt2.Logits(w, seq);
        var want = new[] { 0, 3, 5 }.SelectMany(p => naive[p]).ToList();
        AssertClose(want, got, 1e-5, "logits");
    }

    [Fact]
    public void Bad_ids_lengths_and_positions_are_user_errors()
    {
        using var be = new CpuBackend();
        using var model = new DecoderModel(be, ModelWeights.Random(Tiny(), 1));
        Assert.Contains("outside the vocabulary", Assert.Throws<UserError>(() => model.Score([[1, 53]], [[1]])).Message);
        Assert.Contains("n_positions", Assert.Throws<UserError>(() => model.Score([new int[17]], [[1]])).Message);
        Assert.Throws<UserError>(() => model.Score([[1, 2]], [[2]]));
        Assert.Throws<UserError>(() => model.Score([[1, 2]], [[0]]));
        Assert.Throws<UserError>(() => model.Score([Array.Empty<int>()], [Array.Empty<int>()]));
    }

    [Fact]
    public void Cached_attention_equals_full_attention()
    {
        int b = 2, t = 9, c = 12, heads = 3, maxT = 11;
        var rng = new Random(3);
        var qkv = Enumerable.Range(0, b * t * 3 * c).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        var full = new float[b * t * c];
        CpuOps.Attention(full, qkv, b, t, c, heads, 0.4f);
        var k = new float[b * maxT * c];
        var v = new float[b * maxT * c];
        var got = new float[b * t * c];
        // First 4 tokens at once, then one at a time.
        foreach (var (start, len) in new[] { (0, 4), (4, 1), (5, 1), (6, 3) })
        {
            var part = new float[b * len * 3 * c];
            for (int bi = 0; bi < b; bi++)
                Array.Copy(qkv, (bi * t + start) * 3 * c, part, bi * len * 3 * c, len * 3 * c);
            var o = new float[b * len * c];
            CpuOps.AttentionCached(o, part, k, v, b, len, start, maxT, c, heads, 0.4f);
            for (int bi = 0; bi < b; bi++)
                Array.Copy(o, bi * len * c, got, (bi * t + start) * c, len * c);
        }
        AssertClose(full.Select(x => (double)x).ToList(), got, 1e-6, "cached attention");
    }

    [Fact]
    public void Bf16_rounding_is_nearest_even()
    {
        var x = new[] { 1f, 1.00390625f, 1.01171875f, -3.14159f, 0f };
        CpuOps.RoundToBf16(x);
        Assert.Equal(1f, x[0]);
        Assert.Equal(1f, x[1]);            // halfway between 1 and 1.0078125: ties to even
        Assert.Equal(1.015625f, x[2]);     // halfway, rounds up to the even neighbour
        Assert.Equal(-3.140625f, x[3]);
        Assert.Equal(0f, x[4]);
    }

    internal static void AssertClose(IReadOnlyList<double> want, IReadOnlyList<float> got, double tol, string what)
    {
        Assert.Equal(want.Count, got.Count);
        double maxDiff = 0;
        var bad = new List<string>();
        for (int i = 0; i < want.Count; i++)
        {
            double d = Math.Abs(want[i] - got[i]);
            double scale = Math.Max(1, Math.Abs(want[i]));
            maxDiff = Math.Max(maxDiff, d);
            if (!(d <= tol * scale) && bad.Count < 5) bad.Add($"[{i}] want {want[i]:R} got {got[i]:R}");
        }
        Assert.True(bad.Count == 0, $"{what}: max diff {maxDiff:E3}; first bad: {string.Join("; ", bad)}");
    }
}

using LearningCurves.Engine.Backends;
using LearningCurves.Engine.Model;
using Xunit;
using static LearningCurves.Kernels.Tests.EmuTestUtil;

namespace LearningCurves.Kernels.Tests;

/// <summary>The whole GPT-2 forward pass (Gpt2Model) on the emulated kernels (EmuBackend) against the CPU backend.</summary>
public class EmuForwardTests
{
    public EmuForwardTests()
    {
        EmuLibrary.Require();
        Assert.SkipUnless(Blas.IsAvailable, "OpenBLAS is not installed: the CPU backend (the reference) cannot run");
    }

    public static TheoryData<int, int, int, int, bool, bool, int> Configs => new()
    {
        // C, heads, layers, vocab, untied head, inverse-layer scaling, n_inner
        { 24, 3, 2, 53, false, false, 0 },
        { 37, 1, 1, 300, true, false, 0 },    // odd width, head size 37
        { 32, 4, 3, 300, false, true, 48 },   // n_inner set, scale_attn_by_inverse_layer_idx
        { 16, 2, 1, 700, true, true, 0 },     // several head chunks with a remainder
    };

    private static (Gpt2Weights W, List<int[]> Seqs, List<int[]> Pos, int Seed) Case(int c, int heads, int layers, int v,
        bool untied, bool invScale, int inner, int maxPos = 40)
    {
        var cfg = new Gpt2Config
        {
            VocabSize = v, MaxPositions = maxPos, Embd = c, Layers = layers, Heads = heads,
            ScaleAttnByInverseLayerIdx = invScale, Inner = inner, TieWordEmbeddings = !untied,
        };
        int seed = NewSeed();
        var w = Gpt2Weights.Random(cfg, seed, untied);
        var rng = new Random(seed);
        var seqs = new[] { 1, 2, 33, maxPos, 9 }.Select(len => Ints(rng, len, v)).ToList();
        var pos = seqs.Select(s => Enumerable.Range(1, s.Length - 1).Where(_ => rng.NextDouble() < 0.7).ToArray()).ToList();
        return (w, seqs, pos, seed);
    }

    [Theory]
    [MemberData(nameof(Configs))]
    public void Surprisal_matches_the_cpu_backend(int c, int heads, int layers, int v, bool untied, bool invScale, int inner)
    {
        var (w, seqs, pos, seed) = Case(c, heads, layers, v, untied, invScale, inner);
        using var cpu = new CpuBackend();
        using var cpuModel = new Gpt2Model(cpu, w);
        var want = cpuModel.Score(seqs, pos);
        foreach (bool fused in new[] { true, false })
        {
            using var emu = new EmuBackend(fusedAttention: fused);
            using var model = new Gpt2Model(emu, w);
            var got = model.Score(seqs, pos);
            AssertClose(want, got, 1e-4, 0, $"surprisal bits, {(fused ? "fused" : "unfused")} attention, seed {seed}");
        }
    }

    [Fact]
    public void Logits_match_the_cpu_backend()
    {
        var (w, seqs, _, seed) = Case(24, 3, 2, 131, true, false, 0);
        var at = seqs.Select(s => new[] { 0, s.Length - 1 }.Distinct().ToArray()).ToList();
        using var cpu = new CpuBackend();
        using var cpuModel = new Gpt2Model(cpu, w);
        using var emu = new EmuBackend();
        using var model = new Gpt2Model(emu, w);
        AssertClose(cpuModel.Logits(seqs, at), model.Logits(seqs, at), 2e-5, 1e-4, $"logits seed {seed}");
    }

    [Fact]
    public void Bf16_weights_match_the_cpu_backends_bf16_model()
    {
        var (w, seqs, pos, seed) = Case(32, 2, 2, 257, false, false, 0);
        using var cpu = new CpuBackend(Precision.Bf16);
        using var cpuModel = new Gpt2Model(cpu, w);
        using var emu = new EmuBackend(Precision.Bf16);
        using var model = new Gpt2Model(emu, w);
        AssertClose(cpuModel.Score(seqs, pos), model.Score(seqs, pos), 1e-4, 0, $"bf16 surprisal bits, seed {seed}");
    }

    [Fact]
    public void Cached_decoding_matches_full_attention()
    {
        // Feeding a sequence in pieces through AttentionCached gives the same rows as Attention over all of it.
        int seed = NewSeed(), b = 2, t = 23, heads = 3, hs = 11, c = heads * hs, maxT = 30;
        var rng = new Random(seed);
        var qkv = Normal(rng, b * t * 3 * c);
        using var emu = new EmuBackend();
        using var full = emu.Allocate(b * t * c, DType.F32);
        using var src = emu.Upload(qkv);
        float scale = 1f / MathF.Sqrt(hs);
        emu.Attention(full, src, b, t, c, heads, scale);
        var want = new float[b * t * c];
        emu.Download(full, want);

        using var kc = emu.Allocate(b * maxT * c, DType.F32);
        using var vc = emu.Allocate(b * maxT * c, DType.F32);
        var got = new float[b * t * c];
        int past = 0;
        foreach (int step in new[] { 7, 1, 1, 14 })
        {
            var part = new float[b * step * 3 * c];
            for (int bi = 0; bi < b; bi++)
                qkv.AsSpan((bi * t + past) * 3 * c, step * 3 * c).CopyTo(part.AsSpan(bi * step * 3 * c));
            using var pin = emu.Upload(part);
            using var pout = emu.Allocate(b * step * c, DType.F32);
            emu.AttentionCached(pout, pin, kc, vc, b, step, past, maxT, c, heads, scale);
            var o = new float[b * step * c];
            emu.Download(pout, o);
            for (int bi = 0; bi < b; bi++)
                o.AsSpan(bi * step * c, step * c).CopyTo(got.AsSpan((bi * t + past) * c));
            past += step;
        }
        AssertClose(want, got, 2e-6, 2e-5, $"cached vs full attention, seed {seed}");
    }
}

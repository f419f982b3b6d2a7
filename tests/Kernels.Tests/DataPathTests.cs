using LearningCurves.Engine.Backends;
using LearningCurves.Engine.Model;
using Xunit;
using static LearningCurves.Kernels.Tests.GpuTestSupport;

namespace LearningCurves.Kernels.Tests;

/// <summary>
/// The bf16 data path of issue 21 on every backend (the CPU, and the CUDA backend: a GPU, or the software GPU in CI):
/// typed buffers and their checks, the product epilogues and output types, the fused residual + layer norm, the bf16
/// element-wise kernels, the padded head and the last layer run only at the scored rows. Each op against CpuOps on
/// seeded random inputs with sizes that hit every remainder, outputs poisoned with NaN first.
/// </summary>
[Trait("Category", "Gpu")]
[Collection("GPU")]
public class DataPathTests(ITestOutputHelper output)
{
    private static IBackend Make(string backend, Precision p) => backend == "cpu" ? new CpuBackend(p) : Open(p);

    /// <summary>Tolerance of a value the backend rounded to bf16 from an fp32 result that may differ from the CPU's in
    /// its last bits: one bf16 step (2^-8 relative) either way.</summary>
    private const double Bf16Step = 1.0 / 128;

    private static float[] Rounded(float[] x, DType t)
    {
        var r = x.ToArray();
        if (t == DType.Bf16) CpuOps.RoundToBf16(r);
        return r;
    }

    private static IDeviceBuffer Put(IBackend be, float[] x, DType t)
    {
        var d = be.Allocate(x.Length, t);
        be.Write(d, x);
        return d;
    }

    [Theory]
    [InlineData("cpu")]
    [InlineData("cuda")]
    public void Every_op_checks_its_types_and_names_both(string backend)
    {
        using var be = Make(backend, Precision.Bf16);
        using var f = be.Allocate(64, DType.F32);
        using var h = be.Allocate(64, DType.Bf16);
        using var i = be.Allocate(64, DType.I32);
        using var w = be.UploadWeight(new float[64]);
        Assert.Equal(DType.Bf16, w.Type);
        Assert.Equal(DType.F32, f.Type);
        Assert.Equal(DType.I32, i.Type);
        void Refused(Action a, params string[] words)
        {
            var e = Assert.Throws<ArgumentException>(a);
            foreach (var word in words) Assert.Contains(word, e.Message, StringComparison.Ordinal);
        }
        // bf16 mode: a product's input must be bf16, a BiasResidual output fp32.
        Refused(() => be.MatMul(f, f, w, null, 8, 8, 8, MatMulEpilogue.None), "Bf16", "F32");
        Refused(() => be.MatMul(h, h, w, f, 8, 8, 8, MatMulEpilogue.BiasResidual), "F32", "Bf16");
        Refused(() => be.MatMul(i, h, w, null, 8, 8, 8, MatMulEpilogue.None), "I32");
        Refused(() => be.LayerNorm(i, f, f, f, 2, 32, 1e-5f), "I32");
        Refused(() => be.LayerNorm(h, h, f, f, 2, 32, 1e-5f), "F32", "Bf16");
        Refused(() => be.ResidualLayerNorm(h, h, f, f, f, f, 2, 32, 1e-5f), "F32", "Bf16");
        Refused(() => be.GatherRows(f, h, i, 1, 8), "Bf16", "F32");
        Refused(() => be.Surprisal(f, f, w, i, 1, 8, 8, 8), "Bf16", "F32");
        Refused(() => be.Surprisal(f, h, w, i, 1, 8, 8, 7), "fewer");
        Refused(() => be.Write(i, new float[3]), "I32");
        Refused(() => be.Download(i, new float[3]), "I32");
        Refused(() => be.Add(h, f, 8), "F32", "Bf16");
    }

    [Theory]
    [InlineData("cpu", Precision.Fp32, 1, 1, 1)]
    [InlineData("cpu", Precision.Bf16, 37, 65, 129)]
    [InlineData("cuda", Precision.Fp32, 1, 1, 1)]
    [InlineData("cuda", Precision.Fp32, 130, 33, 65)]
    [InlineData("cuda", Precision.Tf32, 37, 64, 100)]
    [InlineData("cuda", Precision.Bf16, 1, 3, 5)]
    [InlineData("cuda", Precision.Bf16, 77, 96, 257)]
    [InlineData("cuda", Precision.Fp32, 130, 33, 65, false)] // the cublasGemmEx fallback (no libcublasLt)
    [InlineData("cuda", Precision.Bf16, 77, 96, 257, false)]
    public void Matmul_every_epilogue_and_output_type(string backend, Precision p, int rows, int inDim, int outDim, bool cublasLt = true)
    {
        using var be = Make(backend, p);
        if (be is CudaBackend cuda)
        {
            cuda.UseCublasLt = cublasLt;
            Assert.Equal(cublasLt, cuda.CublasLtActive); // the software GPU ships the cuBLASLt shim
        }
        int seed = Random.Shared.Next();
        var rng = new Random(seed);
        var inType = DTypes.GemmInput(p);
        var x = Rounded(Normal(rng, (long)rows * inDim), inType);
        var w = Normal(rng, (long)inDim * outDim, 0.1f);
        var wCpu = Rounded(w, inType);
        var bias = Normal(rng, outDim);
        var resid = Normal(rng, (long)rows * outDim);
        using var dx = Put(be, x, inType);
        using var dw = be.UploadWeight(w);
        using var db = be.Upload(bias);
        using var dbBf16 = Put(be, Rounded(bias, DType.Bf16), DType.Bf16); // a bf16 output's bias is bf16
        double tol = p switch { Precision.Fp32 => 1e-5, Precision.Tf32 => 3e-2, _ => 1e-4 };
        int n = rows * outDim;
        foreach (var epi in Enum.GetValues<MatMulEpilogue>())
        {
            foreach (var outType in new[] { DType.F32, DType.Bf16 })
            {
                if (outType == DType.Bf16 && (epi == MatMulEpilogue.BiasResidual || inType != DType.Bf16))
                {
                    // A bf16 output only from bf16 operands (fp32 and tf32 stay fp32 everywhere), never for BiasResidual.
                    using var refused = be.Allocate(n, DType.Bf16);
                    Assert.Throws<ArgumentException>(() => be.MatMul(refused, dx, dw, db, rows, inDim, outDim, epi == MatMulEpilogue.None ? MatMulEpilogue.Bias : epi));
                    continue;
                }
                var want = new float[n];
                var biasUsed = outType == DType.Bf16 ? Rounded(bias, DType.Bf16) : bias;
                CpuOps.MatMul(want, x, wCpu, epi == MatMulEpilogue.None ? default : biasUsed, rows, inDim, outDim);
                if (epi == MatMulEpilogue.BiasGelu) CpuOps.Gelu(want);
                if (epi == MatMulEpilogue.BiasResidual) CpuOps.Add(want, resid);
                want = Rounded(want, outType);
                using var o = Poisoned(be, n, outType);
                if (epi == MatMulEpilogue.BiasResidual) be.Write(o, resid);
                be.MatMul(o, dx, dw, epi == MatMulEpilogue.None ? null : outType == DType.Bf16 ? dbBf16 : db, rows, inDim, outDim, epi);
                if (epi != MatMulEpilogue.None && outType == DType.Bf16)
                    Assert.Throws<ArgumentException>(() => be.MatMul(o, dx, dw, db, rows, inDim, outDim, epi)); // an F32 bias for a bf16 output
                Assert.Equal(outType, o.Type);
                double rtol = outType == DType.Bf16 ? Bf16Step : tol;
                AssertClose(want, Get(be, o, n), tol, rtol, $"{backend} {p} {epi} -> {outType}, seed {seed}");
            }
        }
    }

    [Theory]
    [InlineData("cpu", 1, 1, DType.F32)]
    [InlineData("cpu", 37, 96, DType.Bf16)]
    [InlineData("cuda", 1, 1, DType.F32)]
    [InlineData("cuda", 3, 31, DType.Bf16)]
    [InlineData("cuda", 129, 768, DType.F32)]
    [InlineData("cuda", 65, 100, DType.Bf16)]
    public void Fused_residual_layernorm_writes_both(string backend, int rows, int c, DType normType)
    {
        using var be = Make(backend, normType == DType.Bf16 ? Precision.Bf16 : Precision.Fp32);
        int seed = Random.Shared.Next();
        var rng = new Random(seed);
        long n = (long)rows * c;
        var x = Normal(rng, n, 3f);
        var y = Normal(rng, n);
        var bias = Normal(rng, c);
        var lw = Normal(rng, c);
        var lb = Normal(rng, c);
        var wantX = x.ToArray();
        CpuOps.AddBias(wantX, y, bias, rows, c);
        var wantNorm = new float[n];
        CpuOps.LayerNorm(wantNorm, wantX, lw, lb, rows, c, 1e-5f);
        wantNorm = Rounded(wantNorm, normType);
        using var dx = be.Upload(x);
        using var dy = be.Upload(y);
        using var db = be.Upload(bias);
        using var dlw = be.Upload(lw);
        using var dlb = be.Upload(lb);
        using var norm = Poisoned(be, n, normType);
        be.ResidualLayerNorm(dx, norm, dy, db, dlw, dlb, rows, c, 1e-5f);
        // x + (y + bias): the same two fp32 additions on every backend.
        AssertClose(wantX, Get(be, dx, n), 0, 0, $"{backend} residual, seed {seed}");
        AssertClose(wantNorm, Get(be, norm, n), 1e-5, normType == DType.Bf16 ? Bf16Step : 1e-5, $"{backend} norm {normType}, seed {seed}");

        // The plain layer norm into the same output type.
        using var norm2 = Poisoned(be, n, normType);
        be.LayerNorm(norm2, dx, dlw, dlb, rows, c, 1e-5f);
        AssertClose(wantNorm, Get(be, norm2, n), 1e-5, normType == DType.Bf16 ? Bf16Step : 1e-5, $"{backend} layernorm {normType}, seed {seed}");
    }

    [Theory]
    [InlineData("cpu", 2, 37, 96, 3, 8, 5)]
    [InlineData("cuda", 1, 1, 8, 2, 4, 0)]
    [InlineData("cuda", 2, 37, 96, 3, 8, 5)]
    [InlineData("cuda", 3, 19, 64, 4, 16, 2040)]
    public void Bf16_elementwise_ops_round_once(string backend, int b, int t, int c, int heads, int r, int past)
    {
        using var be = Make(backend, Precision.Bf16);
        int seed = Random.Shared.Next();
        var rng = new Random(seed);
        // Rotary on a bf16 qkv: widened, turned in fp32, rounded.
        var qkv = Rounded(Normal(rng, (long)b * t * 3 * c), DType.Bf16);
        var want = qkv.ToArray();
        CpuOps.Rotary(want, b, t, c, heads, r, 10000, past);
        want = Rounded(want, DType.Bf16);
        using var dq = Put(be, qkv, DType.Bf16);
        be.Rotary(dq, b, t, c, heads, r, 10000, past);
        AssertClose(want, Get(be, dq, qkv.Length), 1e-6, Bf16Step, $"{backend} rotary bf16, seed {seed}");

        // Exact GELU on bf16, n short of the buffer: the last value stays.
        var x = Rounded(Normal(rng, (long)b * t * c + 1, 4f), DType.Bf16);
        var wantG = x.ToArray();
        CpuOps.GeluErf(wantG.AsSpan(0, x.Length - 1));
        wantG = Rounded(wantG, DType.Bf16);
        using var dg = Put(be, x, DType.Bf16);
        be.GeluErf(dg, x.Length - 1);
        AssertClose(wantG, Get(be, dg, x.Length), 1e-6, Bf16Step, $"{backend} gelu erf bf16, seed {seed}");

        // Gathering bf16 rows copies exactly.
        int count = Math.Max(1, b * t / 3);
        var rows = Enumerable.Range(0, count).Select(_ => rng.Next(b * t)).ToArray();
        using var dRows = be.Allocate(count, DType.I32);
        be.Write(dRows, rows);
        using var picked = Poisoned(be, (long)count * c, DType.Bf16);
        be.GatherRows(picked, dg, dRows, count, c);
        var wantP = new float[(long)count * c];
        CpuOps.GatherRows(wantP, Get(be, dg, x.Length), rows, count, c);
        AssertClose(wantP, Get(be, picked, wantP.Length), 0, 0, $"{backend} gather bf16, seed {seed}");
    }

    [Theory]
    [InlineData("cpu", Precision.Fp32, 5, 16, 1001, 0L)]
    [InlineData("cuda", Precision.Fp32, 1, 7, 5, 0L)]
    [InlineData("cuda", Precision.Fp32, 37, 64, 1001, 0L)]
    [InlineData("cuda", Precision.Fp32, 37, 64, 5003, 40_000L)]    // several chunks, the last one short and padded
    [InlineData("cuda", Precision.Bf16, 13, 48, 5003, 20_000L)]
    public void The_padded_head_gives_the_unpadded_surprisals(string backend, Precision p, int m, int c, int v, long chunkBytes)
    {
        using var be = Make(backend, p);
        if (chunkBytes > 0 && be is CudaBackend cuda) cuda.HeadChunkBytes = chunkBytes;
        int seed = Random.Shared.Next();
        var rng = new Random(seed);
        var inType = DTypes.GemmInput(p);
        var hidden = Rounded(Normal(rng, (long)m * c), inType);
        var head = Normal(rng, (long)v * c, 0.3f);
        var targets = Enumerable.Range(0, m).Select(i => i == 0 ? v - 1 : rng.Next(v)).ToArray();
        var want = new float[m];
        CpuOps.Surprisal(want, hidden, Rounded(head, inType), targets, m, c, v);
        using var dh = Put(be, hidden, inType);
        using var dt = be.Allocate(m, DType.I32);
        be.Write(dt, targets);
        foreach (int multiple in new[] { 1, 128, 1024 })
        {
            int rows = DecoderModel.PaddedVocab(v, multiple);
            var padded = new float[(long)rows * c];
            head.CopyTo(padded, 0);
            using var dw = be.UploadWeight(padded);
            using var o = Poisoned(be, m);
            be.Surprisal(o, dh, dw, dt, m, c, v, rows);
            AssertClose(want, Get(be, o, m), p == Precision.Fp32 ? 1e-4 : 1e-3, 0, $"{backend} {p} head rows {rows}, seed {seed}");
        }
    }

    [Theory]
    [InlineData("cpu", Precision.Fp32, false)]
    [InlineData("cpu", Precision.Bf16, true)]
    [InlineData("cuda", Precision.Fp32, false)]
    [InlineData("cuda", Precision.Fp32, true)]
    [InlineData("cuda", Precision.Bf16, false)]
    [InlineData("cuda", Precision.Bf16, true)]
    public void The_last_layer_at_the_scored_rows_matches_the_full_computation(string backend, Precision p, bool neox)
    {
        using var be = Make(backend, p);
        int seed = Random.Shared.Next();
        var rng = new Random(seed);
        var cfg = neox
            ? new ModelConfig { Architecture = Architecture.GptNeoX, VocabSize = 301, MaxPositions = 40, Embd = 48, Layers = 2, Heads = 3, RotaryPct = 0.5, ParallelResidual = true, Gelu = GeluKind.Erf, TieWordEmbeddings = false }
            : new ModelConfig { VocabSize = 300, MaxPositions = 40, Embd = 40, Layers = 3, Heads = 5 };
        var w = ModelWeights.Random(cfg, seed, untiedHead: neox);
        var seqs = new[] { 33, 1, 40, 17 }.Select(n => Enumerable.Range(0, n).Select(_ => rng.Next(cfg.VocabSize)).ToArray()).ToArray();
        // A few scored positions per sequence (the paper's 10 of 128), some repeated; the full computation scores all.
        var picked = seqs.Select(s => s.Length < 2 ? Array.Empty<int>() : Enumerable.Range(0, 4).Select(_ => 1 + rng.Next(s.Length - 1)).ToArray()).ToArray();
        // Several head rows multiples too: surprisals must not depend on the padding.
        foreach (int multiple in new[] { 1, 128 })
        {
            using var model = new DecoderModel(be, w, multiple);
            var all = model.ScoreAll(seqs);
            var few = model.Score(seqs, picked);
            var want = picked.SelectMany((ps, s) => ps.Select(pp => all[s][pp - 1])).ToArray();
            // fp32: the same arithmetic on fewer rows (a product on M rows may sum in another order); bf16: those
            // last-bit differences may flip a bf16 rounding.
            AssertClose(want, few, p == Precision.Fp32 ? 1e-5 : 2e-2, 0, $"{backend} {p} neox {neox} multiple {multiple}, seed {seed}");
        }
    }

    [Fact]
    public void A_bf16_forward_pass_launches_no_conversion_kernel()
    {
        using var be = Open(Precision.Bf16);
        var cfg = new ModelConfig { VocabSize = 300, MaxPositions = 32, Embd = 64, Layers = 2, Heads = 2 };
        var w = ModelWeights.Random(cfg, 5);
        var seqs = new[] { Enumerable.Range(0, 32).Select(i => i * 7 % 300).ToArray(), Enumerable.Range(0, 32).Select(i => i * 11 % 300).ToArray() };
        var pos = new[] { new[] { 5, 31 }, new[] { 9 } };
        using var model = new DecoderModel(be, w);
        model.Score(seqs, pos); // activations made, scratch grown
        be.StartProfile();
        model.Score(seqs, pos);
        var table = be.StopProfile();
        foreach (var r in table) output.WriteLine($"{r.Name,-50} {r.Calls,4}");
        // The bf16 attention stand-in (replaced by the attn branch's kernels) is timed under its own name.
        Assert.DoesNotContain(table, r => r.Name.StartsWith("convert_", StringComparison.Ordinal));
        Assert.Contains(table, r => r.Name == "fused_residual_layernorm_bf16" && r.Calls == 2 * cfg.Layers);
        Assert.Contains(table, r => r.Name == "layernorm_forward_bf16" && r.Calls == 1);
        if (be.CublasLtActive)
        {
            // cuBLASLt applies the bias and bias+GELU epilogues: no epilogue kernel; 4 products a layer and the head.
            Assert.DoesNotContain(table, r => r.Name.StartsWith("epilogue_", StringComparison.Ordinal));
            Assert.Contains(table, r => r.Name == "gemm bf16 (cublasLt)" && r.Calls == 4 * cfg.Layers + 1);
        }
        else Assert.Contains(table, r => r.Name == "epilogue_bias_gelu_bf16" && r.Calls == cfg.Layers);
    }

    [Theory]
    [InlineData(Precision.Fp32, false)]
    [InlineData(Precision.Bf16, false)]
    [InlineData(Precision.Bf16, true)]
    public void Batch_sizing_counts_exactly_what_scoring_allocates(Precision p, bool parallelResidual)
    {
        using var be = Open(p);
        var cfg = parallelResidual
            ? new ModelConfig { Architecture = Architecture.GptNeoX, VocabSize = 301, MaxPositions = 24, Embd = 48, Layers = 2, Heads = 3, RotaryPct = 0.5, ParallelResidual = true, Gelu = GeluKind.Erf, TieWordEmbeddings = false }
            : new ModelConfig { VocabSize = 300, MaxPositions = 24, Embd = 40, Layers = 2, Heads = 5 };
        var w = ModelWeights.Random(cfg, 3, untiedHead: parallelResidual);
        using var model = new DecoderModel(be, w);
        int b = 3, t = 24;
        var seqs = Enumerable.Range(0, b).Select(s => Enumerable.Range(0, t).Select(i => (i * 7 + s) % cfg.VocabSize).ToArray()).ToArray();
        var all = seqs.Select(s => Enumerable.Range(1, t - 1).ToArray()).ToArray();
        long before = be.AllocatedBytes;
        model.Score(seqs, all);
        long used = be.AllocatedBytes - before;
        int m = b * (t - 1);
        Assert.Equal(DecoderModel.ActivationBytes(cfg, p, (long)b * t, m), used);
        // Batch sizing counts that plan (every token scored) plus the backend's scratch.
        Assert.True(BatchSizing.BytesPerSequence(cfg, t, p) >= DecoderModel.ActivationBytes(cfg, p, t, t));
        // The parallel residual's extra buffer is in the plan.
        Assert.Equal(parallelResidual, BlockPlanHasMlpOut(cfg, p));
    }

    [Theory]
    [InlineData("cpu", 2, 5, 7, 16, 2)]
    [InlineData("cuda", 2, 5, 7, 16, 2)]
    [InlineData("cuda", 1, 1, 40, 64, 4)]
    public void Bf16_attention_reads_and_writes_bf16(string backend, int b, int tNew, int past, int hs, int heads)
    {
        using var be = Make(backend, Precision.Bf16);
        int c = hs * heads, maxT = past + tNew + 3, seed = Random.Shared.Next();
        var rng = new Random(seed);
        var kc = Rounded(Normal(rng, (long)b * maxT * c), DType.Bf16);
        var vc = Rounded(Normal(rng, (long)b * maxT * c), DType.Bf16);
        var qkv = Rounded(Normal(rng, (long)b * tNew * 3 * c), DType.Bf16);
        float scale = 1f / MathF.Sqrt(hs);
        var want = new float[(long)b * tNew * c];
        var kcCpu = kc.ToArray();
        var vcCpu = vc.ToArray();
        CpuOps.AttentionCached(want, qkv, kcCpu, vcCpu, b, tNew, past, maxT, c, heads, scale);
        using var dk = Put(be, kc, DType.Bf16);
        using var dv = Put(be, vc, DType.Bf16);
        using var dq = Put(be, qkv, DType.Bf16);
        using var o = Poisoned(be, want.Length, DType.Bf16);
        be.AttentionCached(o, dq, dk, dv, b, tNew, past, maxT, c, heads, scale);
        AssertClose(Rounded(want, DType.Bf16), Get(be, o, want.Length), 1e-5, Bf16Step, $"{backend} cached attention bf16, seed {seed}");
        AssertClose(kcCpu, Get(be, dk, kc.Length), 0, 0, $"{backend} k cache bf16, seed {seed}");
        AssertClose(vcCpu, Get(be, dv, vc.Length), 0, 0, $"{backend} v cache bf16, seed {seed}");

        // Full causal attention on the same bf16 qkv.
        int t = tNew;
        var full = new float[(long)b * t * c];
        CpuOps.Attention(full, qkv, b, t, c, heads, scale);
        using var o2 = Poisoned(be, full.Length, DType.Bf16);
        be.Attention(o2, dq, b, t, c, heads, scale);
        AssertClose(Rounded(full, DType.Bf16), Get(be, o2, full.Length), 1e-5, Bf16Step, $"{backend} attention bf16, seed {seed}");
        using var f32 = be.Allocate(full.Length, DType.F32);
        Assert.Throws<ArgumentException>(() => be.Attention(f32, dq, b, t, c, heads, scale));
    }

    /// <summary>Convert (OLMo-2's residual to the bf16 product input): fp32 to bf16 rounds to nearest even exactly as
    /// Write does, bf16 to fp32 is exact, the rest of the output untouched; sizes hitting every remainder.</summary>
    [Theory]
    [InlineData("cpu")]
    [InlineData("cuda")]
    public void Convert_rounds_to_bf16_and_widens_exactly(string backend)
    {
        int seed = Random.Shared.Next();
        var rng = new Random(seed);
        using var be = Make(backend, Precision.Bf16);
        foreach (int n in new[] { 1, 31, 32, 33, 1000, 4097 })
        {
            var x = Enumerable.Range(0, n).Select(_ => (float)((rng.NextDouble() - 0.5) * Math.Pow(10, rng.Next(-3, 4)))).ToArray();
            using var src = Put(be, x, DType.F32);
            using var half = Poisoned(be, n + 3, DType.Bf16);
            be.Convert(half, src, n);
            var got = Get(be, half, n + 3);
            var want = Rounded(x, DType.Bf16);
            for (int i = 0; i < n; i++) Assert.True(want[i] == got[i], $"{backend} n={n} seed {seed}: [{i}] {x[i]} -> {got[i]}, want {want[i]}");
            Assert.True(got.Skip(n).All(float.IsNaN), $"{backend} n={n}: Convert wrote past n");
            using var wide = Poisoned(be, n, DType.F32);
            be.Convert(wide, half, n);
            Assert.Equal(want, Get(be, wide, n));
        }
    }

    [Fact]
    public void Bf16_generation_matches_the_cpu_model()
    {
        int seed = Random.Shared.Next();
        var rng = new Random(seed);
        var cfg = new ModelConfig { VocabSize = 200, MaxPositions = 32, Embd = 48, Layers = 2, Heads = 3 };
        var w = ModelWeights.Random(cfg, seed);
        var seq = Enumerable.Range(0, 20).Select(_ => rng.Next(cfg.VocabSize)).ToArray();
        using var cuda = Open(Precision.Bf16);
        using var cpu = new CpuBackend(Precision.Bf16);
        using var g1 = new DecoderModel(cuda, w);
        using var g2 = new DecoderModel(cpu, w);
        // Logits of a few units: a flipped bf16 rounding somewhere moves them by a few hundredths at most.
        AssertClose(g2.LogitsIncremental(seq, 12), g1.LogitsIncremental(seq, 12), 5e-2, 0, $"bf16 generation, seed {seed}");
    }

    private static bool BlockPlanHasMlpOut(ModelConfig cfg, Precision p) =>
        DecoderModel.ActivationPlan(cfg, p, 10, 2).Any(x => x.Name == "MlpOut");
}

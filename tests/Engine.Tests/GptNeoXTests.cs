using LearningCurves.Engine.Backends;
using LearningCurves.Engine.Checkpoints;
using LearningCurves.Engine.Model;
using LearningCurves.Tests.Common;
using Xunit;

namespace LearningCurves.Engine.Tests;

/// <summary>
/// GPT-NeoX: the committed fixtures of tests/reference/gpt_neox_reference.py (parallel and sequential residual, rotary_pct
/// 0.25, 0.5 and 1.0, odd sizes, a torch-written .bin with Pythia's buffers), fresh random configurations against a
/// float64 forward pass written here from the definition (reading the stored tensors, not the engine's layout), the
/// KV-cache generator against full re-scoring, and save/load round trips.
/// </summary>
public class GptNeoXTests
{
    private static string Fixture(string name) => Path.Combine(TestPaths.RepoRoot, "tests", "fixtures", "parity-neox", name);

    [Theory]
    [InlineData("parallel-rot025-f32")]
    [InlineData("sequential-rot1-f16")]
    [InlineData("odd-parallel-tanh-bf16")]
    [InlineData("pythia-like-bin-f32")]
    public void Neox_fixtures_match_the_float64_reference(string name)
    {
        var dir = Fixture(name);
        var w = HfCheckpoint.Load(dir);
        Assert.Equal(Architecture.GptNeoX, w.Config.Architecture);
        using var model = new DecoderModel(new CpuBackend(Precision.Fp32), w);
        TestContext.Current.SendDiagnosticMessage(ParityCheck.Run(model, dir, batchSize: 5));
    }

    [Fact]
    public void The_neox_fixtures_cover_every_required_variant()
    {
        var cfgs = new[] { "parallel-rot025-f32", "sequential-rot1-f16", "odd-parallel-tanh-bf16", "pythia-like-bin-f32" }
            .Select(n => HfConfig.LoadFromFolder(Fixture(n))).ToList();
        Assert.Contains(cfgs, c => c.ParallelResidual);
        Assert.Contains(cfgs, c => !c.ParallelResidual);
        Assert.Contains(cfgs, c => c.RotaryPct == 0.25);
        Assert.Contains(cfgs, c => c.RotaryPct == 1.0);
        Assert.Contains(cfgs, c => c.Heads % 2 == 1 && c.VocabSize % 2 == 1);
        Assert.Contains(cfgs, c => c.Gelu == GeluKind.Erf);
    }

    /// <summary>Fresh random GPT-NeoX models (sizes, rotary fractions, residual forms, activations no fixture holds),
    /// saved by the engine, scored by the engine and by <see cref="ReferenceSurprisal"/>: within 1e-3 bits.</summary>
    [Fact]
    public void Random_neox_checkpoints_score_within_1e3_bits_of_a_float64_reference()
    {
        int seed = Random.Shared.Next();
        var rng = new Random(seed);
        double worst = 0;
        for (int round = 0; round < 5; round++)
        {
            int heads = rng.Next(1, 5), hs = 2 * rng.Next(1, 5);
            int rot = 2 * rng.Next(0, hs / 2 + 1);
            var cfg = new ModelConfig
            {
                Architecture = Architecture.GptNeoX, VocabSize = rng.Next(3, 80), MaxPositions = rng.Next(2, 14), Embd = heads * hs,
                Layers = rng.Next(1, 4), Heads = heads, Inner = rng.Next(1, 40), RotaryPct = (double)rot / hs,
                RotaryBase = rng.Next(2) == 0 ? 10000 : 77.5, ParallelResidual = rng.Next(2) == 0,
                Gelu = rng.Next(2) == 0 ? GeluKind.Erf : GeluKind.Tanh, LayerNormEpsilon = 1e-5f, TieWordEmbeddings = false,
            };
            var dir = TestPaths.TempDir();
            var dtype = (StoreDType)rng.Next(3);
            HfCheckpoint.Save(dir, ModelWeights.Random(cfg, rng.Next(), untiedHead: true), dtype);
            var w = HfCheckpoint.Load(dir);
            using var model = new DecoderModel(new CpuBackend(Precision.Fp32), w);
            using var ck = TensorSources.Open(dir);
            var seqs = Enumerable.Range(0, 3).Select(_ => Enumerable.Range(0, rng.Next(2, cfg.MaxPositions + 1)).Select(_ => rng.Next(cfg.VocabSize)).ToArray()).ToList();
            var got = model.ScoreAll(seqs);
            for (int s = 0; s < seqs.Count; s++)
            {
                var want = ReferenceSurprisal(ck, cfg, seqs[s]);
                for (int i = 0; i < want.Length; i++)
                {
                    double err = Math.Abs(got[s][i] - want[i]);
                    worst = Math.Max(worst, err);
                    Assert.True(err <= 1e-3, $"seed {seed} round {round} ({cfg}, {dtype}) sequence {s} target {i + 1}: ours {got[s][i]}, reference {want[i]}");
                }
            }
        }
        TestContext.Current.SendDiagnosticMessage($"seed {seed}: max surprisal error {worst:E2} bits");
    }

    /// <summary>The exact GELU and rotary on the CPU against double-precision formulas, at sizes that hit every
    /// remainder of the vector loops and chunking.</summary>
    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(33)]
    [InlineData(4099)]
    public void Gelu_erf_and_rotary_match_double_precision(int n)
    {
        int seed = Random.Shared.Next();
        var rng = new Random(seed);
        var x = Enumerable.Range(0, n).Select(_ => (float)((rng.NextDouble() - 0.5) * 16)).ToArray();
        var y = (float[])x.Clone();
        Backends.CpuOps.GeluErf(y);
        for (int i = 0; i < n; i++)
        {
            double want = 0.5 * x[i] * (1 + Erf(x[i] / Math.Sqrt(2)));
            Assert.True(Math.Abs(y[i] - want) <= 2e-6 * Math.Max(1, Math.Abs(want)), $"seed {seed}: gelu({x[i]}) = {y[i]}, want {want}");
        }
        // Rotary: B=2, T=3, heads 2 of size 6, R=4, positions from past=5.
        int b = 2, t = 3, heads = 2, hs = 6, c = heads * hs, r = 4, past = 5;
        var qkv = Enumerable.Range(0, b * t * 3 * c).Select(_ => (float)rng.NextDouble()).ToArray();
        var rot = (float[])qkv.Clone();
        Backends.CpuOps.Rotary(rot, b, t, c, heads, r, 10000, past);
        for (int row = 0; row < b * t; row++)
        {
            int pos = past + row % t;
            for (int part = 0; part < 3 * heads; part++)
            {
                for (int d = 0; d < hs; d++)
                {
                    int at = row * 3 * c + part * hs + d;
                    double want = qkv[at];
                    if (part < 2 * heads && d < r)
                    {
                        int i = d % (r / 2);
                        double th = pos * Math.Pow(10000, -2.0 * i / r);
                        double other = qkv[row * 3 * c + part * hs + (d < r / 2 ? d + r / 2 : d - r / 2)];
                        want = d < r / 2 ? qkv[at] * Math.Cos(th) - other * Math.Sin(th) : qkv[at] * Math.Cos(th) + other * Math.Sin(th);
                    }
                    Assert.True(Math.Abs(rot[at] - want) <= 1e-6, $"row {row} part {part} dim {d}: {rot[at]} vs {want}");
                }
            }
        }
    }

    [Fact]
    public void Greedy_generation_with_the_kv_cache_follows_a_full_rescore()
    {
        int seed = Random.Shared.Next();
        var cfg = new ModelConfig
        {
            Architecture = Architecture.GptNeoX, VocabSize = 37, MaxPositions = 24, Embd = 24, Layers = 2, Heads = 3, Inner = 30,
            RotaryPct = 0.5, ParallelResidual = true, Gelu = GeluKind.Erf, TieWordEmbeddings = false,
        };
        var w = ModelWeights.Random(cfg, seed, untiedHead: true);
        using var be = new CpuBackend();
        using var model = new DecoderModel(be, w);
        using var gen = new DecoderModel(be, w);
        var rng = new Random(seed);
        var prompts = new[] { 1, 4, 4 }.Select(n => Enumerable.Range(0, n).Select(_ => rng.Next(cfg.VocabSize)).ToArray()).ToArray();
        var outs = gen.Generate(prompts, new GenerationOptions { Temperature = 0, MaxTokens = 10 });
        for (int i = 0; i < prompts.Length; i++)
        {
            var text = prompts[i].Concat(outs[i]).ToArray();
            var pos = Enumerable.Range(prompts[i].Length - 1, outs[i].Length).ToArray();
            var logits = model.Logits([text], [pos]);
            for (int k = 0; k < pos.Length; k++)
            {
                var row = logits.AsSpan(k * cfg.VocabSize, cfg.VocabSize);
                float max = float.NegativeInfinity;
                foreach (float z in row) max = Math.Max(max, z);
                Assert.True(row[outs[i][k]] >= max - 1e-4f, $"seed {seed} prompt {i} step {k}: token {outs[i][k]} has logit {row[outs[i][k]]}, max {max}");
            }
        }
    }

    [Fact]
    public void Save_then_load_is_exact_and_the_stored_names_are_transformers()
    {
        var cfg = new ModelConfig
        {
            Architecture = Architecture.GptNeoX, VocabSize = 30, MaxPositions = 8, Embd = 12, Layers = 2, Heads = 3, Inner = 20,
            RotaryPct = 0.5, ParallelResidual = false, Gelu = GeluKind.Erf, TieWordEmbeddings = false,
        };
        var w = ModelWeights.Random(cfg, Random.Shared.Next(), untiedHead: true);
        var dir = TestPaths.TempDir();
        HfCheckpoint.Save(dir, w);
        using (var f = SafeTensorsFile.Open(Path.Combine(dir, "model.safetensors")))
        {
            Assert.Equal([36L, 12], f.Info("gpt_neox.layers.1.attention.query_key_value.weight").Shape);
            Assert.Equal([20L, 12], f.Info("gpt_neox.layers.0.mlp.dense_h_to_4h.weight").Shape);
            Assert.True(f.Contains("embed_out.weight"));
            Assert.True(f.Contains("gpt_neox.final_layer_norm.bias"));
        }
        var back = HfCheckpoint.Load(dir);
        Assert.Equal(cfg, back.Config);
        Assert.Equal(w.Blocks[1].AttnW, back.Blocks[1].AttnW);
        Assert.Equal(w.Blocks[0].FcProjW, back.Blocks[0].FcProjW);
        Assert.Equal(w.LmHead, back.LmHead);
        Assert.Empty(back.Wpe);
    }

    /// <summary>
    /// -log2 p of tokens 1..T-1, float64, straight from the stored tensors (nn.Linear [out, in], fused q|k|v per head,
    /// rotate_half rotary), as transformers' GPTNeoXForCausalLM computes them. Shares nothing with the engine's forward
    /// pass but the tensor reader.
    /// </summary>
    private static double[] ReferenceSurprisal(ITensorSource ck, ModelConfig cfg, int[] ids)
    {
        double[] T(string name)
        {
            var full = ck.Contains(name) ? name : "gpt_neox." + name;
            var f = new float[ck.Meta(full).ElementCount];
            ck.ReadFloats(full, f);
            return Array.ConvertAll(f, v => (double)v);
        }
        int c = cfg.Embd, nh = cfg.Heads, hs = c / nh, r = cfg.RotaryDims, n = ids.Length, inner = cfg.InnerSize;
        double eps = cfg.LayerNormEpsilon;
        double[][] Linear(double[][] x, double[] w, double[] b, int outDim, int inDim) => x.Select(row =>
            Enumerable.Range(0, outDim).Select(o => b[o] + Enumerable.Range(0, inDim).Sum(i => w[o * inDim + i] * row[i])).ToArray()).ToArray();
        double[][] Ln(double[][] x, double[] w, double[] b) => x.Select(row =>
        {
            double mean = row.Average(), v = row.Select(z => (z - mean) * (z - mean)).Average();
            return row.Select((z, i) => (z - mean) / Math.Sqrt(v + eps) * w[i] + b[i]).ToArray();
        }).ToArray();
        double Gelu(double z) => cfg.Gelu == GeluKind.Erf
            ? 0.5 * z * (1 + Erf(z / Math.Sqrt(2)))
            : 0.5 * z * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (z + 0.044715 * z * z * z)));
        var emb = T("embed_in.weight");
        var x = ids.Select(t => emb.AsSpan(t * c, c).ToArray()).ToArray();
        for (int l = 0; l < cfg.Layers; l++)
        {
            string h = $"layers.{l}.";
            var a = Ln(x, T(h + "input_layernorm.weight"), T(h + "input_layernorm.bias"));
            var qkv = Linear(a, T(h + "attention.query_key_value.weight"), T(h + "attention.query_key_value.bias"), 3 * c, c);
            double Rot(int t, int head, int part, int d)
            {
                double v = qkv[t][head * 3 * hs + part * hs + d];
                if (part == 2 || d >= r) return v;
                int half = r / 2, i = d % half;
                double theta = t * Math.Pow(cfg.RotaryBase, -2.0 * i / r), cos = Math.Cos(theta), sin = Math.Sin(theta);
                double other = qkv[t][head * 3 * hs + part * hs + (d < half ? d + half : d - half)];
                return d < half ? v * cos - other * sin : v * cos + other * sin;
            }
            var y = new double[n][];
            for (int t = 0; t < n; t++) y[t] = new double[c];
            for (int head = 0; head < nh; head++)
            {
                for (int t = 0; t < n; t++)
                {
                    var s = new double[t + 1];
                    for (int u = 0; u <= t; u++)
                        s[u] = Enumerable.Range(0, hs).Sum(d => Rot(t, head, 0, d) * Rot(u, head, 1, d)) / Math.Sqrt(hs);
                    double m = s.Max(), z = s.Sum(v => Math.Exp(v - m));
                    for (int u = 0; u <= t; u++)
                        for (int d = 0; d < hs; d++) y[t][head * hs + d] += Math.Exp(s[u] - m) / z * qkv[u][head * 3 * hs + 2 * hs + d];
                }
            }
            var attn = Linear(y, T(h + "attention.dense.weight"), T(h + "attention.dense.bias"), c, c);
            double[][] Mlp(double[][] u)
            {
                var m = Ln(u, T(h + "post_attention_layernorm.weight"), T(h + "post_attention_layernorm.bias"));
                var f = Linear(m, T(h + "mlp.dense_h_to_4h.weight"), T(h + "mlp.dense_h_to_4h.bias"), inner, c).Select(row => row.Select(Gelu).ToArray()).ToArray();
                return Linear(f, T(h + "mlp.dense_4h_to_h.weight"), T(h + "mlp.dense_4h_to_h.bias"), c, inner);
            }
            if (cfg.ParallelResidual)
            {
                var mo = Mlp(x);
                x = x.Select((row, t) => row.Select((v, i) => v + attn[t][i] + mo[t][i]).ToArray()).ToArray();
            }
            else
            {
                x = x.Select((row, t) => row.Select((v, i) => v + attn[t][i]).ToArray()).ToArray();
                var mo = Mlp(x);
                x = x.Select((row, t) => row.Select((v, i) => v + mo[t][i]).ToArray()).ToArray();
            }
        }
        x = Ln(x, T("final_layer_norm.weight"), T("final_layer_norm.bias"));
        var head2 = T("embed_out.weight");
        var result = new double[n - 1];
        for (int t = 0; t + 1 < n; t++)
        {
            var z = Enumerable.Range(0, cfg.VocabSize).Select(v => Enumerable.Range(0, c).Sum(i => head2[v * c + i] * x[t][i])).ToArray();
            double m = z.Max(), lse = m + Math.Log(z.Sum(v => Math.Exp(v - m)));
            result[t] = (lse - z[ids[t + 1]]) / Math.Log(2);
        }
        return result;
    }

    /// <summary>erf by its Maclaurin series (|z| &lt; 3) or continued fraction for erfc, to double precision.</summary>
    internal static double Erf(double z)
    {
        double a = Math.Abs(z);
        double r;
        if (a < 3)
        {
            double term = a, sum = a;
            for (int k = 1; k < 200 && Math.Abs(term) > 1e-18 * Math.Abs(sum); k++)
            {
                term *= -a * a / k;
                sum += term / (2 * k + 1);
            }
            r = 2 / Math.Sqrt(Math.PI) * sum;
        }
        else
        {
            // erfc(a) = exp(-a^2)/sqrt(pi) * 1/(a + 1/2/(a + 1/(a + 3/2/(a + ...)))) (Lentz-free backward evaluation)
            double f = 0;
            for (int k = 60; k >= 1; k--) f = k / 2.0 / (a + f);
            r = 1 - Math.Exp(-a * a) / Math.Sqrt(Math.PI) / (a + f);
        }
        return z < 0 ? -r : r;
    }
}

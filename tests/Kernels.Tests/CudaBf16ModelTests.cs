using LearningCurves.Engine.Backends;
using LearningCurves.Engine.Model;
using LearningCurves.Tests.Common;
using Xunit;

namespace LearningCurves.Kernels.Tests;

/// <summary>
/// The CUDA backend's bf16 numerics modelled on the CPU: the CPU backend in bf16 mode keeps the same buffers in bf16
/// as the GPU (weights, and every activation that feeds a product: layer norm outputs, qkv, the attention output, the
/// MLP's hidden layer), rounding where the GPU's kernels round. Run on the parity fixtures, it predicts without a GPU
/// how the bf16 mode compares with the float64 references, and states each fixture's bf16 limit as verify derives it
/// (<see cref="Verification.Bf16Limit"/>).
/// History: with only the GEMM inputs rounded (before issue 21) two random fixtures (inverse-idx-bf16,
/// tied-prefix-f32) reached about 0.125 bits from float64. Issue 21 stores qkv in bf16 too (the tensor-core attention
/// reads bf16 q, k, v, as PyTorch's bf16 SDPA does): measured 2026-12-04 on the CPU model, inverse-idx-bf16 0.207 and
/// tied-prefix-f32 0.158 bits max from float64 (with qkv kept in fp32 the model stays under 0.2). The guard below
/// (0.25) keeps the model from getting worse than that; each fixture must also stay within its derived limit.
/// </summary>
public class CudaBf16ModelTests
{
    [Fact]
    public void Bf16_numerics_model_on_the_fixtures()
    {
        var dir = Path.Combine(TestPaths.RepoRoot, "tests", "fixtures", "parity");
        Assert.SkipUnless(Directory.Exists(dir), "tests/fixtures/parity is not in this checkout");
        using var bf16 = new CpuBackend(Precision.Bf16);
        using var fp32 = new CpuBackend(Precision.Fp32);
        var lines = new List<string>();
        bool ok = true;
        double worst = 0;
        foreach (var c in ParityFixtures.Load(dir))
        {
            float[] got, base32;
            using (var m = new DecoderModel(bf16, c.Weights)) got = m.ScoreAll(c.Sequences).SelectMany(r => r).ToArray();
            using (var m = new DecoderModel(fp32, c.Weights)) base32 = m.ScoreAll(c.Sequences).SelectMany(r => r).ToArray();
            var want = c.Reference!.SelectMany(r => r).ToArray();
            var vs64 = ErrorStats.Of(got, want);
            var emulation = ErrorStats.Of(got, base32.Select(x => (double)x).ToArray());
            double limit = Verification.Bf16Limit(emulation.MaxAbs);
            worst = Math.Max(worst, vs64.MaxAbs);
            ok &= vs64.Within(0.25) && vs64.Within(limit);
            lines.Add($"{c.Name,-40} bf16 vs float64 max {vs64.MaxAbs:0.000E+00} mean {vs64.MeanAbs:0.000E+00}; bf16 vs fp32 max {emulation.MaxAbs:0.000E+00}; derived limit {limit:0.000E+00}");
        }
        Assert.True(ok, string.Join("\n", lines));
        Assert.True(worst > 0, "rounding to bf16 must change something");
    }
}

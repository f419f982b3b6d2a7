using LearningCurves.Runner.Benchmarks;
using Xunit;

namespace LearningCurves.Runner.Tests;

/// <summary>The cost model's arithmetic (BENCHMARKS.md, "cost model vs real H200"): each launch takes the longest of its
/// bytes at the copy rate, its GEMM FLOPs at its math's matrix rate and the per-launch floor; counts at B = 1 and 2
/// extrapolate linearly.</summary>
public class CostModelTests
{
    [Fact]
    public void A_launch_takes_the_longest_of_bytes_flops_and_the_floor()
    {
        // bf16 GEMM of 16384 x 2304 x 768 (GPT-2-small's QKV at B = 128): 58.0 GFLOP at 796 TFLOP/s beats 180 MB at 3.96 TB/s.
        double m = 16384, n = 2304, k = 768;
        var qkv = new LaunchCost("cublasGemmEx", true, (m * k + k * n) * 2, m * n * 4, 2 * m * n * k, 3);
        Assert.Equal(2 * m * n * k / 796e12, CostModel.Seconds(qkv), 12);
        Assert.Equal("compute", CostModel.Bound(qkv));
        // The same shape in fp32 at 51 TFLOP/s, and in TF32 at 419.
        Assert.Equal(2 * m * n * k / 51e12, CostModel.Seconds(qkv with { Math = 1 }), 12);
        Assert.Equal(2 * m * n * k / 419e12, CostModel.Seconds(qkv with { Math = 2 }), 12);
        // A kernel: its bytes only (FLOPs of kernels are not counted, whatever the record says).
        var add = new LaunchCost("bias_add", false, 151e6, 151e6, 1e12, 0);
        Assert.Equal(302e6 / 3.96e12, CostModel.Seconds(add), 12);
        Assert.Equal("memory", CostModel.Bound(add));
        // Almost no work: the floor.
        var tiny = new LaunchCost("surprisal_finish", false, 4096, 4096, 0, 0);
        Assert.Equal(CostModel.LaunchFloorSeconds, CostModel.Seconds(tiny));
        Assert.Equal("floor", CostModel.Bound(tiny));
    }

    [Fact]
    public void Counts_extrapolate_linearly_per_launch()
    {
        var one = new List<LaunchCost> { new("layernorm_forward", false, 400_000, 200_000, 0, 0), new("cublasGemmEx", true, 1000, 100, 50, 3) };
        var two = new List<LaunchCost> { new("layernorm_forward", false, 796_000, 393_000, 0, 0), new("cublasGemmEx", true, 1500, 200, 100, 3) };
        var at128 = CostModel.Extrapolate(one, two, 128);
        Assert.Equal(400_000 + 127 * 396_000.0, at128[0].BytesRead);
        Assert.Equal(200_000 + 127 * 193_000.0, at128[0].BytesWritten);
        Assert.Equal(1000 + 127 * 500.0, at128[1].BytesRead);
        Assert.Equal(128 * 50.0, at128[1].Flops);
        Assert.True(at128[1].IsGemm);
        Assert.Equal(3, at128[1].Math);
        // B = 1 gives the first count back.
        Assert.Equal(one, CostModel.Extrapolate(one, two, 1));
        // Different launches at the two batches cannot be extrapolated.
        Assert.Throws<InvalidOperationException>(() => CostModel.Extrapolate(one, two.Take(1).ToList(), 128));
        Assert.Throws<InvalidOperationException>(() => CostModel.Extrapolate(one, [two[1], two[0]], 128));
    }
}

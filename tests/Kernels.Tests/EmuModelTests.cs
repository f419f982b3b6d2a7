using Xunit;

namespace LearningCurves.Kernels.Tests;

/// <summary>The emulator's execution model itself (tests/kernel-emu/cuda_emu.h), through self-test kernels built into
/// the emulator library beside kernels.cu: warp shuffles, barriers with exited threads, 3-D indices, deadlocks.</summary>
public class EmuModelTests
{
    public EmuModelTests() => EmuLibrary.Require();

    [Fact]
    public void Warp_shuffles_follow_cuda_semantics()
    {
        const int n = 64; // two warps: lanes never cross a warp
        using var o = new EmuBuffer(4 * n, ints: true);
        EmuKernels.Launch("emu_selftest_shuffles", 1, n, 0, o);
        var got = o.Ints;
        for (int t = 0; t < n; t++)
        {
            int lane = t % 32, warp0 = t - lane;
            int[] want =
            [
                10 * (warp0 + (lane ^ 5)),
                10 * (lane + 3 < 32 ? t + 3 : t), // down: lanes past the end keep their own value
                10 * (lane >= 2 ? t - 2 : t),      // up: the first lanes keep their own value
                10 * (warp0 + 7),
            ];
            Assert.Equal(want, got.Slice(4 * t, 4).ToArray());
        }
    }

    [Theory]
    [InlineData(3, 1, 1, 50, 1, 1)]
    [InlineData(2, 3, 2, 7, 3, 2)] // 3-D grid and block, 42 threads: a partial second warp
    public void Barriers_count_every_live_thread_of_the_block(int gx, int gy, int gz, int bx, int by, int bz)
    {
        int blocks = gx * gy * gz, n = bx * by * bz;
        using var o = new EmuBuffer(blocks * n, ints: true);
        EmuKernels.Launch("emu_selftest_barrier", new Dim3((uint)gx, (uint)gy, (uint)gz), new Dim3((uint)bx, (uint)by, (uint)bz), 0, o);
        int evens = (n + 1) / 2;
        for (int i = 0; i < blocks * n; i++)
        {
            int t = i % n;
            Assert.True(o.Ints[i] == (t % 2 == 0 ? n + 1000 * evens : n), $"element {i}: {o.Ints[i]}");
        }
    }

    [Fact]
    public void A_deadlocked_block_is_reported_not_hung()
    {
        using var o = new EmuBuffer(32, ints: true);
        var e = Assert.Throws<InvalidOperationException>(() => EmuKernels.Launch("emu_selftest_deadlock", 1, 32, 0, o));
        Assert.Contains("deadlock", e.Message, StringComparison.Ordinal);
        // The emulator is usable again afterwards.
        using var s = new EmuBuffer(4 * 32, ints: true);
        EmuKernels.Launch("emu_selftest_shuffles", 1, 32, 0, s);
        Assert.Equal(10 * 5, s.Ints[0]);
    }
}

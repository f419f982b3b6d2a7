using LearningCurves.Engine.Backends;
using Xunit;
using static LearningCurves.Kernels.Tests.GpuTestSupport;

namespace LearningCurves.Kernels.Tests;

/// <summary>
/// Handles outliving their backend: the driver gives every life of the primary context the same CUcontext value and
/// frees everything with the context, so a buffer left to the finalizer after its backend was disposed must not free
/// its old address, which a later backend may have been given (once seen in CI as a test's own buffer freed under it,
/// then CUDA_ERROR_ILLEGAL_ADDRESS).
/// </summary>
[Trait("Category", "Gpu")]
[Collection("GPU")]
public class ContextLifeTests
{
    [Fact]
    public void A_buffer_released_after_its_backend_frees_nothing_of_a_later_backend()
    {
        IDeviceBuffer stale;
        ulong oldAddress;
        using (var first = Open())
        {
            stale = first.Allocate(1000, DType.F32);
            oldAddress = ((CudaBackend.CudaBuffer)stale).Ptr;
        }
        using var second = Open();
        // Allocations of the same size until one lands on the old address (the allocator reuses it at once on the
        // software GPU and usually on a real one); all are kept, so each gets its own address.
        var held = new List<IDeviceBuffer>();
        IDeviceBuffer? reused = null;
        for (int i = 0; i < 64 && reused is null; i++)
        {
            var b = second.Allocate(1000, DType.F32);
            held.Add(b);
            if (((CudaBackend.CudaBuffer)b).Ptr == oldAddress) reused = b;
        }
        Assert.SkipWhen(reused is null, $"no allocation of the second backend reused the old address {oldAddress:x}: nothing to check");
        var values = Enumerable.Range(0, 1000).Select(i => i * 0.5f).ToArray();
        second.Write(reused!, values);
        // What the finalizer does with a buffer nobody disposed.
        stale.Dispose();
        second.Write(reused!, values);
        Assert.Equal(values, Get(second, reused!, 1000));
        GC.KeepAlive(held);
    }
}

using LearningCurves.Kernels.Native;
using Xunit;
using static LearningCurves.Kernels.Tests.GpuTestSupport;

namespace LearningCurves.Kernels.Tests;

/// <summary>
/// The software GPU's cuBLASLt shim's own checks, which only it can show (a real cuBLASLt would corrupt memory or
/// crash instead): every operand range checked before the product runs, the error sticky until the context goes, the
/// product deferred to the next synchronisation like kernels. Skips where the software GPU is not in use.
/// </summary>
[Trait("Category", "Gpu")]
[Collection("GPU")]
public unsafe class SoftwareGpuLtTests
{
    private const int IllegalAddress = 700;

    private static CudaDevice OpenSoftwareGpu()
    {
        Assert.SkipWhen(Environment.GetEnvironmentVariable("LC_SOFTWARE_GPU") is null, "the software GPU is not in use (source artifacts/software-gpu/env.sh)");
        var dev = CudaDevice.Open();
        if (dev.Name != SoftwareGpuName)
        {
            dev.Dispose();
            Assert.Fail($"LC_SOFTWARE_GPU is set but the device is {dev.Name}");
        }
        Assert.True(CudaLibraries.CublasLtLoaded, "the software GPU's libcublasLt.so.12 was not loaded: " + string.Join("; ", CudaLibraries.Trace));
        return dev;
    }

    [Theory]
    [InlineData("D")]
    [InlineData("bias")]
    [InlineData("A")]
    public void An_operand_outside_its_allocation_fails_at_the_next_sync(string which)
    {
        using (var dev = OpenSoftwareGpu())
        {
            using var gemm = new CublasLtGemm(dev);
            int m = 8, n = 128, k = 12;
            // The buffer under test a quarter of what it must hold (allocations are rounded up to 256 bytes, so a
            // few elements short would still lie inside).
            long Quarter(string name, long elems) => which == name ? elems / 4 : elems;
            using var a = dev.Allocate(4L * Quarter("A", m * k));
            using var b = dev.Allocate(4L * k * n);
            using var d = dev.Allocate(4L * Quarter("D", m * n));
            using var bias = dev.Allocate(4L * Quarter("bias", n));
            dev.Fill32(a.Pointer, 0, a.Bytes / 4);
            dev.Fill32(b.Pointer, 0, b.Bytes / 4);
            dev.Fill32(d.Pointer, 0, d.Bytes / 4);
            dev.Fill32(bias.Pointer, 0, bias.Bytes / 4);
            gemm.Matmul(m, n, k, a.Pointer, LtElement.F32, k, b.Pointer, LtElement.F32, n, false, d.Pointer, LtElement.F32, n,
                bias.Pointer, LtEpilogue.Bias, 0f, false, dev.Stream);
            var e = Assert.Throws<CudaException>(dev.Synchronize);
            Assert.Equal(IllegalAddress, e.Code);
        }
        // The error was sticky for that context only: a new one works.
        using (var dev = OpenSoftwareGpu())
        {
            using var mem = dev.Allocate(64);
            dev.Fill32(mem.Pointer, 0, 16);
            dev.Synchronize();
        }
    }
}

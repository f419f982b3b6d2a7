using System.Runtime.InteropServices;
using LearningCurves.Kernels.Native;
using Xunit;

namespace LearningCurves.Kernels.Tests;

/// <summary>
/// The device side of the cuBLAS and cuBLASLt semantics tests: the device opened (a skip without a GPU; a failure where
/// the software GPU was put in place), device memory that lives until Dispose, and copies through pinned memory. The
/// subclass makes its library handle after this constructor and releases it in <see cref="ReleaseHandles"/>.
/// </summary>
internal abstract unsafe class SemanticsDevice : IDisposable
{
    public CudaDevice Dev { get; }
    private readonly List<DeviceMemoryHandle> _mem = new();

    protected SemanticsDevice()
    {
        try
        {
            Dev = CudaDevice.Open();
        }
        catch (CudaUnavailableException e)
        {
            if (Environment.GetEnvironmentVariable("LC_SOFTWARE_GPU") is { Length: > 0 } sw)
                Assert.Fail($"the software GPU in {sw} did not open: {e.Message}");
            Assert.Skip($"no usable CUDA GPU: {e.Message}");
            throw;
        }
    }

    public ulong Alloc(long bytes)
    {
        var mem = Dev.Allocate(bytes);
        _mem.Add(mem);
        return mem.Pointer;
    }

    public ulong Put<T>(T[] data) where T : unmanaged
    {
        var bytes = MemoryMarshal.AsBytes(data.AsSpan());
        ulong ptr = Alloc(bytes.Length);
        using var pin = Dev.AllocatePinned(bytes.Length);
        bytes.CopyTo(new Span<byte>((void*)pin.Pointer, bytes.Length));
        Dev.CopyToDevice(ptr, pin.Pointer, bytes.Length);
        Dev.Synchronize();
        return ptr;
    }

    /// <summary>Host storage as put on the device: float[] or ushort[] (16-bit patterns).</summary>
    public ulong PutStored(object data) => data switch
    {
        float[] f => Put(f),
        ushort[] u => Put(u),
        _ => throw new ArgumentException("unexpected storage"),
    };

    public T[] Get<T>(ulong ptr, long n) where T : unmanaged
    {
        var r = new T[n];
        long bytes = n * sizeof(T);
        using var pin = Dev.AllocatePinned(bytes);
        Dev.CopyToHost(pin.Pointer, ptr, bytes);
        Dev.Synchronize();
        new ReadOnlySpan<T>((void*)pin.Pointer, (int)n).CopyTo(r);
        return r;
    }

    /// <summary>Destroys the library's handles (before the memory and the device go).</summary>
    protected abstract void ReleaseHandles();

    public void Dispose()
    {
        Dev.Synchronize();
        foreach (var m in _mem) m.Dispose();
        ReleaseHandles();
        Dev.Dispose();
    }
}

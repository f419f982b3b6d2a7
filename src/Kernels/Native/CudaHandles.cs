using System.Runtime.InteropServices;

namespace LearningCurves.Kernels.Native;

/// <summary>
/// Base for handles whose release needs the owning context current on the releasing thread (the finalizer thread
/// included): the primary context is made current first.
/// </summary>
public abstract class ContextBoundHandle : SafeHandle
{
    protected ContextBoundHandle(IntPtr context) : base(IntPtr.Zero, ownsHandle: true) => Context = context;

    /// <summary>The CUcontext this handle belongs to.</summary>
    public IntPtr Context { get; }

    public override bool IsInvalid => handle == IntPtr.Zero;

    protected override bool ReleaseHandle()
    {
        // Release must not throw; a failure here means the context is already gone, and the driver freed it with it.
        if (CuApi.cuCtxSetCurrent(Context) != CuApi.Success) return false;
        return Free(handle) == CuApi.Success;
    }

    protected abstract int Free(IntPtr h);

    internal void Adopt(IntPtr h) => SetHandle(h);
}

/// <summary>Device memory from cuMemAlloc (the CUdeviceptr stored in the handle's pointer).</summary>
public sealed class DeviceMemoryHandle : ContextBoundHandle
{
    internal DeviceMemoryHandle(IntPtr context, ulong ptr, long bytes) : base(context)
    {
        Adopt((IntPtr)(long)ptr);
        Bytes = bytes;
    }

    public long Bytes { get; }

    public ulong Pointer => (ulong)(long)handle;

    protected override int Free(IntPtr h) => CuApi.cuMemFree_v2((ulong)(long)h);
}

/// <summary>Page-locked host memory from cuMemHostAlloc: the source and target of asynchronous copies.</summary>
public sealed class PinnedHostHandle : ContextBoundHandle
{
    internal PinnedHostHandle(IntPtr context, IntPtr ptr, long bytes) : base(context)
    {
        Adopt(ptr);
        Bytes = bytes;
    }

    public long Bytes { get; }

    public IntPtr Pointer => handle;

    protected override int Free(IntPtr h) => CuApi.cuMemFreeHost(h);
}

public sealed class StreamHandle : ContextBoundHandle
{
    internal StreamHandle(IntPtr context, IntPtr stream) : base(context) => Adopt(stream);

    public IntPtr Value => handle;

    protected override int Free(IntPtr h) => CuApi.cuStreamDestroy_v2(h);
}

public sealed class EventHandle : ContextBoundHandle
{
    internal EventHandle(IntPtr context, IntPtr evt) : base(context) => Adopt(evt);

    public IntPtr Value => handle;

    protected override int Free(IntPtr h) => CuApi.cuEventDestroy_v2(h);
}

public sealed class CudaModuleHandle : ContextBoundHandle
{
    internal CudaModuleHandle(IntPtr context, IntPtr module) : base(context) => Adopt(module);

    public IntPtr Value => handle;

    protected override int Free(IntPtr h) => CuApi.cuModuleUnload(h);
}

/// <summary>An instantiated CUDA graph (CUgraphExec), ready to launch on a stream.</summary>
public sealed class GraphExecHandle : ContextBoundHandle
{
    internal GraphExecHandle(IntPtr context, IntPtr exec) : base(context) => Adopt(exec);

    public IntPtr Value => handle;

    protected override int Free(IntPtr h) => CuApi.cuGraphExecDestroy(h);
}

public sealed class CublasHandle : ContextBoundHandle
{
    internal CublasHandle(IntPtr context, IntPtr h) : base(context) => Adopt(h);

    public IntPtr Value => handle;

    protected override int Free(IntPtr h) => CublasApi.cublasDestroy_v2(h);
}

/// <summary>A retained primary context of one device; released (not destroyed: others may share it) on dispose.</summary>
public sealed class PrimaryContextHandle : SafeHandle
{
    internal PrimaryContextHandle(int device, IntPtr context) : base(IntPtr.Zero, ownsHandle: true)
    {
        Device = device;
        SetHandle(context);
    }

    public int Device { get; }

    public IntPtr Value => handle;

    public override bool IsInvalid => handle == IntPtr.Zero;

    protected override bool ReleaseHandle() => CuApi.cuDevicePrimaryCtxRelease_v2(Device) == CuApi.Success;
}

/// <summary>An NVRTC program; destroyed with nvrtcDestroyProgram.</summary>
public sealed class NvrtcProgramHandle : SafeHandle
{
    internal NvrtcProgramHandle(IntPtr program) : base(IntPtr.Zero, ownsHandle: true) => SetHandle(program);

    public IntPtr Value => handle;

    public override bool IsInvalid => handle == IntPtr.Zero;

    protected override bool ReleaseHandle()
    {
        var h = handle;
        return NvrtcApi.nvrtcDestroyProgram(ref h) == NvrtcApi.Success;
    }
}

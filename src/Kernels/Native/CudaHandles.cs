using System.Runtime.InteropServices;

namespace LearningCurves.Kernels.Native;

/// <summary>
/// One life of a device's primary context: from the retain that made it active to the release that destroyed it.
/// The driver hands out the same CUcontext value for every life, and destroying the context frees everything made in
/// it; a handle from an earlier life that is released later (a buffer left to the finalizer after its backend was
/// disposed) must not free its address, which may by then belong to an allocation of the current life.
/// </summary>
public sealed class ContextLife
{
    private static readonly object Gate = new();
    private static readonly Dictionary<int, (int Refs, ContextLife Life)> Held = new();

    private ContextLife(IntPtr context) => Context = context;

    public IntPtr Context { get; }

    /// <summary>False once the last retain of this life was released (the driver destroyed the context).</summary>
    public bool Alive { get; private set; } = true;

    /// <summary>cuDevicePrimaryCtxRetain, counted: the first retain after the context was destroyed starts a new life.</summary>
    internal static ContextLife Retain(int device)
    {
        lock (Gate)
        {
            CuApi.Check(CuApi.cuDevicePrimaryCtxRetain(out var ctx, device), "cuDevicePrimaryCtxRetain");
            var life = Held.TryGetValue(device, out var held) && held.Refs > 0 ? held.Life : new ContextLife(ctx);
            Held[device] = (held.Refs + 1, life);
            return life;
        }
    }

    /// <summary>cuDevicePrimaryCtxRelease; the last one ends the life.</summary>
    internal static bool Release(int device)
    {
        lock (Gate)
        {
            if (!Held.TryGetValue(device, out var held) || held.Refs == 0) return false;
            Held[device] = (held.Refs - 1, held.Life);
            if (held.Refs == 1) held.Life.Alive = false;
            return CuApi.cuDevicePrimaryCtxRelease_v2(device) == CuApi.Success;
        }
    }

    /// <summary>Runs a handle's release with the context current, only while this life lasts (serialised with the
    /// release that ends it); after that the driver has freed the object with the context.</summary>
    internal bool ReleaseInside(Func<int> free)
    {
        lock (Gate)
        {
            if (!Alive) return true;
            if (CuApi.cuCtxSetCurrent(Context) != CuApi.Success) return false;
            return free() == CuApi.Success;
        }
    }
}

/// <summary>
/// Base for handles whose release needs the owning context current on the releasing thread (the finalizer thread
/// included): the primary context is made current first, and nothing is released once the context's life has ended.
/// </summary>
public abstract class ContextBoundHandle : SafeHandle
{
    private readonly ContextLife _life;

    protected ContextBoundHandle(ContextLife life) : base(IntPtr.Zero, ownsHandle: true) => _life = life;

    /// <summary>The CUcontext this handle belongs to.</summary>
    public IntPtr Context => _life.Context;

    public override bool IsInvalid => handle == IntPtr.Zero;

    protected override bool ReleaseHandle()
    {
        var h = handle;
        // Release must not throw; after the context's life the driver has freed the object with it.
        return _life.ReleaseInside(() => Free(h));
    }

    protected abstract int Free(IntPtr h);

    internal void Adopt(IntPtr h) => SetHandle(h);
}

/// <summary>A driver or cuBLAS object (stream, event, module, graph, cuBLAS handle) known by its opaque
/// <see cref="Value"/>; each subclass says how it is destroyed.</summary>
public abstract class ContextBoundObjectHandle : ContextBoundHandle
{
    private protected ContextBoundObjectHandle(ContextLife life, IntPtr value) : base(life) => Adopt(value);

    public IntPtr Value => handle;
}

/// <summary>Device memory from cuMemAlloc (the CUdeviceptr stored in the handle's pointer).</summary>
public sealed class DeviceMemoryHandle : ContextBoundHandle
{
    internal DeviceMemoryHandle(ContextLife life, ulong ptr, long bytes) : base(life)
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
    internal PinnedHostHandle(ContextLife life, IntPtr ptr, long bytes) : base(life)
    {
        Adopt(ptr);
        Bytes = bytes;
    }

    public long Bytes { get; }

    public IntPtr Pointer => handle;

    protected override int Free(IntPtr h) => CuApi.cuMemFreeHost(h);
}

public sealed class StreamHandle : ContextBoundObjectHandle
{
    internal StreamHandle(ContextLife life, IntPtr stream) : base(life, stream) { }

    protected override int Free(IntPtr h) => CuApi.cuStreamDestroy_v2(h);
}

public sealed class EventHandle : ContextBoundObjectHandle
{
    internal EventHandle(ContextLife life, IntPtr evt) : base(life, evt) { }

    protected override int Free(IntPtr h) => CuApi.cuEventDestroy_v2(h);
}

public sealed class CudaModuleHandle : ContextBoundObjectHandle
{
    internal CudaModuleHandle(ContextLife life, IntPtr module) : base(life, module) { }

    protected override int Free(IntPtr h) => CuApi.cuModuleUnload(h);
}

/// <summary>An instantiated CUDA graph (CUgraphExec), ready to launch on a stream.</summary>
public sealed class GraphExecHandle : ContextBoundObjectHandle
{
    internal GraphExecHandle(ContextLife life, IntPtr exec) : base(life, exec) { }

    protected override int Free(IntPtr h) => CuApi.cuGraphExecDestroy(h);
}

public sealed class CublasHandle : ContextBoundObjectHandle
{
    internal CublasHandle(ContextLife life, IntPtr h) : base(life, h) { }

    protected override int Free(IntPtr h) => CublasApi.cublasDestroy_v2(h);
}

/// <summary>A retained primary context of one device; released (not destroyed: others may share it) on dispose.</summary>
public sealed class PrimaryContextHandle : SafeHandle
{
    internal PrimaryContextHandle(int device) : base(IntPtr.Zero, ownsHandle: true)
    {
        Device = device;
        Life = ContextLife.Retain(device);
        SetHandle(Life.Context);
    }

    public int Device { get; }

    /// <summary>The context's life this retain belongs to: every handle made in the context carries it.</summary>
    public ContextLife Life { get; }

    public IntPtr Value => handle;

    public override bool IsInvalid => handle == IntPtr.Zero;

    protected override bool ReleaseHandle() => ContextLife.Release(Device);
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

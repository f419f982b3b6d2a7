using System.Runtime.InteropServices;
using System.Text;
using LearningCurves.Kernels.Native;

namespace LearningCurves.Kernels;

/// <summary>
/// One GPU through the driver API: its primary context (shared with cuBLAS, which uses the runtime API), one
/// non-blocking stream, memory, modules and launches. Every call is checked. Methods make the context current on the
/// calling thread first, so the object can be used from any thread (one at a time).
/// </summary>
public sealed class CudaDevice : IDisposable
{
    private readonly PrimaryContextHandle _context;
    private readonly StreamHandle _stream;
    private bool _disposed;

    private CudaDevice(int ordinal, PrimaryContextHandle context, StreamHandle stream)
    {
        Ordinal = ordinal;
        _context = context;
        _stream = stream;
        MakeCurrent();
        unsafe
        {
            byte* name = stackalloc byte[256];
            CuApi.Check(CuApi.cuDeviceGetName(name, 256, ordinal), "cuDeviceGetName");
            Name = Marshal.PtrToStringUTF8((IntPtr)name) ?? "unknown GPU";
        }
        ComputeMajor = Attribute(CuApi.AttrComputeCapabilityMajor);
        ComputeMinor = Attribute(CuApi.AttrComputeCapabilityMinor);
        Multiprocessors = Attribute(CuApi.AttrMultiprocessorCount);
        L2CacheBytes = Attribute(CuApi.AttrL2CacheSize);
        MaxSharedMemoryPerBlockOptin = Attribute(CuApi.AttrMaxSharedMemoryPerBlockOptin);
        CuApi.Check(CuApi.cuDeviceTotalMem_v2(out var total, ordinal), "cuDeviceTotalMem_v2");
        TotalMemoryBytes = (long)total;
        CuApi.Check(CuApi.cuDriverGetVersion(out int dv), "cuDriverGetVersion");
        DriverVersion = dv;
    }

    /// <summary>Loads the libraries, initialises the driver and opens device <paramref name="ordinal"/>. Missing
    /// libraries, driver or device throw <see cref="CudaUnavailableException"/> listing what was tried.</summary>
    public static CudaDevice Open(int ordinal = 0)
    {
        CudaLibraries.Load();
        int init = CuApi.cuInit(0);
        if (init != CuApi.Success)
        {
            var (name, text) = CuApi.Describe(init);
            throw new CudaUnavailableException($"cuInit failed: {name ?? init.ToString(System.Globalization.CultureInfo.InvariantCulture)} ({text})",
                CudaLibraries.LoadedFrom.Select(kv => $"{kv.Value}: loaded").ToArray());
        }
        CuApi.Check(CuApi.cuDeviceGetCount(out int count), "cuDeviceGetCount");
        if (count == 0)
            throw new CudaUnavailableException("the CUDA driver reports no device", CudaLibraries.LoadedFrom.Select(kv => $"{kv.Value}: loaded").ToArray());
        if (ordinal < 0 || ordinal >= count)
            throw new CudaUnavailableException($"device {ordinal} requested but the driver reports {count} device(s)", Array.Empty<string>());
        CuApi.Check(CuApi.cuDeviceGet(out int dev, ordinal), "cuDeviceGet");
        var context = new PrimaryContextHandle(dev);
        var ctx = context.Value;
        try
        {
            CuApi.Check(CuApi.cuCtxSetCurrent(ctx), "cuCtxSetCurrent");
            CuApi.Check(CuApi.cuStreamCreate(out var s, CuApi.StreamNonBlocking), "cuStreamCreate");
            return new CudaDevice(dev, context, new StreamHandle(context.Life, s));
        }
        catch
        {
            context.Dispose();
            throw;
        }
    }

    public int Ordinal { get; }

    public string Name { get; }

    public int ComputeMajor { get; }

    public int ComputeMinor { get; }

    /// <summary>Architecture number as NVRTC spells it: 90 for sm_90.</summary>
    public int Arch => ComputeMajor * 10 + ComputeMinor;

    public int Multiprocessors { get; }

    public int L2CacheBytes { get; }

    public int MaxSharedMemoryPerBlockOptin { get; }

    public long TotalMemoryBytes { get; }

    /// <summary>CUDA version the driver supports, e.g. 12080 for 12.8.</summary>
    public int DriverVersion { get; }

    public IntPtr Context => _context.Value;

    /// <summary>The life of the primary context this device holds (see <see cref="ContextLife"/>).</summary>
    public ContextLife ContextLife => _context.Life;

    public IntPtr Stream => _stream.Value;

    /// <summary>"NVIDIA H100 80GB HBM3 (sm_90, 132 SMs, 79.6 GiB, driver CUDA 12.8)".</summary>
    public string Describe() =>
        $"{Name} (sm_{Arch}, {Multiprocessors} SMs, {TotalMemoryBytes / (1024.0 * 1024 * 1024):F1} GiB, driver CUDA {DriverVersion / 1000}.{DriverVersion % 1000 / 10})";

    public void MakeCurrent()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        CuApi.Check(CuApi.cuCtxSetCurrent(_context.Value), "cuCtxSetCurrent");
    }

    private int Attribute(int attribute)
    {
        CuApi.Check(CuApi.cuDeviceGetAttribute(out int v, attribute, Ordinal), $"cuDeviceGetAttribute({attribute})");
        return v;
    }

    public (long Free, long Total) MemoryInfo()
    {
        MakeCurrent();
        CuApi.Check(CuApi.cuMemGetInfo_v2(out var free, out var total), "cuMemGetInfo_v2");
        return ((long)free, (long)total);
    }

    /// <summary>Device memory; out of memory throws <see cref="CudaOutOfMemoryException"/> with the free amount.
    /// Refused while the stream is being captured (a graph replays the work, never the allocation).</summary>
    public DeviceMemoryHandle Allocate(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        RefuseDuringCapture("device memory allocation");
        MakeCurrent();
        // cuMemAlloc refuses 0 bytes; keep every buffer a real allocation so pointers stay distinct, and a whole
        // number of 32-bit words so zero-filling with cuMemsetD32 never runs past the end (odd-length bf16 buffers).
        long size = Math.Max((bytes + 3) / 4 * 4, 4);
        int r = CuApi.cuMemAlloc_v2(out ulong ptr, (nuint)size);
        if (r == CuApi.ErrorOutOfMemory)
        {
            var (name, text) = CuApi.Describe(r);
            long free = CuApi.cuMemGetInfo_v2(out var f, out _) == CuApi.Success ? (long)f : -1;
            throw new CudaOutOfMemoryException("cuMemAlloc_v2", r, name, text, size, free);
        }
        CuApi.Check(r, "cuMemAlloc_v2");
        return new DeviceMemoryHandle(_context.Life, ptr, size);
    }

    /// <summary>Frees device memory once the work queued on the stream so far has finished: cuMemFree is not promised
    /// to wait for kernels or copies still using it.</summary>
    public void FreeAfterQueuedWork(DeviceMemoryHandle mem)
    {
        ArgumentNullException.ThrowIfNull(mem);
        if (mem.IsClosed) return;
        if (!_disposed)
        {
            try
            {
                Synchronize();
            }
            catch (CudaException)
            {
                // A sticky error from earlier work: the memory is released all the same, the error shows at the next sync.
            }
        }
        mem.Dispose();
    }

    public PinnedHostHandle AllocatePinned(long bytes)
    {
        RefuseDuringCapture("pinned memory allocation");
        MakeCurrent();
        CuApi.Check(CuApi.cuMemHostAlloc(out var p, (nuint)Math.Max(bytes, 4), CuApi.MemHostAllocPortable), "cuMemHostAlloc");
        return new PinnedHostHandle(_context.Life, p, Math.Max(bytes, 4));
    }

    /// <summary>Fills <paramref name="count"/> 32-bit words at <paramref name="dst"/> with a bit pattern, on the stream.</summary>
    public void Fill32(ulong dst, uint bits, long count)
    {
        MakeCurrent();
        CuApi.Check(CuApi.cuMemsetD32Async(dst, bits, (nuint)count, Stream), "cuMemsetD32Async");
    }

    public void CopyToDevice(ulong dst, IntPtr pinnedSrc, long bytes)
    {
        MakeCurrent();
        CuApi.Check(CuApi.cuMemcpyHtoDAsync_v2(dst, pinnedSrc, (nuint)bytes, Stream), "cuMemcpyHtoDAsync_v2");
    }

    public void CopyToHost(IntPtr pinnedDst, ulong src, long bytes)
    {
        MakeCurrent();
        CuApi.Check(CuApi.cuMemcpyDtoHAsync_v2(pinnedDst, src, (nuint)bytes, Stream), "cuMemcpyDtoHAsync_v2");
    }

    public void Synchronize()
    {
        MakeCurrent();
        CuApi.Check(CuApi.cuStreamSynchronize(Stream), "cuStreamSynchronize");
    }

    public EventHandle CreateEvent(bool timing)
    {
        MakeCurrent();
        CuApi.Check(CuApi.cuEventCreate(out var e, timing ? CuApi.EventDefault : CuApi.EventDisableTiming), "cuEventCreate");
        return new EventHandle(_context.Life, e);
    }

    public void Record(EventHandle evt)
    {
        ArgumentNullException.ThrowIfNull(evt);
        CuApi.Check(CuApi.cuEventRecord(evt.Value, Stream), "cuEventRecord");
    }

    public static void Wait(EventHandle evt)
    {
        ArgumentNullException.ThrowIfNull(evt);
        CuApi.Check(CuApi.cuEventSynchronize(evt.Value), "cuEventSynchronize");
    }

    /// <summary>Milliseconds between two recorded events (waits for the second).</summary>
    public static float Elapsed(EventHandle start, EventHandle end)
    {
        ArgumentNullException.ThrowIfNull(start);
        ArgumentNullException.ThrowIfNull(end);
        CuApi.Check(CuApi.cuEventSynchronize(end.Value), "cuEventSynchronize");
        CuApi.Check(CuApi.cuEventElapsedTime(out float ms, start.Value, end.Value), "cuEventElapsedTime");
        return ms;
    }

    /// <summary>Loads a cubin or PTX image; a failure carries the JIT's error log.</summary>
    public CudaModuleHandle LoadModule(byte[] image)
    {
        ArgumentNullException.ThrowIfNull(image);
        MakeCurrent();
        const int logSize = 16 * 1024;
        var info = new byte[logSize];
        var error = new byte[logSize];
        // PTX must be NUL-terminated; a cubin ignores the extra byte.
        var data = new byte[image.Length + 1];
        image.CopyTo(data, 0);
        unsafe
        {
            fixed (byte* img = data)
            fixed (byte* infoBuf = info)
            fixed (byte* errBuf = error)
            {
                int* opts = stackalloc int[4] { CuApi.JitInfoLogBuffer, CuApi.JitInfoLogBufferSizeBytes, CuApi.JitErrorLogBuffer, CuApi.JitErrorLogBufferSizeBytes };
                // Size options are passed by value in the pointer slot (the driver's convention for JIT options).
                IntPtr* vals = stackalloc IntPtr[4] { (IntPtr)infoBuf, logSize, (IntPtr)errBuf, logSize };
                int r = CuApi.cuModuleLoadDataEx(out var module, img, 4, opts, vals);
                if (r != CuApi.Success)
                {
                    string log = (CString(error) + Environment.NewLine + CString(info)).Trim();
                    throw CuApi.Error(r, "cuModuleLoadDataEx", log.Length > 0 ? "JIT log: " + log : null);
                }
                JitInfoLog = CString(info);
                return new CudaModuleHandle(_context.Life, module);
            }
        }
    }

    /// <summary>The JIT's info log from the last successful module load.</summary>
    public string JitInfoLog { get; private set; } = "";

    private static string CString(byte[] buf)
    {
        int n = Array.IndexOf(buf, (byte)0);
        return Encoding.UTF8.GetString(buf, 0, n < 0 ? buf.Length : n);
    }

    public IntPtr GetFunction(CudaModuleHandle module, string name)
    {
        ArgumentNullException.ThrowIfNull(module);
        MakeCurrent();
        CuApi.Check(CuApi.cuModuleGetFunction(out var f, module.Value, name), $"cuModuleGetFunction({name})");
        return f;
    }

    /// <summary>True between <see cref="BeginCapture"/> and <see cref="EndCapture"/>.</summary>
    public bool Capturing { get; private set; }

    private void RefuseDuringCapture(string what)
    {
        if (Capturing)
            throw new InvalidOperationException($"{what} during CUDA graph capture: allocate every buffer before capturing (a graph replays only the captured stream work)");
    }

    /// <summary>
    /// Starts recording the stream's work into a graph instead of running it (cuStreamBeginCapture_v2). Thread-local
    /// mode: the driver refuses unsafe calls (allocation, free, context synchronisation) made by this thread while it
    /// captures, and leaves other threads alone, so a background thread may keep loading the next checkpoint's weights
    /// (on the device's own stream only after the capture ends: everything queued on this stream meanwhile is captured).
    /// </summary>
    public void BeginCapture()
    {
        if (Capturing) throw new InvalidOperationException("a CUDA graph capture is already in progress on this stream");
        MakeCurrent();
        CuApi.Check(CuApi.cuStreamBeginCapture_v2(Stream, CuApi.StreamCaptureModeThreadLocal), "cuStreamBeginCapture_v2");
        Capturing = true;
    }

    /// <summary>Ends the capture and instantiates the graph (cuStreamEndCapture, cuGraphInstantiateWithFlags; the graph
    /// itself is destroyed once instantiated). A capture invalidated by a prohibited call throws
    /// CUDA_ERROR_STREAM_CAPTURE_INVALIDATED.</summary>
    public GraphExecHandle EndCapture()
    {
        if (!Capturing) throw new InvalidOperationException("no CUDA graph capture is in progress");
        MakeCurrent();
        Capturing = false;
        CuApi.Check(CuApi.cuStreamEndCapture(Stream, out var graph), "cuStreamEndCapture");
        try
        {
            CuApi.Check(CuApi.cuGraphInstantiateWithFlags(out var exec, graph, 0), "cuGraphInstantiateWithFlags");
            return new GraphExecHandle(_context.Life, exec);
        }
        finally
        {
            CuApi.cuGraphDestroy(graph);
        }
    }

    /// <summary>Queues an instantiated graph's work on the stream (cuGraphLaunch): asynchronous, like a launch.</summary>
    public void LaunchGraph(GraphExecHandle exec)
    {
        ArgumentNullException.ThrowIfNull(exec);
        if (Capturing) throw new InvalidOperationException("launching a CUDA graph during a capture is not supported here");
        MakeCurrent();
        CuApi.Check(CuApi.cuGraphLaunch(exec.Value, Stream), "cuGraphLaunch");
    }

    public void Dispose()
    {
        if (_disposed) return;
        _stream.Dispose();
        _context.Dispose();
        _disposed = true;
    }
}

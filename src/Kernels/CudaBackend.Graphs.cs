using LearningCurves.Engine.Backends;
using LearningCurves.Kernels.Native;

namespace LearningCurves.Kernels;

public sealed partial class CudaBackend
{
    /// <summary>
    /// Captures the device work <paramref name="work"/> queues into a CUDA graph (driver-API stream capture on this
    /// backend's stream, thread-local mode) and returns it instantiated; <see cref="CudaGraph.Replay"/> queues the same
    /// work again (same kernels, same parameter values, same buffers) with one launch. Nothing runs during the capture.
    /// <para>The captured work must not allocate (device or pinned memory) nor transfer to or from the host (Upload,
    /// Write, Download): both are refused here with <see cref="InvalidOperationException"/>, before the driver is asked.
    /// It must not wait for the device (Synchronize, an event wait): the driver answers with
    /// CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED or CUDA_ERROR_CAPTURED_EVENT and invalidates the capture, and this method
    /// rethrows that <see cref="CudaException"/>. Host writes (<see cref="Write(Engine.Backends.IDeviceBuffer, ReadOnlySpan{int})"/>)
    /// belong before <see cref="CudaGraph.Replay"/>, not inside the capture: the replay reads the device buffers as
    /// they are when it runs. Run <paramref name="work"/> once before capturing it: the backend's grow-only scratch
    /// buffers are sized by their first use, and growing one inside the capture is an allocation. Profiling must be off.</para>
    /// </summary>
    public CudaGraph Capture(Action work)
    {
        ArgumentNullException.ThrowIfNull(work);
        ThrowIfDisposed();
        if (_profile is not null) throw new InvalidOperationException("cannot capture a CUDA graph while profiling (CUDA events time each op)");
        _dev.BeginCapture();
        _captured = 0;
        try
        {
            work();
        }
        catch
        {
            // End the capture whatever the work did; its own error is the one to report.
            try
            {
                _dev.EndCapture().Dispose();
            }
            catch (CudaException)
            {
            }
            throw;
        }
        return new CudaGraph(this, _dev.EndCapture(), _captured, GraphEpoch);
    }

    /// <summary>Whether <see cref="Capture"/> can run now: not while profiling (CUDA events time each op).</summary>
    public bool CanCapture => _profile is null && !_dev.Capturing;

    IDeviceGraph IGraphBackend.Capture(Action work) => Capture(work);

    /// <summary>An instantiated capture of <see cref="Capture"/>.</summary>
    public sealed class CudaGraph : IDeviceGraph
    {
        private readonly CudaBackend _owner;
        private readonly GraphExecHandle _exec;
        private readonly long _epoch;

        internal CudaGraph(CudaBackend owner, GraphExecHandle exec, int nodes, long epoch)
        {
            _owner = owner;
            _exec = exec;
            Nodes = nodes;
            _epoch = epoch;
        }

        /// <summary>Kernel launches and cuBLAS calls the capture recorded.</summary>
        public int Nodes { get; }

        /// <summary>False once the backend grew a scratch buffer or cleared its rotary tables since the capture: the
        /// graph may refer to freed memory.</summary>
        public bool IsValid => !_exec.IsClosed && _owner.GraphEpoch == _epoch;

        /// <summary>Queues the captured work on the backend's stream (asynchronous; later Downloads wait for it).</summary>
        public void Replay()
        {
            ObjectDisposedException.ThrowIf(_exec.IsClosed, this);
            _owner.ThrowIfDisposed();
            if (_owner.GraphEpoch != _epoch)
                throw new InvalidOperationException("the backend replaced scratch memory this graph refers to since it was captured: capture it again");
            _owner._dev.LaunchGraph(_exec);
            _owner.Launches += Nodes;
            _owner.GraphReplays++;
        }

        public void Dispose() => _exec.Dispose();
    }
}

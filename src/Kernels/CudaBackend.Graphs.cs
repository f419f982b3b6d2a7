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
        return new CudaGraph(this, _dev.EndCapture());
    }

    /// <summary>An instantiated capture of <see cref="Capture"/>.</summary>
    public sealed class CudaGraph : IDisposable
    {
        private readonly CudaBackend _owner;
        private readonly GraphExecHandle _exec;

        internal CudaGraph(CudaBackend owner, GraphExecHandle exec)
        {
            _owner = owner;
            _exec = exec;
        }

        /// <summary>Queues the captured work on the backend's stream (asynchronous; later Downloads wait for it).</summary>
        public void Replay()
        {
            ObjectDisposedException.ThrowIf(_exec.IsClosed, this);
            _owner.ThrowIfDisposed();
            _owner._dev.LaunchGraph(_exec);
        }

        public void Dispose() => _exec.Dispose();
    }
}

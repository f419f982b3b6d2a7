using LearningCurves.Engine.Backends;
using LearningCurves.Kernels.Native;
using Xunit;
using static LearningCurves.Kernels.Tests.GpuTestSupport;

namespace LearningCurves.Kernels.Tests;

/// <summary>
/// CUDA graphs through <see cref="CudaBackend.Capture"/>: a captured sequence of backend ops replayed with new inputs
/// gives what running the ops directly gives; the calls a capture cannot hold fail loudly. On any CUDA device (the
/// software GPU records and replays the work as the driver does).
/// </summary>
[Trait("Category", "Gpu")]
[Collection("GPU")]
public class CudaGraphTests
{
    /// <summary>LayerNorm -> MatMul (+bias, cuBLAS) -> GELU epilogue -> residual add, at sizes with remainders.</summary>
    private static void Ops(CudaBackend be, IDeviceBuffer x, IDeviceBuffer ln, IDeviceBuffer h, IDeviceBuffer y,
        IDeviceBuffer g, IDeviceBuffer b, IDeviceBuffer w, (IDeviceBuffer Act, IDeviceBuffer F32) bias, int rows, int c, int outDim)
    {
        be.LayerNorm(ln, x, g, b, rows, c, 1e-5f);
        be.MatMul(h, ln, w, bias.Act, rows, c, outDim, MatMulEpilogue.BiasGelu);
        be.MatMul(y, h, w, bias.F32, rows, outDim, c, MatMulEpilogue.Bias);
        be.Add(y, x, (long)rows * c);
    }

    [Theory]
    [InlineData(Precision.Fp32, 7, 33, 33, 11)]
    [InlineData(Precision.Bf16, 5, 48, 48, 12)]
    public void Replay_with_new_inputs_equals_running_the_ops(Precision p, int rows, int c, int outDim, int seed)
    {
        using var be = Open(p);
        Assert.Equal(c, outDim); // the second product maps back to c columns with the same (square) weight
        var rng = new Random(seed);
        var w = be.UploadWeight(Normal(rng, (long)c * outDim, 0.2f));
        // Typed as the model types them: the layer norm and the hidden layer feed products (bf16 in bf16 mode), and the
        // bias of a product has its output's type.
        var act = DTypes.GemmInput(p);
        var biasValues = Normal(rng, outDim, 0.1f);
        var biasAct = be.Allocate(outDim, act);
        be.Write(biasAct, biasValues);
        var bias = (biasAct, be.Upload(biasValues));
        var g = be.Upload(Normal(rng, c, 1f));
        var b = be.Upload(Normal(rng, c, 0.1f));
        var x = be.Allocate((long)rows * c, DType.F32);
        var ln = be.Allocate((long)rows * c, act);
        var h = be.Allocate((long)rows * outDim, act);
        var y = be.Allocate((long)rows * c, DType.F32);
        // Warm-up: the backend's grow-only scratch (bf16 staging of GEMM inputs) is allocated here, not in the capture.
        be.Write(x, Normal(rng, (long)rows * c, 1f));
        Ops(be, x, ln, h, y, g, b, w, bias, rows, c, outDim);
        be.Synchronize();

        using var graph = be.Capture(() => Ops(be, x, ln, h, y, g, b, w, bias, rows, c, outDim));
        for (int round = 0; round < 3; round++)
        {
            var input = Normal(rng, (long)rows * c, 1f);
            // Directly.
            be.Write(x, input);
            Ops(be, x, ln, h, y, g, b, w, bias, rows, c, outDim);
            var direct = Get(be, y, (long)rows * c);
            // Replayed, after poisoning the outputs so stale values cannot pass.
            be.Write(y, Enumerable.Repeat(float.NaN, rows * c).ToArray());
            be.Write(h, Enumerable.Repeat(float.NaN, rows * outDim).ToArray()); // NaN survives bf16 rounding
            be.Write(x, input);
            graph.Replay();
            var replayed = Get(be, y, (long)rows * c);
            for (int i = 0; i < direct.Length; i++)
                Assert.True(BitConverter.SingleToInt32Bits(direct[i]) == BitConverter.SingleToInt32Bits(replayed[i]),
                    $"round {round}, element {i}: direct {direct[i]}, replayed {replayed[i]}");
        }
    }

    [Fact]
    public void Replay_twice_in_a_row_runs_the_work_twice()
    {
        using var be = Open();
        var x = be.Upload([1f, 2f, 3f, 4f, 5f]);
        var one = be.Upload([1f, 1f, 1f, 1f, 1f]);
        be.Synchronize();
        using var graph = be.Capture(() => be.Add(x, one, 5));
        graph.Replay();
        graph.Replay();
        Assert.Equal([3f, 4f, 5f, 6f, 7f], Get(be, x, 5));
    }

    [Fact]
    public void A_synchronisation_inside_the_capture_fails_and_invalidates_it()
    {
        using var be = Open();
        var x = be.Upload([1f, 2f]);
        var one = be.Upload([1f, 1f]);
        be.Synchronize();
        var e = Assert.ThrowsAny<CudaException>(() => be.Capture(() =>
        {
            be.Add(x, one, 2);
            be.Synchronize();
        }));
        Assert.Equal(CuApi.ErrorStreamCaptureUnsupported, e.Code);
        // The stream is usable again and the captured Add never ran.
        Assert.Equal([1f, 2f], Get(be, x, 2));
    }

    [Fact]
    public void Host_transfers_inside_the_capture_are_refused()
    {
        using var be = Open();
        var x = be.Upload([1f, 2f]);
        be.Synchronize();
        var e = Assert.Throws<InvalidOperationException>(() => be.Capture(() => Get(be, x, 2)));
        Assert.Contains("graph capture", e.Message, StringComparison.Ordinal);
        Assert.Throws<InvalidOperationException>(() => be.Capture(() => be.Write(x, [5f, 6f])));
        // Both staging buffers still work after the failed captures.
        be.Write(x, [3f, 4f]);
        Assert.Equal([3f, 4f], Get(be, x, 2));
        be.Write(x, [7f, 8f]);
        Assert.Equal([7f, 8f], Get(be, x, 2));
    }

    /// <summary>An event recorded into a capture is a graph node: waiting on it is CUDA_ERROR_CAPTURED_EVENT (the
    /// driver may also refuse the wait as an unsafe call during capture).</summary>
    [Fact]
    public void Waiting_on_an_event_recorded_in_the_capture_fails()
    {
        using var be = Open();
        using var evt = be.Device.CreateEvent(timing: false);
        var e = Assert.ThrowsAny<CudaException>(() => be.Capture(() =>
        {
            be.Device.Record(evt);
            CudaDevice.Wait(evt);
        }));
        Assert.Contains(e.Code, new[] { CuApi.ErrorStreamCaptureUnsupported, CuApi.ErrorCapturedEvent });
    }

    [Fact]
    public void An_allocation_inside_the_capture_is_refused()
    {
        using var be = Open();
        var e = Assert.Throws<InvalidOperationException>(() => be.Capture(() => be.Allocate(16, DType.F32)));
        Assert.Contains("graph capture", e.Message, StringComparison.Ordinal);
        // Allocation works again after the capture ended.
        using var ok = be.Allocate(16, DType.F32);
    }

    /// <summary>The driver's own answers (cuda.h): a synchronize during capture is CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED
    /// and invalidates the capture (status CU_STREAM_CAPTURE_STATUS_INVALIDATED), which then ends with
    /// CUDA_ERROR_STREAM_CAPTURE_INVALIDATED and no graph; the stream captures again afterwards.</summary>
    [Fact]
    public void The_driver_invalidates_a_capture_on_synchronize()
    {
        using var be = Open();
        var s = be.Device.Stream;
        be.Device.MakeCurrent();
        Assert.Equal(CuApi.Success, CuApi.cuStreamBeginCapture_v2(s, CuApi.StreamCaptureModeThreadLocal));
        Assert.Equal(CuApi.Success, CuApi.cuStreamIsCapturing(s, out int status));
        Assert.Equal(CuApi.StreamCaptureStatusActive, status);
        Assert.Equal(CuApi.ErrorStreamCaptureUnsupported, CuApi.cuStreamSynchronize(s));
        Assert.Equal(CuApi.Success, CuApi.cuStreamIsCapturing(s, out status));
        Assert.Equal(CuApi.StreamCaptureStatusInvalidated, status);
        Assert.Equal(CuApi.ErrorStreamCaptureInvalidated, CuApi.cuStreamEndCapture(s, out var graph));
        Assert.Equal(IntPtr.Zero, graph);
        Assert.Equal(CuApi.Success, CuApi.cuStreamIsCapturing(s, out status));
        Assert.Equal(CuApi.StreamCaptureStatusNone, status);
        // An empty capture is a valid graph.
        Assert.Equal(CuApi.Success, CuApi.cuStreamBeginCapture_v2(s, CuApi.StreamCaptureModeThreadLocal));
        Assert.Equal(CuApi.Success, CuApi.cuStreamEndCapture(s, out graph));
        Assert.NotEqual(IntPtr.Zero, graph);
        Assert.Equal(CuApi.Success, CuApi.cuGraphInstantiateWithFlags(out var exec, graph, 0));
        Assert.Equal(CuApi.Success, CuApi.cuGraphLaunch(exec, s));
        Assert.Equal(CuApi.Success, CuApi.cuStreamSynchronize(s));
        Assert.Equal(CuApi.Success, CuApi.cuGraphExecDestroy(exec));
        Assert.Equal(CuApi.Success, CuApi.cuGraphDestroy(graph));
    }
}

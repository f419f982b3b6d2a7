using LearningCurves.Engine.Backends;
using LearningCurves.Kernels.Native;

namespace LearningCurves.Kernels;

public sealed partial class CudaBackend
{
    /// <summary>
    /// The card's measured matrix rate in TFLOP/s for one precision mode: a square n x n x n cublasGemmEx with the
    /// same types and compute mode the forward pass uses (bf16 inputs with fp32 accumulation; TF32; plain fp32),
    /// on random data (zeros run faster than real data), timed with CUDA events after a warm-up; median of
    /// <paramref name="repeats"/> runs.
    /// </summary>
    public double MeasureMatrixTflops(Precision mode, int n = 8192, int repeats = 20)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 128);
        ArgumentOutOfRangeException.ThrowIfLessThan(repeats, 1);
        ThrowIfDisposed();
        var rng = new Random(12345);
        var host = new float[(long)n * n];
        for (long i = 0; i < host.Length; i++) host[i] = rng.NextSingle() * 2 - 1;
        // One random operand used for both sides: the rate does not depend on A and B differing, only on non-zero data.
        using var a = mode == Precision.Bf16 ? (CudaBuffer)UploadBf16(host) : (CudaBuffer)Upload(host);
        using var c = (CudaBuffer)Allocate((long)n * n, DType.F32);
        int type = mode == Precision.Bf16 ? CublasApi.R16BF : CublasApi.R32F;
        int compute = mode == Precision.Tf32 ? CublasApi.Compute32FFastTf32 : CublasApi.Compute32F;
        void Once() => CublasApi.Check(CublasApi.cublasGemmEx(_blas.Value, CublasApi.OpN, CublasApi.OpN, n, n, n, 1f, a.Ptr, type, n,
            a.Ptr, type, n, 0f, c.Ptr, CublasApi.R32F, n, compute, CublasApi.GemmDefault), "cublasGemmEx(rate)");
        for (int i = 0; i < 3; i++) Once();
        using var start = _dev.CreateEvent(timing: true);
        using var end = _dev.CreateEvent(timing: true);
        var ms = new List<double>();
        for (int i = 0; i < repeats; i++)
        {
            _dev.Record(start);
            Once();
            _dev.Record(end);
            ms.Add(CudaDevice.Elapsed(start, end));
        }
        ms.Sort();
        double median = ms[ms.Count / 2];
        return 2.0 * n * n * (double)n / (median * 1e-3) / 1e12;
    }

    private CudaBuffer UploadBf16(ReadOnlySpan<float> data)
    {
        var saved = Precision;
        // UploadWeight converts to bf16 only in bf16 mode; the rate check needs bf16 whatever this backend's mode.
        if (saved == Precision.Bf16) return (CudaBuffer)UploadWeight(data);
        var buf = NewBuffer(data.Length, DType.Bf16);
        var bits = new ushort[data.Length];
        Bf16.FromFloat(data, bits);
        CopyIn(buf.Ptr, System.Runtime.InteropServices.MemoryMarshal.AsBytes(bits.AsSpan()));
        return buf;
    }
}

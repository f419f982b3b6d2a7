using System.Runtime.InteropServices;
using LearningCurves.Engine.Backends;
using LearningCurves.Kernels.Native;
using Xunit;
using static LearningCurves.Kernels.Tests.GpuTestSupport;

namespace LearningCurves.Kernels.Tests;

/// <summary>
/// cuBLAS's documented column-major semantics, checked against OpenBLAS's cblas_sgemm in column-major mode (never
/// against CudaBackend): transposes, leading dimensions larger than the rows, batch strides, f32 / f16 / bf16 inputs
/// with f32 compute (the 16-bit inputs rounded on the host first, for OpenBLAS), TF32 when asked, beta applied to C,
/// and the documented statuses for bad leading dimensions and unsupported type combinations. On the software GPU this
/// checks the cuBLAS shim; on a GPU, the real cuBLAS. Skips without a GPU.
/// </summary>
[Trait("Category", "Gpu")]
[Collection("GPU")]
public unsafe class CublasSemanticsTests
{
    private const int ColMajor = 102, NoTrans = 111, Trans = 112;

    private static delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void> OpenBlasSgemm()
    {
        Assert.SkipUnless(Blas.IsAvailable, "OpenBLAS is not installed (Debian package libopenblas0-pthread)");
        var h = NativeLibrary.Load(Blas.LibraryName);
        return (delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void>)NativeLibrary.GetExport(h, "cblas_sgemm");
    }

    /// <summary>A device, a cuBLAS handle on its stream, and copies through pinned memory.</summary>
    private sealed class Blas3 : IDisposable
    {
        public CudaDevice Dev { get; }
        public IntPtr Handle { get; }
        private readonly List<DeviceMemoryHandle> _mem = new();

        public Blas3(int mathMode)
        {
            try
            {
                Dev = CudaDevice.Open();
            }
            catch (CudaUnavailableException e)
            {
                Assert.Skip($"no usable CUDA GPU: {e.Message}");
                throw;
            }
            Dev.MakeCurrent();
            CublasApi.Check(CublasApi.cublasCreate_v2(out var h), "cublasCreate_v2");
            Handle = h;
            CublasApi.Check(CublasApi.cublasSetStream_v2(h, Dev.Stream), "cublasSetStream_v2");
            CublasApi.Check(CublasApi.cublasSetMathMode(h, mathMode), "cublasSetMathMode");
        }

        public ulong Put<T>(T[] data) where T : unmanaged
        {
            var bytes = MemoryMarshal.AsBytes(data.AsSpan());
            var mem = Dev.Allocate(bytes.Length);
            _mem.Add(mem);
            using var pin = Dev.AllocatePinned(bytes.Length);
            bytes.CopyTo(new Span<byte>((void*)pin.Pointer, bytes.Length));
            Dev.CopyToDevice(mem.Pointer, pin.Pointer, bytes.Length);
            Dev.Synchronize();
            return mem.Pointer;
        }

        public float[] Get(ulong ptr, long n)
        {
            var r = new float[n];
            using var pin = Dev.AllocatePinned(n * 4);
            Dev.CopyToHost(pin.Pointer, ptr, n * 4);
            Dev.Synchronize();
            new ReadOnlySpan<float>((void*)pin.Pointer, (int)n).CopyTo(r);
            return r;
        }

        public void Dispose()
        {
            Dev.Synchronize();
            foreach (var m in _mem) m.Dispose();
            CublasApi.cublasDestroy_v2(Handle);
            Dev.Dispose();
        }
    }

    /// <summary>Values as the device sees them for a storage type: f16 and bf16 rounded, f32 as is.</summary>
    private static (object Device, float[] Host) Stored(float[] v, int type)
    {
        switch (type)
        {
            case CublasApi.R16F:
                var h = v.Select(x => BitConverter.HalfToUInt16Bits((Half)x)).ToArray();
                return (h, h.Select(b => (float)BitConverter.UInt16BitsToHalf(b)).ToArray());
            case CublasApi.R16BF:
                var b16 = new ushort[v.Length];
                Bf16.FromFloat(v, b16);
                return (b16, b16.Select(Bf16.ToFloat).ToArray());
            default:
                return (v, v);
        }
    }

    private static ulong PutStored(Blas3 blas, object data) => data switch
    {
        float[] f => blas.Put(f),
        ushort[] u => blas.Put(u),
        _ => throw new ArgumentException("unexpected storage"),
    };

    private static float Tf32(float x)
    {
        uint u = BitConverter.SingleToUInt32Bits(x);
        if ((u & 0x7f800000) == 0x7f800000) return x;
        return BitConverter.UInt32BitsToSingle((u + 0x1000) & 0xffffe000u);
    }

    [Theory]
    [InlineData(CublasApi.R32F, CublasApi.Compute32F, 1)]
    [InlineData(CublasApi.R16F, CublasApi.Compute32F, 1)]
    [InlineData(CublasApi.R16BF, CublasApi.Compute32F, 1)]
    [InlineData(CublasApi.R32F, CublasApi.Compute32F, 3)]
    [InlineData(CublasApi.R16BF, CublasApi.Compute32F, 2)]
    [InlineData(CublasApi.R32F, CublasApi.Compute32FFastTf32, 2)]
    public void Gemm_matches_openblas_in_column_major(int type, int compute, int batch)
    {
        var sgemm = OpenBlasSgemm();
        using var blas = new Blas3(CublasApi.DefaultMath);
        int seed = Random.Shared.Next();
        var rng = new Random(seed);
        foreach (var (ta, tb) in new[] { (0, 0), (1, 0), (0, 1), (1, 1) })
        {
            // Sizes off every tile multiple, leading dimensions padded past the rows.
            int m = 1 + rng.Next(70), n = 1 + rng.Next(50), k = 1 + rng.Next(90);
            int aRows = ta == 0 ? m : k, aCols = ta == 0 ? k : m, bRows = tb == 0 ? k : n, bCols = tb == 0 ? n : k;
            int lda = aRows + rng.Next(4), ldb = bRows + rng.Next(4), ldc = m + rng.Next(4);
            long strideA = (long)lda * aCols + rng.Next(5), strideB = (long)ldb * bCols + rng.Next(5), strideC = (long)ldc * n + rng.Next(5);
            var a = Normal(rng, strideA * batch);
            var b = Normal(rng, strideB * batch);
            var c0 = Normal(rng, strideC * batch);
            float alpha = 0.75f, beta = batch > 1 ? 0.5f : 0f;
            var (aDev, aHost) = Stored(a, type);
            var (bDev, bHost) = Stored(b, type);
            if (compute == CublasApi.Compute32FFastTf32)
            {
                aHost = aHost.Select(Tf32).ToArray();
                bHost = bHost.Select(Tf32).ToArray();
            }
            ulong dA = PutStored(blas, aDev), dB = PutStored(blas, bDev), dC = blas.Put(c0);
            var want = c0.ToArray();
            fixed (float* pa = aHost, pb = bHost, pc = want)
            {
                for (int p = 0; p < batch; p++)
                    sgemm(ColMajor, ta == 0 ? NoTrans : Trans, tb == 0 ? NoTrans : Trans, m, n, k, alpha, pa + p * strideA, lda, pb + p * strideB, ldb, beta, pc + p * strideC, ldc);
            }
            int status = batch == 1 && beta == 0
                ? CublasApi.cublasGemmEx(blas.Handle, ta, tb, m, n, k, alpha, dA, type, lda, dB, type, ldb, beta, dC, CublasApi.R32F, ldc, compute, CublasApi.GemmDefault)
                : CublasApi.cublasGemmStridedBatchedEx(blas.Handle, ta, tb, m, n, k, alpha, dA, type, lda, strideA, dB, type, ldb, strideB, beta, dC, CublasApi.R32F, ldc, strideC, batch, compute, CublasApi.GemmDefault);
            CublasApi.Check(status, "cublasGemm");
            var got = blas.Get(dC, want.Length);
            // Only C's m x n block per batch is written: the padding rows and the stride gaps keep their old values.
            double tol = 2e-5 * Math.Sqrt(k) * 4;
            AssertClose(want, got, tol, tol, $"op(A)={"NT"[ta]} op(B)={"NT"[tb]} m={m} n={n} k={k} lda={lda} ldb={ldb} ldc={ldc} type {type} compute {compute} batch {batch} seed {seed}");
        }
    }

    [Fact]
    public void Tf32_rounding_follows_the_math_mode_and_the_compute_type()
    {
        var sgemm = OpenBlasSgemm();
        int seed = Random.Shared.Next();
        var rng = new Random(seed);
        int m = 33, n = 17, k = 300;
        var a = Normal(rng, (long)m * k);
        var b = Normal(rng, (long)k * n);
        var exact = new float[m * n];
        var tf32 = new float[m * n];
        var aT = a.Select(Tf32).ToArray();
        var bT = b.Select(Tf32).ToArray();
        fixed (float* pa = a, pb = b, pc = exact, pat = aT, pbt = bT, pct = tf32)
        {
            sgemm(ColMajor, NoTrans, NoTrans, m, n, k, 1f, pa, m, pb, k, 0f, pc, m);
            sgemm(ColMajor, NoTrans, NoTrans, m, n, k, 1f, pat, m, pbt, k, 0f, pct, m);
        }
        double MaxDiff(float[] x, float[] y) => x.Zip(y, (p, q) => Math.Abs(p - q)).Max();
        Assert.True(MaxDiff(exact, tf32) > 1e-3, "TF32 rounding of these inputs must be visible");
        foreach (var (mode, compute, expectTf32) in new[]
        {
            (CublasApi.DefaultMath, CublasApi.Compute32F, false),
            (CublasApi.Tf32TensorOpMath, CublasApi.Compute32FPedantic, false),
            (CublasApi.DefaultMath, CublasApi.Compute32FFastTf32, true),
        })
        {
            using var blas = new Blas3(mode);
            ulong dA = blas.Put(a), dB = blas.Put(b), dC = blas.Put(new float[m * n]);
            CublasApi.Check(CublasApi.cublasGemmEx(blas.Handle, 0, 0, m, n, k, 1f, dA, CublasApi.R32F, m, dB, CublasApi.R32F, k, 0f, dC, CublasApi.R32F, m,
                compute, CublasApi.GemmDefault), "cublasGemmEx");
            var got = blas.Get(dC, m * n);
            AssertClose(expectTf32 ? tf32 : exact, got, 2e-4, 2e-4, $"math mode {mode} compute {compute} seed {seed}");
        }
    }

    [Fact]
    public void Bad_arguments_get_the_documented_statuses()
    {
        using var blas = new Blas3(CublasApi.DefaultMath);
        ulong a = blas.Put(new float[64]), b = blas.Put(new float[64]), c = blas.Put(new float[64]);
        int Gemm(int ta, int m, int n, int k, int lda, int ldb, int ldc, int aType = CublasApi.R32F, int bType = CublasApi.R32F, int cType = CublasApi.R32F, int compute = CublasApi.Compute32F) =>
            CublasApi.cublasGemmEx(blas.Handle, ta, 0, m, n, k, 1f, a, aType, lda, b, bType, ldb, 0f, c, cType, ldc, compute, CublasApi.GemmDefault);
        const int invalidValue = 7, notSupported = 15;
        Assert.Equal(0, Gemm(0, 4, 4, 4, 4, 4, 4));
        Assert.Equal(invalidValue, Gemm(0, 4, 4, 4, 3, 4, 4));   // lda < m for op(A) = N
        Assert.Equal(invalidValue, Gemm(1, 4, 4, 8, 4, 8, 4));   // lda < k for op(A) = T
        Assert.Equal(invalidValue, Gemm(0, 4, 4, 4, 4, 3, 4));   // ldb < k
        Assert.Equal(invalidValue, Gemm(0, 4, 4, 4, 4, 4, 3));   // ldc < m
        Assert.Equal(invalidValue, Gemm(0, -1, 4, 4, 4, 4, 4));  // negative size
        Assert.Equal(notSupported, Gemm(0, 4, 4, 4, 4, 4, 4, CublasApi.R32F, CublasApi.R16BF));                  // mixed inputs
        Assert.Equal(notSupported, Gemm(0, 4, 4, 4, 4, 4, 4, CublasApi.R16BF, CublasApi.R16BF, CublasApi.R16F)); // bf16 into f16
        Assert.Equal(notSupported, Gemm(0, 4, 4, 4, 4, 4, 4, CublasApi.R16BF, CublasApi.R16BF, CublasApi.R32F, CublasApi.Compute32FFastTf32));
        Assert.Equal("CUBLAS_STATUS_INVALID_VALUE", Marshal.PtrToStringUTF8(CublasApi.cublasGetStatusName(invalidValue)));
        Assert.Equal("CUBLAS_STATUS_NOT_SUPPORTED", Marshal.PtrToStringUTF8(CublasApi.cublasGetStatusName(notSupported)));
        blas.Dev.Synchronize();
    }
}

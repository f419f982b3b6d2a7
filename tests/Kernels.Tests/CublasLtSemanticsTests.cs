using System.Runtime.InteropServices;
using LearningCurves.Kernels.Native;
using Xunit;
using static LearningCurves.Kernels.Tests.GpuTestSupport;

namespace LearningCurves.Kernels.Tests;

/// <summary>
/// cuBLASLt's documented semantics, D = epilogue(alpha op(A) op(B) + beta C + bias), checked against OpenBLAS's
/// cblas_sgemm in column-major mode with the bias and the tanh GELU added in double (never against CudaBackend):
/// every epilogue the engine uses (none, bias, bias + GELU), beta 0 and 1 with C == D in place, both transposes,
/// f32 / TF32 / bf16 inputs, f32 and bf16 outputs (the bias in D's type), sizes off every tile multiple, padded leading
/// dimensions; the heuristic, the workspace and the documented statuses. Then <see cref="CublasLtGemm"/>, the engine's
/// row-major wrapper, against a CPU product. On the software GPU this checks the cuBLASLt shim; on a GPU, the real
/// cuBLASLt. Skips without a GPU (or, on a real GPU, without libcublasLt).
/// </summary>
[Trait("Category", "Gpu")]
[Collection("GPU")]
public unsafe class CublasLtSemanticsTests
{
    private const int ColMajor = BlasReference.ColMajor, NoTrans = BlasReference.NoTrans, Trans = BlasReference.Trans;
    private const int InvalidValue = 7, NotSupported = 15;

    /// <summary>A device, a cuBLASLt handle, and a preference with a workspace.</summary>
    private sealed class Lt : SemanticsDevice
    {
        public IntPtr Handle { get; }
        public IntPtr Pref { get; }
        public ulong Workspace { get; }
        public const long WorkspaceBytes = 4L << 20;

        public Lt()
        {
            if (!CudaLibraries.CublasLtLoaded)
            {
                Dev.Dispose();
                if (Environment.GetEnvironmentVariable("LC_SOFTWARE_GPU") is { Length: > 0 } sw)
                    Assert.Fail($"the software GPU in {sw} has no libcublasLt: {string.Join("; ", CudaLibraries.Trace)}");
                Assert.Skip("libcublasLt was not found beside cuBLAS");
            }
            Dev.MakeCurrent();
            CublasLtApi.Check(CublasLtApi.cublasLtCreate(out var h), "cublasLtCreate");
            Handle = h;
            CublasLtApi.Check(CublasLtApi.cublasLtMatmulPreferenceCreate(out var p), "cublasLtMatmulPreferenceCreate");
            Pref = p;
            CublasLtApi.Check(CublasLtApi.SetPref(p, CublasLtApi.PrefMaxWorkspaceBytes, (ulong)WorkspaceBytes), "SetPref");
            Workspace = Alloc(WorkspaceBytes);
        }

        protected override void ReleaseHandles()
        {
            CublasLtApi.cublasLtMatmulPreferenceDestroy(Pref);
            CublasLtApi.cublasLtDestroy(Handle);
        }
    }

    /// <summary>A descriptor and four layouts (C's is D's), destroyed together.</summary>
    private sealed class Problem : IDisposable
    {
        public IntPtr Desc, A, B, D;

        public Problem(int compute, int transA, int transB, uint epilogue, int aType, int bType, int dType, int m, int n, int k, int lda, int ldb, int ldd)
        {
            CublasLtApi.Check(CublasLtApi.cublasLtMatmulDescCreate(out Desc, compute, CublasApi.R32F), "cublasLtMatmulDescCreate");
            CublasLtApi.Check(CublasLtApi.SetDesc(Desc, CublasLtApi.DescTransA, transA), "TRANSA");
            CublasLtApi.Check(CublasLtApi.SetDesc(Desc, CublasLtApi.DescTransB, transB), "TRANSB");
            CublasLtApi.Check(CublasLtApi.SetDesc(Desc, CublasLtApi.DescEpilogue, (int)epilogue), "EPILOGUE");
            CublasLtApi.Check(CublasLtApi.cublasLtMatrixLayoutCreate(out A, aType, (ulong)(transA == 0 ? m : k), (ulong)(transA == 0 ? k : m), lda), "layout A");
            CublasLtApi.Check(CublasLtApi.cublasLtMatrixLayoutCreate(out B, bType, (ulong)(transB == 0 ? k : n), (ulong)(transB == 0 ? n : k), ldb), "layout B");
            CublasLtApi.Check(CublasLtApi.cublasLtMatrixLayoutCreate(out D, dType, (ulong)m, (ulong)n, ldd), "layout D");
        }

        /// <summary>The heuristic's status and, on success, its first algorithm (found = 0: none).</summary>
        public int Heuristic(Lt lt, out CublasLtApi.HeuristicResult result, out int found)
        {
            CublasLtApi.HeuristicResult r;
            int s = CublasLtApi.cublasLtMatmulAlgoGetHeuristic(lt.Handle, Desc, A, B, D, D, lt.Pref, 1, &r, out found);
            result = r;
            return s;
        }

        public void Dispose()
        {
            CublasLtApi.cublasLtMatmulDescDestroy(Desc);
            CublasLtApi.cublasLtMatrixLayoutDestroy(A);
            CublasLtApi.cublasLtMatrixLayoutDestroy(B);
            CublasLtApi.cublasLtMatrixLayoutDestroy(D);
        }
    }

    private static (object Device, float[] Host) Stored(float[] v, int type)
    {
        if (type != CublasApi.R16BF) return (v, v);
        var (bits, values) = BlasReference.Bf16Stored(v);
        return (bits, values);
    }

    private static float[] GetAs(Lt lt, ulong ptr, long n, int type) =>
        type == CublasApi.R16BF ? lt.Get<ushort>(ptr, n).Select(Bf16.ToFloat).ToArray() : lt.Get<float>(ptr, n);

    [Theory]
    // inputs, output, compute, epilogue, beta
    [InlineData(CublasApi.R32F, CublasApi.R32F, CublasApi.Compute32F, CublasLtApi.EpilogueDefault, 0)]
    [InlineData(CublasApi.R32F, CublasApi.R32F, CublasApi.Compute32F, CublasLtApi.EpilogueDefault, 1)]
    [InlineData(CublasApi.R32F, CublasApi.R32F, CublasApi.Compute32F, CublasLtApi.EpilogueBias, 0)]
    [InlineData(CublasApi.R32F, CublasApi.R32F, CublasApi.Compute32F, CublasLtApi.EpilogueBias, 1)]
    [InlineData(CublasApi.R32F, CublasApi.R32F, CublasApi.Compute32F, CublasLtApi.EpilogueGeluBias, 0)]
    [InlineData(CublasApi.R32F, CublasApi.R32F, CublasApi.Compute32FFastTf32, CublasLtApi.EpilogueBias, 1)]
    [InlineData(CublasApi.R32F, CublasApi.R32F, CublasApi.Compute32FFastTf32, CublasLtApi.EpilogueGeluBias, 0)]
    [InlineData(CublasApi.R16BF, CublasApi.R16BF, CublasApi.Compute32F, CublasLtApi.EpilogueDefault, 0)]
    [InlineData(CublasApi.R16BF, CublasApi.R16BF, CublasApi.Compute32F, CublasLtApi.EpilogueBias, 0)]
    [InlineData(CublasApi.R16BF, CublasApi.R16BF, CublasApi.Compute32F, CublasLtApi.EpilogueGeluBias, 0)]
    [InlineData(CublasApi.R16BF, CublasApi.R16BF, CublasApi.Compute32F, CublasLtApi.EpilogueBias, 1)]
    [InlineData(CublasApi.R16BF, CublasApi.R32F, CublasApi.Compute32F, CublasLtApi.EpilogueBias, 1)]
    [InlineData(CublasApi.R16BF, CublasApi.R32F, CublasApi.Compute32F, CublasLtApi.EpilogueGeluBias, 0)]
    public void Matmul_matches_openblas_in_column_major(int inType, int outType, int compute, uint epilogue, int beta)
    {
        var sgemm = BlasReference.Sgemm();
        using var lt = new Lt();
        int seed = Random.Shared.Next();
        var rng = new Random(seed);
        bool bias = (epilogue & CublasLtApi.EpilogueBias) != 0, gelu = epilogue == CublasLtApi.EpilogueGeluBias;
        bool tf32 = compute == CublasApi.Compute32FFastTf32;
        foreach (var (ta, tb) in new[] { (0, 0), (1, 0), (0, 1), (1, 1) })
        {
            // Sizes off every tile multiple, leading dimensions padded past the rows.
            int m = 1 + rng.Next(70), n = 1 + rng.Next(50), k = 1 + rng.Next(90);
            int aRows = ta == 0 ? m : k, aCols = ta == 0 ? k : m, bRows = tb == 0 ? k : n, bCols = tb == 0 ? n : k;
            int lda = aRows + rng.Next(4), ldb = bRows + rng.Next(4), ldd = m + rng.Next(4);
            var (aDev, aHost) = Stored(Normal(rng, (long)lda * aCols), inType);
            var (bDev, bHost) = Stored(Normal(rng, (long)ldb * bCols), inType);
            var (dDev, d0) = Stored(Normal(rng, (long)ldd * n), outType);
            var (biasDev, biasHost) = Stored(Normal(rng, m), outType);
            float alpha = 0.75f, betaValue = beta;
            ulong dA = lt.PutStored(aDev), dB = lt.PutStored(bDev), dD = lt.PutStored(dDev), dBias = bias ? lt.PutStored(biasDev) : 0;
            // OpenBLAS: pre = alpha op(A) op(B) + beta C in f32; S = |alpha| |op(A)| |op(B)| for the bounds.
            var pre = d0.ToArray();
            var s = new float[pre.Length];
            var absA = aHost.Select(Math.Abs).ToArray();
            var absB = bHost.Select(Math.Abs).ToArray();
            fixed (float* pa = aHost, pb = bHost, pc = pre, qa = absA, qb = absB, qs = s)
            {
                sgemm(ColMajor, ta == 0 ? NoTrans : Trans, tb == 0 ? NoTrans : Trans, m, n, k, alpha, pa, lda, pb, ldb, betaValue, pc, ldd);
                sgemm(ColMajor, ta == 0 ? NoTrans : Trans, tb == 0 ? NoTrans : Trans, m, n, k, alpha, qa, lda, qb, ldb, 0f, qs, ldd);
            }
            var want = d0.ToArray();
            var tol = new double[want.Length];
            for (int j = 0; j < n; j++)
                for (int i = 0; i < m; i++)
                {
                    int idx = i + j * ldd;
                    double v = pre[idx] + (bias ? biasHost[i] : 0.0);
                    double w = gelu ? BlasReference.GeluTanh(v) : v;
                    want[idx] = (float)w;
                    // The pre-activation's error (TF32 bound, or f32 accumulation), through GELU (slope at most 1.13),
                    // plus the output's rounding (bf16: half an ulp, 2^-8 relative at most).
                    double preTol = tf32 ? BlasReference.Tf32Bound(s[idx], k, v) : (2.0 * (k + 2) * Math.Pow(2, -24)) * (s[idx] + Math.Abs(betaValue * d0[idx])) + 1e-6;
                    tol[idx] = 1.13 * preTol + (outType == CublasApi.R16BF ? Math.Pow(2, -8) : Math.Pow(2, -23)) * Math.Abs(w) + 1e-7;
                }
            using var pr = new Problem(compute, ta, tb, epilogue, inType, inType, outType, m, n, k, lda, ldb, ldd);
            if (bias) CublasLtApi.Check(CublasLtApi.SetDesc(pr.Desc, CublasLtApi.DescBiasPointer, dBias), "BIAS_POINTER");
            CublasLtApi.Check(pr.Heuristic(lt, out var h, out int found), "cublasLtMatmulAlgoGetHeuristic");
            Assert.True(found >= 1 && h.State == 0, $"no algorithm for a supported problem (found {found}, state {h.State})");
            Assert.True((long)h.WorkspaceSize <= Lt.WorkspaceBytes, $"the algorithm asks for {h.WorkspaceSize} bytes of workspace, more than the {Lt.WorkspaceBytes} offered");
            CublasLtApi.Check(CublasLtApi.cublasLtMatmul(lt.Handle, pr.Desc, &alpha, dA, pr.A, dB, pr.B, &betaValue, dD, pr.D, dD, pr.D, h.Algo,
                lt.Workspace, (nuint)Lt.WorkspaceBytes, lt.Dev.Stream), "cublasLtMatmul");
            var got = GetAs(lt, dD, want.Length, outType);
            // Only D's m x n block is written: the padding rows keep their old values (S is 0 there: asked exactly).
            BlasReference.AssertWithin(want, got, tol,
                $"op(A)={"NT"[ta]} op(B)={"NT"[tb]} m={m} n={n} k={k} lda={lda} ldb={ldb} ldd={ldd} in {inType} out {outType} compute {compute} epilogue {epilogue} beta {beta} seed {seed}");
        }
    }

    [Fact]
    public void Gelu_epilogue_is_the_tanh_form()
    {
        // Inputs where the tanh form and the exact erf form differ by 1.5e-4 to 4.4e-4, far more than f32 rounding.
        using var lt = new Lt();
        int m = 8, n = 1, k = 1;
        var x = new float[] { -3f, -2.5f, -2.25f, -1.5f, -1f, 1.5f, 2.5f, 3f };
        float one = 1f, zero = 0f, alpha = 1f;
        ulong dA = lt.Put(x), dB = lt.Put(new[] { one }), dD = lt.Put(new float[m]), dBias = lt.Put(new float[m]);
        using var pr = new Problem(CublasApi.Compute32F, 0, 0, CublasLtApi.EpilogueGeluBias, CublasApi.R32F, CublasApi.R32F, CublasApi.R32F, m, n, k, m, 1, m);
        CublasLtApi.Check(CublasLtApi.SetDesc(pr.Desc, CublasLtApi.DescBiasPointer, dBias), "BIAS_POINTER");
        CublasLtApi.Check(pr.Heuristic(lt, out var h, out int found), "heuristic");
        Assert.True(found >= 1);
        CublasLtApi.Check(CublasLtApi.cublasLtMatmul(lt.Handle, pr.Desc, &alpha, dA, pr.A, dB, pr.B, &zero, dD, pr.D, dD, pr.D, h.Algo,
            lt.Workspace, (nuint)Lt.WorkspaceBytes, lt.Dev.Stream), "cublasLtMatmul");
        var got = lt.Get<float>(dD, m);
        for (int i = 0; i < m; i++)
        {
            double tanhForm = BlasReference.GeluTanh(x[i]);
            double erfForm = 0.5 * x[i] * (1 + Erf(x[i] / Math.Sqrt(2)));
            Assert.True(Math.Abs(got[i] - tanhForm) < 1e-5 && Math.Abs(tanhForm - erfForm) > 1e-4,
                $"x = {x[i]}: got {got[i]:R}, tanh form {tanhForm:R}, erf form {erfForm:R}");
        }
    }

    private static double Erf(double x)
    {
        // Abramowitz-Stegun 7.1.26 is too coarse here; a series / continued fraction pair to double precision.
        double ax = Math.Abs(x);
        double r;
        if (ax < 2.5)
        {
            double sum = ax, term = ax;
            for (int n = 1; n < 60; n++)
            {
                term *= -ax * ax / n;
                sum += term / (2 * n + 1);
            }
            r = 2 / Math.Sqrt(Math.PI) * sum;
        }
        else
        {
            double f = 0;
            for (int n = 60; n >= 1; n--) f = n / 2.0 / (ax + f);
            r = 1 - Math.Exp(-ax * ax) / Math.Sqrt(Math.PI) / (ax + f);
        }
        return x < 0 ? -r : r;
    }

    [Fact]
    public void Heuristic_workspace_and_bad_arguments_get_the_documented_statuses()
    {
        using var lt = new Lt();
        var wrong = new List<string>();
        void Expect(bool ok, string what)
        {
            if (!ok) wrong.Add(what);
        }
        int m = 16, n = 8, k = 32;
        ulong a = lt.Alloc(4L * m * k), b = lt.Alloc(4L * k * n), d = lt.Alloc(4L * m * n);
        float alpha = 1f, beta = 0f;
        // Type combinations cuBLASLt's table does not offer: no algorithm (NOT_SUPPORTED, or SUCCESS with none found).
        // (Mixed f32 / bf16 inputs are left out: cuBLAS 13.0's cublasGemmEx accepted them on the H200, so cuBLASLt 13
        // may offer them too.)
        foreach (var (compute, aType, bType, dType, what) in new[]
        {
            (CublasApi.Compute32FFastTf32, CublasApi.R16BF, CublasApi.R16BF, CublasApi.R16BF, "bf16 inputs with FAST_TF32"),
            (CublasApi.Compute32F, CublasApi.R32F, CublasApi.R32F, CublasApi.R16BF, "f32 inputs into bf16 D"),
        })
        {
            using var pr = new Problem(compute, 0, 0, CublasLtApi.EpilogueDefault, aType, bType, dType, m, n, k, m, k, m);
            int st = pr.Heuristic(lt, out _, out int found);
            Expect(st == NotSupported || (st == 0 && found == 0), $"{what}: heuristic status {st} with {found} algorithms, expected none");
        }
        using (var pr = new Problem(CublasApi.Compute32F, 0, 0, CublasLtApi.EpilogueDefault, CublasApi.R32F, CublasApi.R32F, CublasApi.R32F, m, n, k, m, k, m))
        {
            // Documented: INVALID_VALUE for a requested count <= 0 and for an attribute of the wrong size.
            CublasLtApi.HeuristicResult r;
            Expect(CublasLtApi.cublasLtMatmulAlgoGetHeuristic(lt.Handle, pr.Desc, pr.A, pr.B, pr.D, pr.D, lt.Pref, 0, &r, out _) == InvalidValue, "requested 0 algorithms");
            long eight = 1;
            Expect(CublasLtApi.cublasLtMatmulDescSetAttribute(pr.Desc, CublasLtApi.DescTransA, &eight, 8) == InvalidValue, "TRANSA given 8 bytes");
            Expect(CublasLtApi.cublasLtMatmulDescSetAttribute(pr.Desc, CublasLtApi.DescTransA, null, 4) == InvalidValue, "TRANSA given NULL");
            // Documented: a workspace smaller than the algorithm needs is INVALID_VALUE (only testable when it needs one).
            CublasLtApi.Check(pr.Heuristic(lt, out var h, out int found), "heuristic");
            Expect(found >= 1, "no algorithm for a plain f32 product");
            if (found >= 1 && h.WorkspaceSize > 0)
                Expect(CublasLtApi.cublasLtMatmul(lt.Handle, pr.Desc, &alpha, a, pr.A, b, pr.B, &beta, d, pr.D, d, pr.D, h.Algo,
                    lt.Workspace, h.WorkspaceSize - 1, lt.Dev.Stream) == InvalidValue, "workspace one byte short of the algorithm's");
            if (found >= 1)
                Expect(CublasLtApi.cublasLtMatmul(lt.Handle, pr.Desc, &alpha, a, pr.A, b, pr.B, &beta, d, pr.D, d, pr.D, h.Algo,
                    lt.Workspace, (nuint)Lt.WorkspaceBytes, lt.Dev.Stream) == 0, "the same call with the workspace");
        }
        // A column-major layout with ld < rows: refused when created (INVALID_VALUE) or no algorithm when used.
        using (var pr = new Problem(CublasApi.Compute32F, 0, 0, CublasLtApi.EpilogueDefault, CublasApi.R32F, CublasApi.R32F, CublasApi.R32F, m, n, k, m, k, m))
        {
            int created = CublasLtApi.cublasLtMatrixLayoutCreate(out var bad, CublasApi.R32F, (ulong)m, (ulong)k, m - 1);
            if (created != 0) Expect(created == InvalidValue, $"layout with ld < rows: create status {created}");
            else
            {
                CublasLtApi.HeuristicResult r;
                int st = CublasLtApi.cublasLtMatmulAlgoGetHeuristic(lt.Handle, pr.Desc, bad, pr.B, pr.D, pr.D, lt.Pref, 1, &r, out int found);
                Expect(st != 0 || found == 0, $"layout with ld < rows: heuristic status {st} with {found} algorithms, expected none");
                CublasLtApi.cublasLtMatrixLayoutDestroy(bad);
            }
        }
        Assert.Equal("CUBLAS_STATUS_NOT_SUPPORTED", Marshal.PtrToStringUTF8(CublasLtApi.cublasLtGetStatusName(NotSupported)));
        Assert.True(CublasLtApi.cublasLtGetVersion() >= 110000, $"cublasLtGetVersion {CublasLtApi.cublasLtGetVersion()}");
        lt.Dev.Synchronize();
        Assert.True(wrong.Count == 0, string.Join("\n", wrong));
    }

    [Theory]
    [InlineData("F32", "F32", false)]
    [InlineData("F32", "F32", true)]
    [InlineData("Bf16", "Bf16", false)]
    [InlineData("Bf16", "F32", false)]
    public void CublasLtGemm_matches_a_row_major_cpu_product(string inName, string outName, bool tf32)
    {
        var inType = Enum.Parse<LtElement>(inName);
        var outType = Enum.Parse<LtElement>(outName);
        using var lt = new Lt();
        using var gemm = new CublasLtGemm(lt.Dev);
        int seed = Random.Shared.Next();
        var rng = new Random(seed);
        int inCuda = CublasLtGemm.CudaType(inType), outCuda = CublasLtGemm.CudaType(outType);
        foreach (var transB in new[] { false, true })
            foreach (var (epilogue, beta) in new[] { (LtEpilogue.None, 0f), (LtEpilogue.Bias, 0f), (LtEpilogue.Bias, 1f), (LtEpilogue.BiasGeluTanh, 0f), (LtEpilogue.None, 1f) })
            {
                // Row-major: A (m, k; lda), B (k, n; ldb) or (n, k; ldb) when transB, D (m, n; ldd), bias (n).
                int m = 1 + rng.Next(40), n = 1 + rng.Next(70), k = 1 + rng.Next(60);
                int lda = k + rng.Next(3), ldb = (transB ? k : n) + rng.Next(3), ldd = n + rng.Next(3);
                var (aDev, a) = Stored(Normal(rng, (long)m * lda), inCuda);
                var (bDev, b) = Stored(Normal(rng, (long)(transB ? n : k) * ldb), inCuda);
                var (dDev, d0) = Stored(Normal(rng, (long)m * ldd), outCuda);
                var (biasDev, bias) = Stored(Normal(rng, n), outCuda);
                bool hasBias = epilogue != LtEpilogue.None;
                ulong pa = lt.PutStored(aDev), pb = lt.PutStored(bDev), pd = lt.PutStored(dDev), pbias = hasBias ? lt.PutStored(biasDev) : 0;
                var want = d0.ToArray();
                var tol = new double[want.Length];
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < n; j++)
                    {
                        double dot = 0, sAbs = 0;
                        for (int q = 0; q < k; q++)
                        {
                            double x = a[i * lda + q], y = transB ? b[j * ldb + q] : b[q * ldb + j];
                            dot += x * y;
                            sAbs += Math.Abs(x * y);
                        }
                        double v = dot + (hasBias ? bias[j] : 0) + beta * d0[i * ldd + j];
                        double w = epilogue == LtEpilogue.BiasGeluTanh ? BlasReference.GeluTanh(v) : v;
                        want[i * ldd + j] = (float)w;
                        double preTol = tf32 && inType == LtElement.F32 ? BlasReference.Tf32Bound(sAbs, k, v) : 2.0 * (k + 3) * Math.Pow(2, -24) * (sAbs + Math.Abs(v)) + 1e-6;
                        tol[i * ldd + j] = 1.13 * preTol + (outType == LtElement.Bf16 ? Math.Pow(2, -8) : Math.Pow(2, -23)) * Math.Abs(w) + 1e-7;
                    }
                gemm.Matmul(m, n, k, pa, inType, lda, pb, inType, ldb, transB, pd, outType, ldd, pbias, epilogue, beta, tf32, lt.Dev.Stream);
                int plans = gemm.PlanCount;
                var got = GetAs(lt, pd, want.Length, outCuda);
                BlasReference.AssertWithin(want, got, tol, $"m={m} n={n} k={k} lda={lda} ldb={ldb} ldd={ldd} transB={transB} {inType}->{outType} tf32={tf32} {epilogue} beta {beta} seed {seed}");
                // The same shape again reuses its plan (and, with beta 0, gives the same result).
                if (beta == 0f)
                {
                    gemm.Matmul(m, n, k, pa, inType, lda, pb, inType, ldb, transB, pd, outType, ldd, pbias, epilogue, beta, tf32, lt.Dev.Stream);
                    Assert.Equal(plans, gemm.PlanCount);
                    Assert.Equal(got, GetAs(lt, pd, want.Length, outCuda));
                }
            }
        // Arguments the wrapper refuses before cuBLASLt sees them.
        ulong p1 = lt.Alloc(64);
        Assert.Throws<ArgumentException>(() => gemm.Matmul(2, 2, 2, p1, LtElement.F32, 2, p1, LtElement.F32, 2, false, p1, LtElement.F32, 2, p1, LtEpilogue.BiasGeluTanh, 1f, false, lt.Dev.Stream));
        Assert.Throws<ArgumentException>(() => gemm.Matmul(2, 2, 2, p1, LtElement.F32, 2, p1, LtElement.Bf16, 2, false, p1, LtElement.F32, 2, 0, LtEpilogue.None, 0f, false, lt.Dev.Stream));
        Assert.Throws<ArgumentException>(() => gemm.Matmul(2, 2, 2, p1, LtElement.F32, 2, p1, LtElement.F32, 2, false, p1, LtElement.Bf16, 2, 0, LtEpilogue.None, 0f, false, lt.Dev.Stream));
        Assert.Throws<ArgumentException>(() => gemm.Matmul(2, 2, 2, p1, LtElement.F32, 2, p1, LtElement.F32, 2, false, p1, LtElement.F32, 2, 0, LtEpilogue.Bias, 0f, false, lt.Dev.Stream));
        Assert.Throws<ArgumentException>(() => gemm.Matmul(2, 3, 2, p1, LtElement.F32, 2, p1, LtElement.F32, 2, false, p1, LtElement.F32, 3, 0, LtEpilogue.None, 0f, false, lt.Dev.Stream));
    }

    [Fact]
    public void Every_bound_entry_point_is_exported()
    {
        using var lt = new Lt();
        var lib = NativeLibrary.Load(CudaLibraries.LoadedFrom[CudaLibraries.CublasLt]);
        var names = typeof(CublasLtApi).GetMethods(System.Reflection.BindingFlags.Static | System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.NonPublic)
            .Where(m => m.GetCustomAttributes(typeof(LibraryImportAttribute), false).Length > 0)
            .Select(m => m.Name).Distinct().ToList();
        Assert.True(names.Count >= 16, $"only {names.Count} bindings found by reflection");
        var missing = names.Where(n => !NativeLibrary.TryGetExport(lib, n, out _)).ToList();
        Assert.True(missing.Count == 0, $"{CudaLibraries.LoadedFrom[CudaLibraries.CublasLt]} lacks {string.Join(", ", missing)}");
    }
}

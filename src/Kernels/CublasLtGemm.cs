using LearningCurves.Kernels.Native;

namespace LearningCurves.Kernels;

/// <summary>Element types of <see cref="CublasLtGemm"/>'s operands. Kept apart from the engine's buffer types until
/// those carry a dtype; <see cref="CublasLtGemm.CudaType"/> is the one place that maps them to cudaDataType.</summary>
internal enum LtElement
{
    F32,
    Bf16,
}

/// <summary>What cuBLASLt does to the product before it is stored.</summary>
internal enum LtEpilogue
{
    /// <summary>D = A @ op(B) + beta D.</summary>
    None,

    /// <summary>D = A @ op(B) + bias + beta D (beta 1: the residual add of a projection).</summary>
    Bias,

    /// <summary>D = gelu_tanh(A @ op(B) + bias), GPT-2's gelu_new (CUBLASLT_EPILOGUE_GELU_BIAS); beta must be 0.</summary>
    BiasGeluTanh,
}

/// <summary>
/// Row-major matrix products through cuBLASLt with its epilogues, for the weight GEMMs of a forward pass:
/// <c>D (m, n; ldd) = epilogue(A (m, k; lda) @ op(B) + bias (n)) + beta D</c>, op(B) = B (k, n; ldb) row-major when
/// !transB (GPT-2's Conv1D weight layout), B^T with B (n, k; ldb) row-major when transB (the output head).
/// <para>
/// Types: A and B both f32 or both bf16; D f32, or bf16 for bf16 inputs; compute 32F (32F_FAST_TF32 only for f32
/// inputs when allowTf32), scale f32. The bias has D's element type (cuBLASLt's documented default for
/// CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, which every cuBLASLt since 11.x supports for these types): an f32 bias for f32
/// D, a bf16 bias for bf16 D.
/// </para>
/// <para>
/// Row-major D (m, n) is column-major D^T (n, m) = op(B)^T (n, k) @ A^T (k, m): cuBLASLt's first operand is our B
/// (TRANSA = T when transB), its second our A, and the bias runs along D^T's rows, i.e. our columns. C is D (in place,
/// read only when beta != 0).
/// </para>
/// <para>
/// One Lt handle and one workspace (<see cref="WorkspaceBytes"/>, allocated at creation) per backend; nothing is
/// allocated on the device afterwards, so a call can be captured into a CUDA graph. The heuristic's algorithm is chosen
/// at the first call of each (shape, leading dimensions, types, epilogue, beta, compute) and cached with its descriptor
/// and layouts; the bias pointer is set on the cached descriptor at each call.
/// </para>
/// </summary>
internal sealed class CublasLtGemm : IDisposable
{
    /// <summary>The workspace offered to cuBLASLt's heuristic and passed to every matmul.</summary>
    public const long WorkspaceBytes = 32L << 20;

    private readonly CudaDevice _dev;
    private readonly IntPtr _handle;
    private readonly IntPtr _pref;
    private readonly DeviceMemoryHandle _workspace;
    private readonly Dictionary<PlanKey, Plan> _plans = new();
    private bool _disposed;

    private readonly record struct PlanKey(int M, int N, int K, int Lda, int Ldb, int Ldd, bool TransB, LtElement AType, LtElement DType,
        LtEpilogue Epilogue, bool HasBias, bool Accumulate, int Compute);

    private sealed class Plan
    {
        public IntPtr Desc, ALayout, BLayout, DLayout;
        public readonly ulong[] Algo = new ulong[8];
        public long AlgoWorkspace;
    }

    /// <summary>A wrapper on <paramref name="dev"/>, or null when libcublasLt was not found (then cuBLAS alone serves).</summary>
    public static CublasLtGemm? TryCreate(CudaDevice dev) => CudaLibraries.CublasLtLoaded ? new CublasLtGemm(dev) : null;

    public CublasLtGemm(CudaDevice dev)
    {
        _dev = dev;
        dev.MakeCurrent();
        CublasLtApi.Check(CublasLtApi.cublasLtCreate(out _handle), "cublasLtCreate");
        try
        {
            Version = (long)CublasLtApi.cublasLtGetVersion();
            CublasLtApi.Check(CublasLtApi.cublasLtMatmulPreferenceCreate(out _pref), "cublasLtMatmulPreferenceCreate");
            CublasLtApi.Check(CublasLtApi.SetPref(_pref, CublasLtApi.PrefMaxWorkspaceBytes, (ulong)WorkspaceBytes), "cublasLtMatmulPreferenceSetAttribute(MAX_WORKSPACE_BYTES)");
            _workspace = dev.Allocate(WorkspaceBytes);
        }
        catch
        {
            if (_pref != IntPtr.Zero) CublasLtApi.cublasLtMatmulPreferenceDestroy(_pref);
            CublasLtApi.cublasLtDestroy(_handle);
            throw;
        }
    }

    /// <summary>cublasLtGetVersion(): e.g. 130000 for cuBLAS 13.0.</summary>
    public long Version { get; }

    /// <summary>How many (shape, types, epilogue, beta) plans have been chosen so far.</summary>
    public int PlanCount => _plans.Count;

    /// <summary>cudaDataType of an element type: the single mapping between the engine's types and CUDA's.</summary>
    public static int CudaType(LtElement t) => t switch
    {
        LtElement.F32 => CublasApi.R32F,
        LtElement.Bf16 => CublasApi.R16BF,
        _ => throw new ArgumentOutOfRangeException(nameof(t), t, "no cuBLASLt type"),
    };

    /// <summary>
    /// D (m, n; ldd) = epilogue(A (m, k; lda) @ op(B) + bias (n)) + beta D, row-major, queued on <paramref name="stream"/>.
    /// bias: 0 for none (only with <see cref="LtEpilogue.None"/>), else n elements of D's type. beta: 0 (D only written)
    /// or 1 (D += ...); <see cref="LtEpilogue.BiasGeluTanh"/> needs beta 0.
    /// </summary>
    public unsafe void Matmul(int m, int n, int k, ulong a, LtElement aType, int lda, ulong b, LtElement bType, int ldb, bool transB,
        ulong d, LtElement dType, int ldd, ulong bias, LtEpilogue epilogue, float beta, bool allowTf32, IntPtr stream)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (m < 0 || n < 0 || k < 0) throw new ArgumentException($"negative size ({m}, {n}, {k})");
        if (aType != bType) throw new ArgumentException($"A is {aType} but B is {bType}: both f32 or both bf16");
        if (aType == LtElement.F32 && dType != LtElement.F32) throw new ArgumentException($"f32 inputs need an f32 output, not {dType}");
        if (lda < Math.Max(1, k)) throw new ArgumentException($"lda {lda} < k {k}");
        if (ldb < Math.Max(1, transB ? k : n)) throw new ArgumentException($"ldb {ldb} < {(transB ? "k" : "n")} {(transB ? k : n)}");
        if (ldd < Math.Max(1, n)) throw new ArgumentException($"ldd {ldd} < n {n}");
        if (beta != 0f && beta != 1f) throw new ArgumentException($"beta is {beta}; only 0 and 1 are offered");
        if ((epilogue == LtEpilogue.None) != (bias == 0))
            throw new ArgumentException(epilogue == LtEpilogue.None ? "a bias was given without a bias epilogue" : $"epilogue {epilogue} needs a bias");
        if (epilogue == LtEpilogue.BiasGeluTanh && beta != 0f)
            throw new ArgumentException("the GELU epilogue applies GELU after adding beta C (cuBLASLt's order); accumulating into D needs beta 0 here");
        if (m == 0 || n == 0) return;
        int compute = aType == LtElement.F32 && allowTf32 ? CublasApi.Compute32FFastTf32 : CublasApi.Compute32F;
        var key = new PlanKey(m, n, k, lda, ldb, ldd, transB, aType, dType, epilogue, bias != 0, beta != 0f, compute);
        _dev.MakeCurrent();
        if (!_plans.TryGetValue(key, out var plan))
        {
            plan = Create(key, bias);
            _plans[key] = plan;
        }
        else if (bias != 0)
        {
            CublasLtApi.Check(CublasLtApi.SetDesc(plan.Desc, CublasLtApi.DescBiasPointer, bias), "cublasLtMatmulDescSetAttribute(BIAS_POINTER)");
        }
        float alpha = 1f, betaValue = beta;
        fixed (ulong* algo = plan.Algo)
        {
            CublasLtApi.Check(CublasLtApi.cublasLtMatmul(_handle, plan.Desc, &alpha, b, plan.BLayout, a, plan.ALayout, &betaValue, d, plan.DLayout,
                d, plan.DLayout, algo, _workspace.Pointer, (nuint)WorkspaceBytes, stream), Describe("cublasLtMatmul", key));
        }
    }

    private static string Describe(string call, PlanKey k) =>
        $"{call}(m={k.M} n={k.N} k={k.K} lda={k.Lda} ldb={k.Ldb} ldd={k.Ldd} transB={k.TransB} {k.AType}->{k.DType} {k.Epilogue} beta={(k.Accumulate ? 1 : 0)} compute {k.Compute})";

    private unsafe Plan Create(PlanKey k, ulong bias)
    {
        var p = new Plan();
        try
        {
            int inType = CudaType(k.AType), outType = CudaType(k.DType);
            CublasLtApi.Check(CublasLtApi.cublasLtMatmulDescCreate(out p.Desc, k.Compute, CublasApi.R32F), "cublasLtMatmulDescCreate");
            // cuBLASLt's A is our B: (n, k) column-major, stored as B^T of row-major (k, n), or transposed from (k, n) col-major.
            CublasLtApi.Check(CublasLtApi.SetDesc(p.Desc, CublasLtApi.DescTransA, k.TransB ? CublasApi.OpT : CublasApi.OpN), "cublasLtMatmulDescSetAttribute(TRANSA)");
            CublasLtApi.Check(CublasLtApi.SetDesc(p.Desc, CublasLtApi.DescTransB, CublasApi.OpN), "cublasLtMatmulDescSetAttribute(TRANSB)");
            uint epi = k.Epilogue switch
            {
                LtEpilogue.Bias => CublasLtApi.EpilogueBias,
                LtEpilogue.BiasGeluTanh => CublasLtApi.EpilogueGeluBias,
                _ => CublasLtApi.EpilogueDefault,
            };
            CublasLtApi.Check(CublasLtApi.SetDesc(p.Desc, CublasLtApi.DescEpilogue, (int)epi), "cublasLtMatmulDescSetAttribute(EPILOGUE)");
            if (k.HasBias)
            {
                CublasLtApi.Check(CublasLtApi.SetDesc(p.Desc, CublasLtApi.DescBiasPointer, bias), "cublasLtMatmulDescSetAttribute(BIAS_POINTER)");
                CublasLtApi.Check(CublasLtApi.SetDesc(p.Desc, CublasLtApi.DescBiasDataType, outType), "cublasLtMatmulDescSetAttribute(BIAS_DATA_TYPE)");
            }
            if (k.TransB)
                CublasLtApi.Check(CublasLtApi.cublasLtMatrixLayoutCreate(out p.BLayout, inType, (ulong)k.K, (ulong)k.N, k.Ldb), "cublasLtMatrixLayoutCreate(B)");
            else
                CublasLtApi.Check(CublasLtApi.cublasLtMatrixLayoutCreate(out p.BLayout, inType, (ulong)k.N, (ulong)k.K, k.Ldb), "cublasLtMatrixLayoutCreate(B)");
            CublasLtApi.Check(CublasLtApi.cublasLtMatrixLayoutCreate(out p.ALayout, inType, (ulong)k.K, (ulong)k.M, k.Lda), "cublasLtMatrixLayoutCreate(A)");
            CublasLtApi.Check(CublasLtApi.cublasLtMatrixLayoutCreate(out p.DLayout, outType, (ulong)k.N, (ulong)k.M, k.Ldd), "cublasLtMatrixLayoutCreate(D)");
            CublasLtApi.HeuristicResult result;
            CublasLtApi.Check(CublasLtApi.cublasLtMatmulAlgoGetHeuristic(_handle, p.Desc, p.BLayout, p.ALayout, p.DLayout, p.DLayout, _pref, 1, &result, out int found),
                Describe("cublasLtMatmulAlgoGetHeuristic", k));
            if (found < 1 || result.State != CublasApi.Success)
                throw new NotSupportedException($"cuBLASLt {Version} has no algorithm for {Describe("matmul", k)} within a {WorkspaceBytes >> 20} MiB workspace");
            for (int i = 0; i < 8; i++) p.Algo[i] = result.Algo[i];
            p.AlgoWorkspace = (long)result.WorkspaceSize;
            return p;
        }
        catch
        {
            Destroy(p);
            throw;
        }
    }

    private static void Destroy(Plan p)
    {
        if (p.Desc != IntPtr.Zero) CublasLtApi.cublasLtMatmulDescDestroy(p.Desc);
        if (p.ALayout != IntPtr.Zero) CublasLtApi.cublasLtMatrixLayoutDestroy(p.ALayout);
        if (p.BLayout != IntPtr.Zero) CublasLtApi.cublasLtMatrixLayoutDestroy(p.BLayout);
        if (p.DLayout != IntPtr.Zero) CublasLtApi.cublasLtMatrixLayoutDestroy(p.DLayout);
        p.Desc = p.ALayout = p.BLayout = p.DLayout = IntPtr.Zero;
    }

    /// <summary>Waits for the queued work (the workspace may still be in use), then frees everything.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var p in _plans.Values) Destroy(p);
        _plans.Clear();
        CublasLtApi.cublasLtMatmulPreferenceDestroy(_pref);
        _dev.MakeCurrent();
        _dev.FreeAfterQueuedWork(_workspace);
        CublasLtApi.cublasLtDestroy(_handle);
    }
}

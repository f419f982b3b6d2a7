using System.Runtime.InteropServices;

namespace LearningCurves.Kernels.Native;

/// <summary>
/// cuBLASLt (libcublasLt), the matmul API with epilogues. Only what <see cref="CublasLtGemm"/> uses. Enum values are
/// those of cublasLt.h (CUDA 11.x to 13.x: the values below have not changed since they were introduced;
/// CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE since CUDA 11.8/12.0). Descriptors are opaque pointers owned by the caller.
/// </summary>
internal static partial class CublasLtApi
{
    // cublasLtMatmulDescAttributes_t
    public const int DescComputeType = 0;
    public const int DescScaleType = 1;
    public const int DescPointerMode = 2;
    public const int DescTransA = 3;
    public const int DescTransB = 4;
    public const int DescTransC = 5;
    public const int DescEpilogue = 7;
    public const int DescBiasPointer = 8;
    public const int DescBiasDataType = 26;

    // cublasLtEpilogue_t
    public const uint EpilogueDefault = 1;
    public const uint EpilogueRelu = 2;
    public const uint EpilogueBias = 4;
    public const uint EpilogueReluBias = 6;
    public const uint EpilogueGelu = 32;
    public const uint EpilogueGeluBias = 36;

    // cublasLtMatrixLayoutAttribute_t
    public const int LayoutType = 0;
    public const int LayoutOrder = 1;
    public const int LayoutRows = 2;
    public const int LayoutCols = 3;
    public const int LayoutLd = 4;
    public const int LayoutBatchCount = 5;
    public const int LayoutStridedBatchOffset = 6;

    // cublasLtOrder_t
    public const int OrderCol = 0;
    public const int OrderRow = 1;

    // cublasLtMatmulPreferenceAttributes_t
    public const int PrefSearchMode = 0;
    public const int PrefMaxWorkspaceBytes = 1;

    /// <summary>cublasLtMatmulHeuristicResult_t: algo (cublasLtMatmulAlgo_t, 8 x uint64), workspaceSize, state,
    /// wavesCount, reserved[4]: 96 bytes.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct HeuristicResult
    {
        public fixed ulong Algo[8];
        public nuint WorkspaceSize;
        public int State;
        public float WavesCount;
        public fixed int Reserved[4];
    }

    [LibraryImport(CudaLibraries.CublasLt)] public static partial int cublasLtCreate(out IntPtr handle);
    [LibraryImport(CudaLibraries.CublasLt)] public static partial int cublasLtDestroy(IntPtr handle);
    [LibraryImport(CudaLibraries.CublasLt)] public static partial nuint cublasLtGetVersion();
    [LibraryImport(CudaLibraries.CublasLt)] public static partial IntPtr cublasLtGetStatusName(int status);
    [LibraryImport(CudaLibraries.CublasLt)] public static partial IntPtr cublasLtGetStatusString(int status);

    [LibraryImport(CudaLibraries.CublasLt)] public static partial int cublasLtMatmulDescCreate(out IntPtr desc, int computeType, int scaleType);
    [LibraryImport(CudaLibraries.CublasLt)] public static unsafe partial int cublasLtMatmulDescSetAttribute(IntPtr desc, int attr, void* buf, nuint bytes);
    [LibraryImport(CudaLibraries.CublasLt)] public static partial int cublasLtMatmulDescDestroy(IntPtr desc);

    [LibraryImport(CudaLibraries.CublasLt)] public static partial int cublasLtMatrixLayoutCreate(out IntPtr layout, int type, ulong rows, ulong cols, long ld);
    [LibraryImport(CudaLibraries.CublasLt)] public static unsafe partial int cublasLtMatrixLayoutSetAttribute(IntPtr layout, int attr, void* buf, nuint bytes);
    [LibraryImport(CudaLibraries.CublasLt)] public static partial int cublasLtMatrixLayoutDestroy(IntPtr layout);

    [LibraryImport(CudaLibraries.CublasLt)] public static partial int cublasLtMatmulPreferenceCreate(out IntPtr pref);
    [LibraryImport(CudaLibraries.CublasLt)] public static unsafe partial int cublasLtMatmulPreferenceSetAttribute(IntPtr pref, int attr, void* buf, nuint bytes);
    [LibraryImport(CudaLibraries.CublasLt)] public static partial int cublasLtMatmulPreferenceDestroy(IntPtr pref);

    [LibraryImport(CudaLibraries.CublasLt)]
    public static unsafe partial int cublasLtMatmulAlgoGetHeuristic(IntPtr handle, IntPtr desc, IntPtr aDesc, IntPtr bDesc, IntPtr cDesc, IntPtr dDesc,
        IntPtr pref, int requested, HeuristicResult* results, out int returned);

    [LibraryImport(CudaLibraries.CublasLt)]
    public static unsafe partial int cublasLtMatmul(IntPtr handle, IntPtr desc, float* alpha, ulong a, IntPtr aDesc, ulong b, IntPtr bDesc,
        float* beta, ulong c, IntPtr cDesc, ulong d, IntPtr dDesc, ulong* algo, ulong workspace, nuint workspaceBytes, IntPtr stream);

    /// <summary>Throws a <see cref="CudaException"/> naming the call and cuBLASLt's status name and text.</summary>
    public static void Check(int status, string call)
    {
        if (status == CublasApi.Success) return;
        string? name = null, text = null;
        try
        {
            var n = cublasLtGetStatusName(status);
            var t = cublasLtGetStatusString(status);
            if (n != IntPtr.Zero) name = Marshal.PtrToStringUTF8(n);
            if (t != IntPtr.Zero) text = Marshal.PtrToStringUTF8(t);
        }
        catch (EntryPointNotFoundException)
        {
            // Older cuBLASLt without status strings: the code still names the status.
        }
        throw new CudaException(call, status, "cuBLASLt", name ?? CublasApi.StatusName(status), text);
    }

    /// <summary>Sets a 4-byte descriptor attribute.</summary>
    public static unsafe int SetDesc(IntPtr desc, int attr, int value) => cublasLtMatmulDescSetAttribute(desc, attr, &value, 4);

    public static unsafe int SetDesc(IntPtr desc, int attr, ulong value) => cublasLtMatmulDescSetAttribute(desc, attr, &value, 8);

    public static unsafe int SetLayout(IntPtr layout, int attr, int value) => cublasLtMatrixLayoutSetAttribute(layout, attr, &value, 4);

    public static unsafe int SetPref(IntPtr pref, int attr, ulong value) => cublasLtMatmulPreferenceSetAttribute(pref, attr, &value, 8);
}

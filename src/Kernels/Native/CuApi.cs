using System.Runtime.InteropServices;

namespace LearningCurves.Kernels.Native;

/// <summary>CUDA driver API (libcuda). Versioned entry points (_v2) are the ones current drivers export for the
/// 64-bit size_t signatures. Handles are passed as IntPtr here and owned by the SafeHandles in CudaHandles.cs.</summary>
internal static partial class CuApi
{
    public const int Success = 0;
    public const int ErrorOutOfMemory = 2;
    public const int ErrorNoDevice = 100;

    public const int AttrMultiprocessorCount = 16;
    public const int AttrL2CacheSize = 38;
    public const int AttrComputeCapabilityMajor = 75;
    public const int AttrComputeCapabilityMinor = 76;
    public const int AttrMaxSharedMemoryPerBlockOptin = 97;

    public const int FuncAttrMaxDynamicSharedSizeBytes = 8;

    public const uint StreamNonBlocking = 1;
    public const uint EventDefault = 0;
    public const uint EventDisableTiming = 2;
    public const uint MemHostAllocPortable = 1;

    public const int JitInfoLogBuffer = 3;
    public const int JitInfoLogBufferSizeBytes = 4;
    public const int JitErrorLogBuffer = 5;
    public const int JitErrorLogBufferSizeBytes = 6;

    // Stream capture (cuda.h): CUstreamCaptureMode and CUstreamCaptureStatus, and the capture errors.
    public const int StreamCaptureModeGlobal = 0;
    public const int StreamCaptureModeThreadLocal = 1;
    public const int StreamCaptureModeRelaxed = 2;
    public const int StreamCaptureStatusNone = 0;
    public const int StreamCaptureStatusActive = 1;
    public const int StreamCaptureStatusInvalidated = 2;
    public const int ErrorStreamCaptureUnsupported = 900;
    public const int ErrorStreamCaptureInvalidated = 901;
    public const int ErrorCapturedEvent = 907;

    [LibraryImport(CudaLibraries.Driver)] public static partial int cuInit(uint flags);
    [LibraryImport(CudaLibraries.Driver)] public static partial int cuDriverGetVersion(out int version);
    [LibraryImport(CudaLibraries.Driver)] public static partial int cuDeviceGetCount(out int count);
    [LibraryImport(CudaLibraries.Driver)] public static partial int cuDeviceGet(out int device, int ordinal);
    [LibraryImport(CudaLibraries.Driver)] public static unsafe partial int cuDeviceGetName(byte* name, int len, int device);
    [LibraryImport(CudaLibraries.Driver)] public static partial int cuDeviceGetAttribute(out int value, int attribute, int device);
    [LibraryImport(CudaLibraries.Driver)] public static partial int cuDeviceTotalMem_v2(out nuint bytes, int device);
    [LibraryImport(CudaLibraries.Driver)] public static partial int cuDevicePrimaryCtxRetain(out IntPtr context, int device);
    [LibraryImport(CudaLibraries.Driver)] public static partial int cuDevicePrimaryCtxRelease_v2(int device);
    [LibraryImport(CudaLibraries.Driver)] public static partial int cuCtxSetCurrent(IntPtr context);
    [LibraryImport(CudaLibraries.Driver)] public static partial int cuCtxSynchronize();
    [LibraryImport(CudaLibraries.Driver)] public static partial int cuMemGetInfo_v2(out nuint free, out nuint total);
    [LibraryImport(CudaLibraries.Driver)] public static partial int cuMemAlloc_v2(out ulong devicePtr, nuint bytes);
    [LibraryImport(CudaLibraries.Driver)] public static partial int cuMemFree_v2(ulong devicePtr);
    [LibraryImport(CudaLibraries.Driver)] public static partial int cuMemHostAlloc(out IntPtr hostPtr, nuint bytes, uint flags);
    [LibraryImport(CudaLibraries.Driver)] public static partial int cuMemFreeHost(IntPtr hostPtr);
    [LibraryImport(CudaLibraries.Driver)] public static partial int cuMemcpyHtoDAsync_v2(ulong dst, IntPtr src, nuint bytes, IntPtr stream);
    [LibraryImport(CudaLibraries.Driver)] public static partial int cuMemcpyDtoHAsync_v2(IntPtr dst, ulong src, nuint bytes, IntPtr stream);
    [LibraryImport(CudaLibraries.Driver)] public static partial int cuMemsetD32Async(ulong dst, uint value, nuint count, IntPtr stream);
    [LibraryImport(CudaLibraries.Driver)] public static unsafe partial int cuModuleLoadDataEx(out IntPtr module, byte* image, uint numOptions, int* options, IntPtr* optionValues);
    [LibraryImport(CudaLibraries.Driver)] public static partial int cuModuleUnload(IntPtr module);
    [LibraryImport(CudaLibraries.Driver, StringMarshalling = StringMarshalling.Utf8)] public static partial int cuModuleGetFunction(out IntPtr function, IntPtr module, string name);
    [LibraryImport(CudaLibraries.Driver)] public static partial int cuFuncSetAttribute(IntPtr function, int attribute, int value);
    [LibraryImport(CudaLibraries.Driver)]
    public static unsafe partial int cuLaunchKernel(IntPtr function, uint gridX, uint gridY, uint gridZ, uint blockX, uint blockY, uint blockZ,
        uint sharedMemBytes, IntPtr stream, void** kernelParams, void** extra);
    [LibraryImport(CudaLibraries.Driver)] public static partial int cuStreamCreate(out IntPtr stream, uint flags);
    [LibraryImport(CudaLibraries.Driver)] public static partial int cuStreamDestroy_v2(IntPtr stream);
    [LibraryImport(CudaLibraries.Driver)] public static partial int cuStreamSynchronize(IntPtr stream);
    [LibraryImport(CudaLibraries.Driver)] public static partial int cuEventCreate(out IntPtr evt, uint flags);
    [LibraryImport(CudaLibraries.Driver)] public static partial int cuEventDestroy_v2(IntPtr evt);
    [LibraryImport(CudaLibraries.Driver)] public static partial int cuEventRecord(IntPtr evt, IntPtr stream);
    [LibraryImport(CudaLibraries.Driver)] public static partial int cuEventSynchronize(IntPtr evt);
    [LibraryImport(CudaLibraries.Driver)] public static partial int cuEventElapsedTime(out float milliseconds, IntPtr start, IntPtr end);
    [LibraryImport(CudaLibraries.Driver)] public static partial int cuStreamBeginCapture_v2(IntPtr stream, int mode);
    [LibraryImport(CudaLibraries.Driver)] public static partial int cuStreamEndCapture(IntPtr stream, out IntPtr graph);
    [LibraryImport(CudaLibraries.Driver)] public static partial int cuStreamIsCapturing(IntPtr stream, out int status);
    [LibraryImport(CudaLibraries.Driver)] public static partial int cuGraphInstantiateWithFlags(out IntPtr graphExec, IntPtr graph, ulong flags);
    [LibraryImport(CudaLibraries.Driver)] public static partial int cuGraphLaunch(IntPtr graphExec, IntPtr stream);
    [LibraryImport(CudaLibraries.Driver)] public static partial int cuGraphExecDestroy(IntPtr graphExec);
    [LibraryImport(CudaLibraries.Driver)] public static partial int cuGraphDestroy(IntPtr graph);
    [LibraryImport(CudaLibraries.Driver)] public static partial int cuGetErrorName(int error, out IntPtr name);
    [LibraryImport(CudaLibraries.Driver)] public static partial int cuGetErrorString(int error, out IntPtr text);

    /// <summary>Throws a <see cref="CudaException"/> naming <paramref name="call"/> and the driver's error name and text.</summary>
    public static void Check(int result, string call)
    {
        if (result != Success) throw Error(result, call);
    }

    public static CudaException Error(int result, string call, string? log = null)
    {
        var (name, text) = Describe(result);
        return new CudaException(call, result, "CUDA", name, text, log);
    }

    /// <summary>The driver's name and description of an error code (null when it does not know the code).</summary>
    public static (string? Name, string? Text) Describe(int result)
    {
        string? name = null, text = null;
        if (cuGetErrorName(result, out var n) == Success && n != IntPtr.Zero) name = Marshal.PtrToStringUTF8(n);
        if (cuGetErrorString(result, out var t) == Success && t != IntPtr.Zero) text = Marshal.PtrToStringUTF8(t);
        return (name, text);
    }
}

/// <summary>NVRTC, the run-time CUDA C++ compiler.</summary>
internal static partial class NvrtcApi
{
    public const int Success = 0;
    public const int ErrorCompilation = 6;

    [LibraryImport(CudaLibraries.Nvrtc)] public static partial int nvrtcVersion(out int major, out int minor);
    [LibraryImport(CudaLibraries.Nvrtc)] public static partial int nvrtcGetNumSupportedArchs(out int count);
    [LibraryImport(CudaLibraries.Nvrtc)] public static unsafe partial int nvrtcGetSupportedArchs(int* archs);
    [LibraryImport(CudaLibraries.Nvrtc, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int nvrtcCreateProgram(out IntPtr program, string source, string name, int numHeaders, IntPtr headers, IntPtr includeNames);
    [LibraryImport(CudaLibraries.Nvrtc)] public static unsafe partial int nvrtcCompileProgram(IntPtr program, int numOptions, byte** options);
    [LibraryImport(CudaLibraries.Nvrtc)] public static partial int nvrtcGetProgramLogSize(IntPtr program, out nuint size);
    [LibraryImport(CudaLibraries.Nvrtc)] public static unsafe partial int nvrtcGetProgramLog(IntPtr program, byte* log);
    [LibraryImport(CudaLibraries.Nvrtc)] public static partial int nvrtcGetCUBINSize(IntPtr program, out nuint size);
    [LibraryImport(CudaLibraries.Nvrtc)] public static unsafe partial int nvrtcGetCUBIN(IntPtr program, byte* cubin);
    [LibraryImport(CudaLibraries.Nvrtc)] public static partial int nvrtcGetPTXSize(IntPtr program, out nuint size);
    [LibraryImport(CudaLibraries.Nvrtc)] public static unsafe partial int nvrtcGetPTX(IntPtr program, byte* ptx);
    [LibraryImport(CudaLibraries.Nvrtc)] public static partial int nvrtcDestroyProgram(ref IntPtr program);
    [LibraryImport(CudaLibraries.Nvrtc)] public static partial IntPtr nvrtcGetErrorString(int result);

    public static void Check(int result, string call, string? log = null)
    {
        if (result == Success) return;
        var p = nvrtcGetErrorString(result);
        var name = p == IntPtr.Zero ? null : Marshal.PtrToStringUTF8(p);
        throw new CudaException(call, result, "NVRTC", name, null, log);
    }
}

/// <summary>cuBLAS (column-major BLAS on the device).</summary>
internal static partial class CublasApi
{
    public const int Success = 0;
    public const int OpN = 0;
    public const int OpT = 1;

    public const int DefaultMath = 0;
    public const int PedanticMath = 2;
    public const int Tf32TensorOpMath = 3;

    public const int R32F = 0;
    public const int R16F = 2;
    public const int R16BF = 14;

    public const int Compute32F = 68;
    public const int Compute32FPedantic = 69;
    public const int Compute32FFastTf32 = 77;

    public const int GemmDefault = -1;

    [LibraryImport(CudaLibraries.Cublas)] public static partial int cublasCreate_v2(out IntPtr handle);
    [LibraryImport(CudaLibraries.Cublas)] public static partial int cublasDestroy_v2(IntPtr handle);
    [LibraryImport(CudaLibraries.Cublas)] public static partial int cublasGetVersion_v2(IntPtr handle, out int version);
    [LibraryImport(CudaLibraries.Cublas)] public static partial int cublasSetStream_v2(IntPtr handle, IntPtr stream);
    [LibraryImport(CudaLibraries.Cublas)] public static partial int cublasSetMathMode(IntPtr handle, int mode);
    [LibraryImport(CudaLibraries.Cublas)] public static partial int cublasSetWorkspace_v2(IntPtr handle, ulong workspace, nuint bytes);

    [LibraryImport(CudaLibraries.Cublas)]
    public static partial int cublasGemmEx(IntPtr handle, int transA, int transB, int m, int n, int k,
        in float alpha, ulong a, int aType, int lda, ulong b, int bType, int ldb, in float beta, ulong c, int cType, int ldc,
        int computeType, int algo);

    [LibraryImport(CudaLibraries.Cublas)]
    public static partial int cublasGemmStridedBatchedEx(IntPtr handle, int transA, int transB, int m, int n, int k,
        in float alpha, ulong a, int aType, int lda, long strideA, ulong b, int bType, int ldb, long strideB,
        in float beta, ulong c, int cType, int ldc, long strideC, int batchCount, int computeType, int algo);

    [LibraryImport(CudaLibraries.Cublas)] public static partial IntPtr cublasGetStatusName(int status);
    [LibraryImport(CudaLibraries.Cublas)] public static partial IntPtr cublasGetStatusString(int status);

    public static void Check(int status, string call)
    {
        if (status == Success) return;
        string? name = null, text = null;
        try
        {
            var n = cublasGetStatusName(status);
            var t = cublasGetStatusString(status);
            if (n != IntPtr.Zero) name = Marshal.PtrToStringUTF8(n);
            if (t != IntPtr.Zero) text = Marshal.PtrToStringUTF8(t);
        }
        catch (EntryPointNotFoundException)
        {
            // cuBLAS before 11.4 has no status strings; the code alone still identifies the error.
        }
        throw new CudaException(call, status, "cuBLAS", name ?? StatusName(status), text);
    }

    /// <summary>cuBLAS status names by code (cublas_api.h), for libraries without cublasGetStatusName.</summary>
    public static string? StatusName(int status) => status switch
    {
        0 => "CUBLAS_STATUS_SUCCESS",
        1 => "CUBLAS_STATUS_NOT_INITIALIZED",
        3 => "CUBLAS_STATUS_ALLOC_FAILED",
        7 => "CUBLAS_STATUS_INVALID_VALUE",
        8 => "CUBLAS_STATUS_ARCH_MISMATCH",
        11 => "CUBLAS_STATUS_MAPPING_ERROR",
        13 => "CUBLAS_STATUS_EXECUTION_FAILED",
        14 => "CUBLAS_STATUS_INTERNAL_ERROR",
        15 => "CUBLAS_STATUS_NOT_SUPPORTED",
        16 => "CUBLAS_STATUS_LICENSE_ERROR",
        _ => null,
    };
}

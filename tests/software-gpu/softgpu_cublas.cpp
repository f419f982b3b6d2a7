// softgpu_cublas.cpp: the software GPU's libcublas.so.12: the cuBLAS calls CudaBackend binds (handle, stream, math
// mode, workspace, GemmEx, GemmStridedBatchedEx, status strings), following cuBLAS's documented column-major
// semantics: C = alpha op(A) op(B) + beta C with op = N / T / C (C = T for real types), leading dimensions and batch
// strides in elements, A/B in f32, f16 or bf16 converted to f32 with f32 accumulation, C in f32, f16 or bf16, C not
// read when beta is 0. Mixed f32 / 16-bit inputs into f32 C are accepted, as cuBLAS 13.0 accepted them on an H200
// (not in the documented table). TF32: inputs rounded to 10 mantissa bits (nearest, ties away from zero, as
// cvt.rna.tf32.f32) for CUBLAS_COMPUTE_32F_FAST_TF32, and for CUBLAS_COMPUTE_32F with f32 inputs under
// CUBLAS_TF32_TENSOR_OP_MATH; never for the pedantic compute type or with NVIDIA_TF32_OVERRIDE=0. (Real cuBLAS kernels
// differ in how they make TF32: some round to nearest, some truncate; the tests bound both, docs/cuda.md.) Argument
// errors are the documented statuses: CUBLAS_STATUS_INVALID_VALUE for negative sizes, bad leading dimensions or a bad
// operation, with the line cuBLAS prints on stderr (" ** On entry to GEMM_EX  parameter number N had an illegal
// value"); CUBLAS_STATUS_NOT_SUPPORTED for type / compute combinations cuBLAS does not offer. The product runs as stream
// work of the driver shim (deferred like kernels), after every operand range has been checked against the device
// allocations.
#include "softgpu.h"
#include "softgpu_blas.h"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#define API extern "C" __attribute__((visibility("default")))

namespace {

enum : int { kDefaultMath = 0, kTensorOpMath = 1, kPedanticMath = 2, kTf32TensorOpMath = 3, kDisallowReducedPrecision = 16 };

struct Handle
{
    void* stream = nullptr;
    int mathMode = kDefaultMath;
};

std::mutex g_mutex;
std::set<Handle*> g_handles;

Handle* handleOf(void* h)
{
    std::lock_guard<std::mutex> lock(g_mutex);
    auto* p = static_cast<Handle*>(h);
    return g_handles.count(p) ? p : nullptr;
}


bool tf32Disabled()
{
    const char* e = std::getenv("NVIDIA_TF32_OVERRIDE");
    return e && std::strcmp(e, "0") == 0;
}

struct Gemm
{
    int transA, transB, m, n, k;
    float alpha, beta;
    uint64_t a, b, c;
    int aType, bType, cType;
    long long lda, ldb, ldc, strideA, strideB, strideC;
    int batch;
    bool tf32;
    const char* call;
};

// Elements spanned by one column-major operand of rows x cols with leading dimension ld: (cols - 1) ld + rows.
size_t span(long long rows, long long cols, long long ld) { return rows == 0 || cols == 0 ? 0 : (size_t)((cols - 1) * ld + rows); }

int runGemm(void* ctx, char* why, size_t whyLen)
{
    const Gemm& g = *static_cast<Gemm*>(ctx);
    long long aRows = g.transA == 0 ? g.m : g.k, aCols = g.transA == 0 ? g.k : g.m;
    long long bRows = g.transB == 0 ? g.k : g.n, bCols = g.transB == 0 ? g.n : g.k;
    for (int p = 0; p < g.batch; p++) {
        uint64_t a = g.a + (uint64_t)(p * g.strideA) * elemSize(g.aType), b = g.b + (uint64_t)(p * g.strideB) * elemSize(g.bType),
                 c = g.c + (uint64_t)(p * g.strideC) * elemSize(g.cType);
        char inner[400];
        struct { const char* what; uint64_t ptr; size_t bytes; } ranges[] = {
            {"A", a, span(aRows, aCols, g.lda) * elemSize(g.aType)},
            {"B", b, span(bRows, bCols, g.ldb) * elemSize(g.bType)},
            {"C", c, span(g.m, g.n, g.ldc) * elemSize(g.cType)},
        };
        for (const auto& r : ranges) {
            if (r.bytes == 0) continue;
            if (int e = lcsg_check_device_range(r.ptr, r.bytes, inner, sizeof inner)) {
                std::snprintf(why, whyLen, "%s: operand %s of batch %d: %s", g.call, r.what, p, inner);
                return e;
            }
        }
        const void *A = reinterpret_cast<const void*>(a), *B = reinterpret_cast<const void*>(b);
        void* C = reinterpret_cast<void*>(c);
        // op(A) row by row and op(B) column by column, each contiguous in k, as f32 (TF32-rounded where allowed).
        std::vector<float> ap((size_t)g.m * g.k), bp((size_t)g.n * g.k);
        for (long long i = 0; i < g.m; i++)
            for (long long q = 0; q < g.k; q++) {
                size_t idx = g.transA == 0 ? (size_t)(i + q * g.lda) : (size_t)(q + i * g.lda);
                float v = load(A, g.aType, idx);
                ap[(size_t)i * g.k + q] = g.tf32 ? roundTf32(v) : v;
            }
        for (long long j = 0; j < g.n; j++)
            for (long long q = 0; q < g.k; q++) {
                size_t idx = g.transB == 0 ? (size_t)(q + j * g.ldb) : (size_t)(j + q * g.ldb);
                float v = load(B, g.bType, idx);
                bp[(size_t)j * g.k + q] = g.tf32 ? roundTf32(v) : v;
            }
        for (long long j = 0; j < g.n; j++) {
            const float* bj = bp.data() + (size_t)j * g.k;
            for (long long i = 0; i < g.m; i++) {
                const float* ai = ap.data() + (size_t)i * g.k;
                // Eight partial sums (f32, as the compute type says), then their sum.
                float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
                long long q = 0;
                for (; q + 8 <= g.k; q += 8)
                    for (int u = 0; u < 8; u++) s[u] += ai[q + u] * bj[q + u];
                for (; q < g.k; q++) s[q & 7] += ai[q] * bj[q];
                float dot = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
                size_t ci = (size_t)(i + j * g.ldc);
                float v = g.alpha * dot;
                if (g.beta != 0) v += g.beta * load(C, g.cType, ci);
                store(C, g.cType, ci, v);
            }
        }
    }
    return 0;
}

bool validOp(int op) { return op == 0 || op == 1 || op == 2; }

// cuBLAS's argument check: INVALID_VALUE, with the line cuBLAS prints to stderr naming the offending parameter, counted
// from transa = 1 as cuBLAS counts them (cublasGemmEx: m 3, n 4, k 5, lda 9, ldb 12, ldc 16; seen on an H200 with
// cuBLAS 13.0; cublasGemmStridedBatchedEx: lda 9, ldb 13, ldc 18, batchCount 20).
int illegal(const char* routine, int parameter)
{
    std::fprintf(stderr, " ** On entry to %s  parameter number %d had an illegal value\n", routine, parameter);
    return kInvalidValue;
}

int submit(Handle* h, Gemm g)
{
    if (!h) return kNotInitialized;
    bool batched = std::strcmp(g.call, "cublasGemmEx") != 0;
    const char* routine = batched ? "GEMM_STRIDED_BATCHED_EX" : "GEMM_EX";
    if (!validOp(g.transA)) return illegal(routine, 1);
    if (!validOp(g.transB)) return illegal(routine, 2);
    if (g.m < 0) return illegal(routine, 3);
    if (g.n < 0) return illegal(routine, 4);
    if (g.k < 0) return illegal(routine, 5);
    g.transA = g.transA == 2 ? 1 : g.transA; // conjugate transpose is the transpose for real types
    g.transB = g.transB == 2 ? 1 : g.transB;
    long long needA = g.transA == 0 ? g.m : g.k, needB = g.transB == 0 ? g.k : g.n;
    if (g.lda < std::max(1LL, needA)) return illegal(routine, 9);
    if (g.ldb < std::max(1LL, needB)) return illegal(routine, batched ? 13 : 12);
    if (g.ldc < std::max(1LL, (long long)g.m)) return illegal(routine, batched ? 18 : 16);
    if (g.batch < 0) return illegal(routine, 20);
    if (g.m == 0 || g.n == 0 || g.batch == 0) return kSuccess;
    if (!lcsg_context_current()) lcsg_bind_primary_context(); // the runtime binds the primary context for cuBLAS
    if (!lcsg_context_current()) return kNotInitialized;
    if (lcsg_check_stream(h->stream)) return kInvalidValue;
    auto* copy = new Gemm(g);
    // The cost model's count (exact, from the shapes): C is read only when beta != 0 and is also the output D.
    int math = g.aType != kR32F ? LCSG_MATH_16BIT : g.tf32 ? LCSG_MATH_TF32 : LCSG_MATH_FP32;
    lcsg_gemm_cost cost = lcsg_gemm_cost_of(g.m, g.n, g.k, g.batch, (int)elemSize(g.aType), (int)elemSize(g.bType),
        (int)elemSize(g.cType), (int)elemSize(g.cType), g.beta != 0, math);
    int r = lcsg_enqueue_gemm(h->stream, g.call, runGemm, copy, [](void* p) { delete static_cast<Gemm*>(p); }, &cost);
    return r ? kExecutionFailed : kSuccess;
}

// cuBLAS's f32-compute combinations: (A, B) both f32, f16 or bf16; C f32, or the inputs' own 16-bit type. Beyond the
// documented table, cuBLAS 13.0 accepted f32 A with bf16 B into f32 C (H200, 2026-12-04): the shim accepts mixed f32 /
// 16-bit inputs into f32 C under 32F compute and computes the product of the converted values.
bool supported(int aType, int bType, int cType, int compute)
{
    if (compute == kCompute32FFastTf32) return aType == kR32F && bType == kR32F && cType == kR32F;
    if (compute != kCompute32F && compute != kCompute32FPedantic) return false;
    auto known = [](int t) { return t == kR32F || t == kR16F || t == kR16BF; };
    if (!known(aType) || !known(bType)) return false;
    if (aType != bType) return cType == kR32F && (aType == kR32F || bType == kR32F);
    if (aType == kR32F) return cType == kR32F;
    return cType == kR32F || cType == aType;
}

bool useTf32(const Handle* h, int aType, int bType, int compute)
{
    if (tf32Disabled() || aType != kR32F || bType != kR32F) return false;
    if (compute == kCompute32FFastTf32) return true;
    return compute == kCompute32F && (h->mathMode & 0xf) == kTf32TensorOpMath;
}

} // namespace

API int cublasCreate_v2(void** handle)
{
    if (!handle) return kInvalidValue;
    if (!lcsg_context_current()) lcsg_bind_primary_context();
    if (!lcsg_context_current()) return kNotInitialized;
    auto* h = new Handle;
    std::lock_guard<std::mutex> lock(g_mutex);
    g_handles.insert(h);
    *handle = h;
    return kSuccess;
}

API int cublasDestroy_v2(void* handle)
{
    std::lock_guard<std::mutex> lock(g_mutex);
    auto* h = static_cast<Handle*>(handle);
    if (!g_handles.erase(h)) return kNotInitialized;
    delete h;
    return kSuccess;
}

API int cublasGetVersion_v2(void* handle, int* version)
{
    if (!handleOf(handle)) return kNotInitialized;
    if (!version) return kInvalidValue;
    *version = 120800;
    return kSuccess;
}

API int cublasSetStream_v2(void* handle, void* stream)
{
    Handle* h = handleOf(handle);
    if (!h) return kNotInitialized;
    if (lcsg_check_stream(stream)) return kInvalidValue;
    h->stream = stream;
    return kSuccess;
}

API int cublasSetMathMode(void* handle, int mode)
{
    Handle* h = handleOf(handle);
    if (!h) return kNotInitialized;
    int base = mode & ~kDisallowReducedPrecision;
    if (base != kDefaultMath && base != kTensorOpMath && base != kPedanticMath && base != kTf32TensorOpMath) return kInvalidValue;
    h->mathMode = mode;
    return kSuccess;
}

API int cublasSetWorkspace_v2(void* handle, uint64_t workspace, size_t bytes)
{
    Handle* h = handleOf(handle);
    if (!h) return kNotInitialized;
    if (bytes > 0) {
        char why[400];
        if (lcsg_check_device_range(workspace, bytes, why, sizeof why)) return kInvalidValue;
    }
    return kSuccess;
}

API int cublasGemmEx(void* handle, int transA, int transB, int m, int n, int k, const void* alpha, uint64_t a, int aType, int lda,
    uint64_t b, int bType, int ldb, const void* beta, uint64_t c, int cType, int ldc, int compute, int algo)
{
    Handle* h = handleOf(handle);
    if (!h) return kNotInitialized;
    if (!alpha || !beta) return kInvalidValue;
    (void)algo; // every algorithm computes the same product here
    if (!supported(aType, bType, cType, compute)) return kNotSupported;
    return submit(h, Gemm{transA, transB, m, n, k, *static_cast<const float*>(alpha), *static_cast<const float*>(beta), a, b, c,
        aType, bType, cType, lda, ldb, ldc, 0, 0, 0, 1, useTf32(h, aType, bType, compute), "cublasGemmEx"});
}

API int cublasGemmStridedBatchedEx(void* handle, int transA, int transB, int m, int n, int k, const void* alpha, uint64_t a,
    int aType, int lda, long long strideA, uint64_t b, int bType, int ldb, long long strideB, const void* beta, uint64_t c,
    int cType, int ldc, long long strideC, int batch, int compute, int algo)
{
    Handle* h = handleOf(handle);
    if (!h) return kNotInitialized;
    if (!alpha || !beta) return kInvalidValue;
    (void)algo;
    if (!supported(aType, bType, cType, compute)) return kNotSupported;
    return submit(h, Gemm{transA, transB, m, n, k, *static_cast<const float*>(alpha), *static_cast<const float*>(beta), a, b, c,
        aType, bType, cType, lda, ldb, ldc, strideA, strideB, strideC, batch, useTf32(h, aType, bType, compute), "cublasGemmStridedBatchedEx"});
}

API const char* cublasGetStatusName(int status) { return blasStatusName(status); }

API const char* cublasGetStatusString(int status)
{
    switch (status) {
    case kSuccess: return "the operation completed successfully";
    case kNotInitialized: return "the library was not initialized";
    case kAllocFailed: return "the resource allocation failed";
    case kInvalidValue: return "an unsupported value or parameter was passed to the function";
    case kArchMismatch: return "the function requires a feature absent from the device architecture";
    case kMappingError: return "an access to GPU memory space failed";
    case kExecutionFailed: return "the GPU program failed to execute";
    case kInternalError: return "an internal operation failed";
    case kNotSupported: return "the functionality requested is not supported";
    case kLicenseError: return "the functionality requested requires some license";
    default: return "unknown status";
    }
}

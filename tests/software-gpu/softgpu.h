// softgpu.h: what the software GPU's cuBLAS shim (libcublas.so.12) uses of its driver shim (libcuda.so.1), as a
// small C ABI exported by the driver shim. Nothing of this is CUDA's API; CudaBackend never sees it.
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// Work queued on a stream: returns 0, or a CUresult after writing a one-line reason into why[0..whyLen).
typedef int (*lcsg_work_fn)(void* ctx, char* why, size_t whyLen);

// 1 when the calling thread has the (only) context current.
int lcsg_context_current(void);
// Makes the primary context current on the calling thread, as the CUDA runtime does for cuBLAS when a thread has none.
void lcsg_bind_primary_context(void);
// 0 when [ptr, ptr + bytes) lies inside one live device allocation; else a CUresult and the reason.
int lcsg_check_device_range(uint64_t ptr, size_t bytes, char* why, size_t whyLen);
// 0 when the stream handle is 0 (the legacy default stream) or a live stream.
int lcsg_check_stream(void* stream);
// Queues work on a stream (runs it at once in eager mode); destroy(ctx) is called after it ran or was dropped.
// Returns the context's sticky error, if any (the work is then dropped), else 0.
int lcsg_enqueue(void* stream, const char* name, lcsg_work_fn run, void* ctx, void (*destroy)(void*));

// ---- the cost model's counts (see README.md, "Cost counters") ----

// What bounds a GEMM's FLOPs on a real card: 16-bit tensor cores (bf16 / f16 inputs), TF32 tensor cores (f32 inputs
// rounded to TF32), or plain fp32 FMA units.
enum { LCSG_MATH_NONE = 0, LCSG_MATH_FP32 = 1, LCSG_MATH_TF32 = 2, LCSG_MATH_16BIT = 3 };

// The exact cost of one GEMM call, from its shapes and types (never measured).
typedef struct lcsg_gemm_cost
{
    double bytes_read;    // A and B, plus C when beta != 0
    double bytes_written; // D (the output)
    double flops;         // 2 m n k per batch entry
    int math;             // LCSG_MATH_*
} lcsg_gemm_cost;

// The cost of D = alpha op(A) op(B) + beta C over `batch` products of m x n x k, with elements of aBytes, bBytes,
// cBytes (C, read only when beta != 0) and dBytes (D). Every GEMM shim (cuBLAS, cuBLASLt) computes its cost with this.
static inline lcsg_gemm_cost lcsg_gemm_cost_of(long long m, long long n, long long k, long long batch, int aBytes,
    int bBytes, int cBytes, int dBytes, int betaNonZero, int math)
{
    lcsg_gemm_cost c;
    double mn = (double)m * (double)n, b = (double)batch;
    c.bytes_read = b * ((double)m * (double)k * aBytes + (double)k * (double)n * bBytes + (betaNonZero ? mn * cBytes : 0.0));
    c.bytes_written = b * mn * dBytes;
    c.flops = 2.0 * b * mn * (double)k;
    c.math = math;
    return c;
}

// lcsg_enqueue for a GEMM: the same, with its cost attached (counted when the work runs, also in dry-run mode; in
// cost mode 2 the product itself is skipped: see lcsg_cost_enable).
int lcsg_enqueue_gemm(void* stream, const char* name, lcsg_work_fn run, void* ctx, void (*destroy)(void*), const lcsg_gemm_cost* cost);

#ifdef __cplusplus
}
#endif

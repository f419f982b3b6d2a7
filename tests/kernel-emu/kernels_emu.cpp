// kernels_emu.cpp: kernels.cu under the CPU emulator, with a C ABI for the tests: one
// `int launch_<kernel>(lc_dim3 grid, lc_dim3 block, unsigned shared, kernel args...)` per kernel, returning 0 or -1
// (then lc_emu_last_error() says why). Built by build.sh (the C# test fixture runs it and caches the library).
#include "cuda_emu.h"
#include "../../kernels.cu"

#define LC_API extern "C" __attribute__((visibility("default")))
#define LC_UNPAREN(...) __VA_ARGS__
#define LC_EXPORT(name, params, args)                                                          \
    LC_API int launch_##name(lc_dim3 grid, lc_dim3 block, unsigned shared, LC_UNPAREN params) \
    {                                                                                          \
        return lc_emu::launch(grid, block, shared, [&] { name args; });                      \
    }

LC_API const char* lc_emu_last_error() { return lc_emu::lastError().c_str(); }

LC_EXPORT(embed_forward, (float* out, const int* tokens, const float* wte, const float* wpe, int B, int T, int C),
    (out, tokens, wte, wpe, B, T, C))
LC_EXPORT(layernorm_forward, (float* out, const float* inp, const float* weight, const float* bias, int rows, int C, float eps),
    (out, inp, weight, bias, rows, C, eps))
LC_EXPORT(layernorm_forward_bf16, (unsigned short* out, const float* inp, const float* weight, const float* bias, int rows, int C,
    float eps), (out, inp, weight, bias, rows, C, eps))
LC_EXPORT(fused_residual_layernorm, (float* residual, float* norm, const float* y, const float* bias, const float* weight,
    const float* lnBias, int rows, int C, float eps), (residual, norm, y, bias, weight, lnBias, rows, C, eps))
LC_EXPORT(fused_residual_layernorm_bf16, (float* residual, unsigned short* norm, const float* y, const float* bias,
    const float* weight, const float* lnBias, int rows, int C, float eps), (residual, norm, y, bias, weight, lnBias, rows, C, eps))
LC_EXPORT(epilogue_bias_bf16, (unsigned short* out, const float* inp, const float* bias, int rows, int cols), (out, inp, bias, rows, cols))
LC_EXPORT(epilogue_bias_gelu_bf16, (unsigned short* out, const float* inp, const float* bias, int rows, int cols),
    (out, inp, bias, rows, cols))
LC_EXPORT(gelu_erf_forward_bf16, (unsigned short* x, long long n), (x, n))
LC_EXPORT(rotary_forward_bf16, (unsigned short* qkv, const float* cosT, const float* sinT, int B, int T, int C, int NH, int R),
    (qkv, cosT, sinT, B, T, C, NH, R))
LC_EXPORT(gather_rows_bf16, (unsigned short* out, const unsigned short* inp, const int* rows, int count, int C), (out, inp, rows, count, C))
LC_EXPORT(bias_add, (float* x, const float* bias, int rows, int cols), (x, bias, rows, cols))
LC_EXPORT(bias_gelu_forward, (float* x, const float* bias, int rows, int cols), (x, bias, rows, cols))
LC_EXPORT(gelu_erf_forward, (float* x, long long n), (x, n))
LC_EXPORT(rotary_forward, (float* qkv, const float* cosT, const float* sinT, int B, int T, int C, int NH, int R),
    (qkv, cosT, sinT, B, T, C, NH, R))
LC_EXPORT(residual_add, (float* x, const float* y, long long n), (x, y, n))
LC_EXPORT(residual_bias_add, (float* x, const float* y, const float* bias, int rows, int cols), (x, y, bias, rows, cols))
LC_EXPORT(gather_rows, (float* out, const float* inp, const int* rows, int count, int C), (out, inp, rows, count, C))
LC_EXPORT(qkv_split_heads, (float* q, float* k, float* v, const float* qkv, int B, int T, int NH, int HS),
    (q, k, v, qkv, B, T, NH, HS))
LC_EXPORT(merge_heads, (float* out, const float* y, int B, int T, int NH, int HS), (out, y, B, T, NH, HS))
LC_EXPORT(softmax_causal, (float* att, int BH, int Tq, int Tk, int past, float scale), (att, BH, Tq, Tk, past, scale))
LC_EXPORT(attention_fused, (float* out, const float* qkv, int B, int T, int NH, int HS, float scale),
    (out, qkv, B, T, NH, HS, scale))
LC_EXPORT(kv_cache_write, (float* kCache, float* vCache, const float* qkv, int B, int Tnew, int past, int maxT, int C),
    (kCache, vCache, qkv, B, Tnew, past, maxT, C))
LC_EXPORT(attention_cached, (float* out, const float* qkv, const float* kCache, const float* vCache, int B, int Tnew,
    int past, int maxT, int NH, int HS, float scale), (out, qkv, kCache, vCache, B, Tnew, past, maxT, NH, HS, scale))
LC_EXPORT(surprisal_chunk, (float* state, const float* logits, const int* targets, int M, int cols, int ld, int chunkStart),
    (state, logits, targets, M, cols, ld, chunkStart))
LC_EXPORT(surprisal_finish, (float* out, const float* state, int M), (out, state, M))
LC_EXPORT(convert_f32_to_bf16, (unsigned short* out, const float* inp, long long n), (out, inp, n))
LC_EXPORT(convert_bf16_to_f32, (float* out, const unsigned short* inp, long long n), (out, inp, n))
LC_EXPORT(sgemm_tiled, (float* c, const float* a, const float* b, const float* bias, int M, int N, int K, int lda,
    int ldb, int ldc, int transB, long long strideA, long long strideB, long long strideC, float alpha),
    (c, a, b, bias, M, N, K, lda, ldb, ldc, transB, strideA, strideB, strideC, alpha))

// ---- emulator self-test kernels (not part of kernels.cu): they pin down the semantics kernels.cu relies on ----

// out (n, 4): per thread of a block, __shfl_xor_sync(5), __shfl_down_sync(3), __shfl_up_sync(2), __shfl_sync(7) of
// the value 10 * threadIdx.x.
__global__ void emu_selftest_shuffles(int* out)
{
    int t = threadIdx.x, v = 10 * t;
    out[4 * t + 0] = __shfl_xor_sync(0xffffffffu, v, 5);
    out[4 * t + 1] = __shfl_down_sync(0xffffffffu, v, 3);
    out[4 * t + 2] = __shfl_up_sync(0xffffffffu, v, 2);
    out[4 * t + 3] = __shfl_sync(0xffffffffu, v, 7);
}

// out (grid, block) = count of threads seen at a barrier (block size), then +1000 * (the count after the odd threads
// have returned, which must be the even threads only: exited threads leave the barrier).
__global__ void emu_selftest_barrier(int* out)
{
    __shared__ int count;
    int id = (blockIdx.z * gridDim.y + blockIdx.y) * gridDim.x + blockIdx.x;
    int t = (threadIdx.z * blockDim.y + threadIdx.y) * blockDim.x + threadIdx.x;
    int n = blockDim.x * blockDim.y * blockDim.z;
    int* o = out + (long long)id * n + t;
    if (t == 0) count = 0;
    __syncthreads();
    atomicAdd(&count, 1);
    __syncthreads();
    *o = count;
    __syncthreads();
    if (t == 0) count = 0;
    __syncthreads();
    if (t & 1) return;
    atomicAdd(&count, 1);
    __syncthreads();
    *o += 1000 * count;
}

// Half a warp at __syncwarp, the other half at __syncthreads: no barrier can open.
__global__ void emu_selftest_deadlock(int* out)
{
    if (threadIdx.x < 16) __syncwarp();
    else __syncthreads();
    out[threadIdx.x] = 1;
}

LC_EXPORT(emu_selftest_shuffles, (int* out), (out))
LC_EXPORT(emu_selftest_barrier, (int* out), (out))
LC_EXPORT(emu_selftest_deadlock, (int* out), (out))

// kernels_emu.cpp: kernels.cu under the CPU emulator, with a C ABI for the tests:
//   int lc_emu_launch(const char* kernel, lc_dim3 grid, lc_dim3 block, unsigned shared, void** params)
// runs any kernel of kernels.cu, reading params[i] as the i-th parameter's type (as cuLaunchKernel reads
// kernelParams); it returns 0, or -1 with lc_emu_last_error() saying why (an unknown kernel too).
//   int lc_emu_param_count(const char* kernel)   the kernel's parameter count, -1 when unknown.
// The kernel list is generated from kernels.cu (build.sh writes kernels.inc), so a new kernel needs no line here.
// Built by build.sh (the C# test fixture runs it and caches the library).
#include "cuda_emu.h"
#include "../../kernels.cu"
#include "kernel_table.h"

#define LC_API extern "C" __attribute__((visibility("default")))

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


// d (16,16) fp32 = a (16,16) @ b (16,16) + c (16,16); a, b bf16 row-major (b as (K,N)); one warp, mma m16n8k16 on the
// two 8-column tiles. mode 0: fragments gathered from global memory with the PTX ISA's index formulas; 1: A by
// ldmatrix.x4 and B by ldmatrix.x4.trans from row-major shared copies; 2: B by ldmatrix.x4 from a transposed (N,K)
// shared copy (how attention reads K); 3: as 0 with a deliberately wrong A layout (a[1] and a[2] swapped), which the
// tests expect to fail.
__global__ void emu_selftest_mma_bf16(float* d, const unsigned short* a, const unsigned short* b, const float* c, int mode)
{
    __shared__ __attribute__((aligned(16))) unsigned short as[16 * 24];
    __shared__ __attribute__((aligned(16))) unsigned short bs[16 * 24]; // rows of 24 elements: 48 bytes, 16-byte aligned
    int lane = threadIdx.x, g = lane >> 2, t = lane & 3, mi = lane >> 3, mr = lane & 7;
    for (int i = lane; i < 256; i += 32) {
        as[(i / 16) * 24 + i % 16] = a[i];
        bs[(i / 16) * 24 + i % 16] = mode == 2 ? b[(i % 16) * 16 + i / 16] : b[i];
    }
    __syncwarp();
    unsigned fa[4] = {0, 0, 0, 0}, fb[2][2] = {{0, 0}, {0, 0}};
    if (mode == 0 || mode == 3) {
        for (int i = 0; i < 8; i++) {
            int row = (i < 2 || (i >= 4 && i < 6)) ? g : g + 8, col = 2 * t + (i & 1) + (i >= 4 ? 8 : 0);
            fa[i / 2] |= (unsigned)a[row * 16 + col] << (16 * (i & 1));
        }
        if (mode == 3) { unsigned x = fa[1]; fa[1] = fa[2]; fa[2] = x; }
        for (int nt = 0; nt < 2; nt++)
            for (int i = 0; i < 4; i++) {
                int k = 2 * t + (i & 1) + (i >= 2 ? 8 : 0), n = nt * 8 + g;
                fb[nt][i / 2] |= (unsigned)b[k * 16 + n] << (16 * (i & 1));
            }
    } else {
        lc_ldmatrix_x4(fa, as + (mr + (mi & 1) * 8) * 24 + (mi >> 1) * 8);
        unsigned r[4];
        if (mode == 1) lc_ldmatrix_x4_trans(r, bs + (mr + (mi & 1) * 8) * 24 + (mi >> 1) * 8); // (k, n) tiles
        else lc_ldmatrix_x4(r, bs + (mr + (mi >> 1) * 8) * 24 + (mi & 1) * 8);                // (n, k) tiles
        fb[0][0] = r[0]; fb[0][1] = r[1]; fb[1][0] = r[2]; fb[1][1] = r[3];
    }
    for (int nt = 0; nt < 2; nt++) {
        float cc[4], dd[4];
        for (int i = 0; i < 4; i++) cc[i] = c[(i < 2 ? g : g + 8) * 16 + nt * 8 + 2 * t + (i & 1)];
        lc_mma_bf16_16816(dd, fa, fb[nt], cc);
        for (int i = 0; i < 4; i++) d[(i < 2 ? g : g + 8) * 16 + nt * 8 + 2 * t + (i & 1)] = dd[i];
    }
}

// d (16,16) fp32 = a (16,8) @ b (8,16) + c (16,16), fp32 row-major, operands rounded by cvt.rna.tf32; one warp, mma
// m16n8k8 tf32 on two 8-column tiles, fragments gathered with the PTX ISA's index formulas. mode 1: a deliberately
// wrong A layout (a[1] and a[2] swapped).
__global__ void emu_selftest_mma_tf32(float* d, const float* a, const float* b, const float* c, int mode)
{
    int lane = threadIdx.x, g = lane >> 2, t = lane & 3;
    unsigned fa[4], fb[2][2];
    for (int i = 0; i < 4; i++) fa[i] = lc_cvt_tf32(a[((i == 0 || i == 2) ? g : g + 8) * 8 + (i < 2 ? t : t + 4)]);
    if (mode == 1) { unsigned x = fa[1]; fa[1] = fa[2]; fa[2] = x; }
    for (int nt = 0; nt < 2; nt++)
        for (int i = 0; i < 2; i++) fb[nt][i] = lc_cvt_tf32(b[(i == 0 ? t : t + 4) * 16 + nt * 8 + g]);
    for (int nt = 0; nt < 2; nt++) {
        float cc[4], dd[4];
        for (int i = 0; i < 4; i++) cc[i] = c[(i < 2 ? g : g + 8) * 16 + nt * 8 + 2 * t + (i & 1)];
        lc_mma_tf32_1688(dd, fa, fb[nt], cc);
        for (int i = 0; i < 4; i++) d[(i < 2 ? g : g + 8) * 16 + nt * 8 + 2 * t + (i & 1)] = dd[i];
    }
}

namespace {

#define LC_KERNEL(n) LC_KERNEL_ENTRY(n)
const lc_emu::TableEntry kTable[] = {
#include "kernels.inc"
    LC_KERNEL_ENTRY(emu_selftest_shuffles)
    LC_KERNEL_ENTRY(emu_selftest_barrier)
    LC_KERNEL_ENTRY(emu_selftest_deadlock)
    LC_KERNEL_ENTRY(emu_selftest_mma_bf16)
    LC_KERNEL_ENTRY(emu_selftest_mma_tf32)
};
#undef LC_KERNEL

const lc_emu::TableEntry* find(const char* name)
{
    for (const auto& k : kTable)
        if (std::strcmp(name, k.name) == 0) return &k;
    return nullptr;
}

} // namespace

LC_API const char* lc_emu_last_error() { return lc_emu::lastError().c_str(); }

LC_API int lc_emu_param_count(const char* kernel)
{
    const auto* k = find(kernel);
    return k ? k->paramCount : -1;
}

LC_API int lc_emu_launch(const char* kernel, lc_dim3 grid, lc_dim3 block, unsigned shared, void** params)
{
    const auto* k = find(kernel);
    if (!k) {
        lc_emu::lastError() = std::string("no kernel named ") + kernel + " in kernels.cu";
        return -1;
    }
    return k->launch(grid, block, shared, params);
}

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

namespace {

#define LC_KERNEL(n) LC_KERNEL_ENTRY(n)
const lc_emu::TableEntry kTable[] = {
#include "kernels.inc"
    LC_KERNEL_ENTRY(emu_selftest_shuffles)
    LC_KERNEL_ENTRY(emu_selftest_barrier)
    LC_KERNEL_ENTRY(emu_selftest_deadlock)
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

// softgpu_internal.h: between the software GPU driver shim's two translation units (softgpu_driver.cpp: the driver API,
// memory, streams; softgpu_kernels.cpp: kernels.cu under the CPU emulator and the launchers deduced from each kernel's
// prototype). Internal to libcuda.so.1 of the software GPU.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace lcsg {

// Grid, block and dynamic shared memory of one launch.
struct Geometry
{
    unsigned grid[3];
    unsigned block[3];
    unsigned sharedBytes;
};

// Queued work: returns 0 or a CUresult after setting the reason.
using Work = std::function<int(std::string& why)>;

struct KernelEntry
{
    const char* name;
    int paramCount;
    // paramSizes[i]: sizeof the type of parameter i in the kernels.cu this library was built from.
    const int* paramSizes;
    // Reads each parameter from kernelParams[i] by its type in kernels.cu (sizeof(type) bytes, as the driver does)
    // and returns the work that runs the kernel on the emulator.
    Work (*bind)(void** kernelParams, const Geometry& g);
};

// Every kernel of kernels.cu (generated from its `extern "C" __global__` declarations); null when unknown.
const KernelEntry* findKernel(const std::string& name);
const std::vector<const KernelEntry*>& allKernels();

// Checks, from the driver's allocation registry, that a kernel's pointer argument is inside a live device allocation
// (null passes). Returns 0 or CUDA_ERROR_ILLEGAL_ADDRESS with the reason.
int checkKernelPointer(const char* kernel, int param, uint64_t ptr, std::string& why);
// After a kernel ran: the guard zones around the allocation holding ptr are intact. 0 or CUDA_ERROR_ILLEGAL_ADDRESS.
int checkGuards(const char* kernel, uint64_t ptr, std::string& why);

} // namespace lcsg

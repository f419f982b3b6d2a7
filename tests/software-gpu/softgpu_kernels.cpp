// softgpu_kernels.cpp: kernels.cu compiled for the CPU (tests/kernel-emu/cuda_emu.h), and one launcher per kernel,
// deduced from the kernel's own C prototype (tests/kernel-emu/kernel_table.h): cuLaunchKernel's kernelParams[i] is read
// as the i-th parameter's type, sizeof(type) bytes, exactly as the driver reads it. The C# side's signature table is what this checks, so it is
// never consulted here.
#include "../kernel-emu/cuda_emu.h"
#include "../../kernels.cu"
#include "../kernel-emu/kernel_table.h"

#include "softgpu_internal.h"

#include <cstring>
#include <map>
#include <tuple>
#include <type_traits>
#include <utility>

namespace {

constexpr int kIllegalAddress = 700; // CUDA_ERROR_ILLEGAL_ADDRESS
constexpr int kLaunchFailed = 719;   // CUDA_ERROR_LAUNCH_FAILED

template <class T> void collectPointer(const T& v, std::vector<uint64_t>& out)
{
    if constexpr (std::is_pointer_v<T>) out.push_back(reinterpret_cast<uint64_t>(v));
    else out.push_back(0);
}

template <class... A> lcsg::Work makeWork(const char* name, void (*kernel)(A...), void** params, const lcsg::Geometry& g)
{
    // The driver copies the parameter values at launch time: later changes to the caller's slots do not matter.
    auto args = lc_emu::readParams(kernel, params);
    return [name, kernel, args, g](std::string& why) -> int {
        std::vector<uint64_t> ptrs;
        std::apply([&](const auto&... a) { (collectPointer(a, ptrs), ...); }, args);
        for (size_t i = 0; i < ptrs.size(); i++) {
            if (!ptrs[i]) continue;
            if (int r = lcsg::checkKernelPointer(name, (int)i, ptrs[i], why)) return r;
        }
        lc_dim3 grid{g.grid[0], g.grid[1], g.grid[2]}, block{g.block[0], g.block[1], g.block[2]};
        int r = lc_emu::launch(grid, block, g.sharedBytes, [&] { std::apply(kernel, args); });
        if (r != 0) {
            why = std::string(name) + ": " + lc_emu::lastError();
            return kLaunchFailed;
        }
        for (uint64_t p : ptrs) {
            if (!p) continue;
            if (int e = lcsg::checkGuards(name, p, why)) return e;
        }
        (void)kIllegalAddress;
        return 0;
    };
}

#define LC_KERNEL(n) \
    lcsg::KernelEntry{#n, lc_emu::countParams(&n), lc_emu::paramSizes(&n), [](void** p, const lcsg::Geometry& g) { return makeWork(#n, &n, p, g); }},

const lcsg::KernelEntry kTable[] = {
#include "kernels.inc"
};

} // namespace

namespace lcsg {

const KernelEntry* findKernel(const std::string& name)
{
    for (const auto& k : kTable)
        if (name == k.name) return &k;
    return nullptr;
}

const std::vector<const KernelEntry*>& allKernels()
{
    static const std::vector<const KernelEntry*> all = [] {
        std::vector<const KernelEntry*> v;
        for (const auto& k : kTable) v.push_back(&k);
        return v;
    }();
    return all;
}

} // namespace lcsg

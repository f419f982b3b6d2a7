// kernel_table.h: calling a kernel of kernels.cu, under the CPU emulator, from an array of parameter slots, as
// cuLaunchKernel's kernelParams: parameter i is read from params[i] as sizeof(type of parameter i) bytes, the type
// deduced by the compiler from the kernel's own prototype. The list of kernels is generated from kernels.cu's
// `extern "C" __global__` declarations (build.sh writes kernels.inc), so a new kernel needs no line here, in
// kernels_emu.cpp or in the software GPU. Used by the emulator library (kernels_emu.cpp) and the software GPU's driver
// shim (tests/software-gpu/softgpu_kernels.cpp). Include after cuda_emu.h and kernels.cu.
#pragma once

#include <cstring>
#include <tuple>
#include <type_traits>
#include <utility>

namespace lc_emu {

template <class T> T readParam(void* slot)
{
    static_assert(std::is_trivially_copyable_v<T>, "kernel parameters are plain values");
    T v;
    std::memcpy(&v, slot, sizeof(T));
    return v;
}

template <class... A, size_t... I> std::tuple<A...> readParamsAt(void** p, std::index_sequence<I...>)
{
    return std::tuple<A...>{readParam<A>(p[I])...};
}

// The kernel's arguments, copied out of the slots now (as the driver copies them at launch time).
template <class... A> std::tuple<A...> readParams(void (*)(A...), void** p)
{
    return readParamsAt<A...>(p, std::index_sequence_for<A...>{});
}

template <class... A> constexpr int countParams(void (*)(A...)) { return (int)sizeof...(A); }

// The byte size of each parameter, in order (as the compiled image lays them out: a cubin's KPARAM_INFO sizes, a PTX
// entry's .param sizes); the software GPU compares them with the image it is given.
template <class... A> const int* paramSizes(void (*)(A...))
{
    static const int sizes[] = {(int)sizeof(A)..., 0};
    return sizes;
}

// One row of a kernel table: the name, the parameter count, and a launcher that reads the slots and runs the grid.
struct TableEntry
{
    const char* name;
    int paramCount;
    int (*launch)(lc_dim3 grid, lc_dim3 block, unsigned sharedBytes, void** params);
};

template <auto Kernel> int launchFromSlots(lc_dim3 grid, lc_dim3 block, unsigned sharedBytes, void** params)
{
    auto args = readParams(Kernel, params);
    return launch(grid, block, sharedBytes, [&] { std::apply(Kernel, args); });
}

} // namespace lc_emu

// A table row for kernel n (kernels.inc is a list of LC_KERNEL(name) lines).
#define LC_KERNEL_ENTRY(n) lc_emu::TableEntry{#n, lc_emu::countParams(&n), &lc_emu::launchFromSlots<&n>},

// cuda_emu.h: a CPU emulation of CUDA's execution model, enough to run kernels.cu compiled by g++.
//
// A launch runs the grid's blocks one after another. Each block's threads are cooperative fibers (hand-rolled stack
// switching on x86-64, ucontext elsewhere) on the calling OS thread; a fiber runs until it reaches a barrier
// (__syncthreads, __syncwarp, or the two barriers inside every warp shuffle) or returns. threadIdx/blockIdx/blockDim/
// gridDim are globals set before each switch; __shared__ variables are statics (one block at a time, launches are
// serialized by a mutex, so a static is exactly "one copy per block"). Dynamic shared memory comes from
// LC_DYNAMIC_SHARED. Atomics are plain read-modify-writes: fibers never interleave inside one. Exited threads leave
// the barriers (as on current GPUs). A block where every remaining thread waits and none can go on is reported as a
// deadlock (the launch returns an error), as is a barrier reached by part of a warp while other lanes wait elsewhere.
//
// Not emulated: inline PTX (kernels.cu takes its plain paths under LC_EMULATION), memory fences between blocks (blocks
// run sequentially), warp-synchronous code without explicit sync, texture/surface memory.
#pragma once

#define LC_EMULATION 1

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <vector>
#include <sys/mman.h>
#if !defined(__x86_64__)
#include <ucontext.h>
#endif

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static
#define __constant__ static
#define __launch_bounds__(...)
#define __restrict__ __restrict

struct uint3 { unsigned x, y, z; };
struct dim3
{
    unsigned x, y, z;
    dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

// The launch geometry as the C ABI passes it.
struct lc_dim3 { unsigned x, y, z; };

inline uint3 threadIdx;
inline uint3 blockIdx;
inline dim3 blockDim;
inline dim3 gridDim;
constexpr int warpSize = 32;

namespace lc_emu {

constexpr size_t kStackBytes = 128 * 1024; // per fiber; kernels keep only small local arrays
constexpr size_t kGuardBytes = 4096;       // PROT_NONE page under each stack: an overflow faults instead of corrupting
constexpr unsigned kMaxThreads = 1024;

struct Fiber
{
#if defined(__x86_64__)
    void* sp = nullptr;
#else
    ucontext_t uc;
#endif
    uint3 idx{};
    bool done = false;
    int waitKind = 0;                  // 0 runnable, 1 at __syncthreads, 2 at a warp barrier
    unsigned long long waitGen = 0;    // the barrier generation it waits to see pass
};

struct State
{
    std::vector<Fiber> fibers;
    unsigned char* stacks = nullptr; // kMaxThreads * (kGuardBytes + kStackBytes), mapped once
#if defined(__x86_64__)
    void* mainSp = nullptr;
#else
    ucontext_t mainUc;
#endif
    unsigned current = 0;
    unsigned alive = 0;                // threads of the block that have not returned
    unsigned blockArrived = 0;
    unsigned long long blockGen = 0;
    unsigned warps = 0;
    std::vector<unsigned> warpAlive, warpArrived;
    std::vector<unsigned long long> warpGen;
    std::vector<unsigned long long> exchange; // (2, warps, 32): shuffle values, double-buffered by barrier parity
    std::vector<unsigned char> dynShared;
    const std::function<void()>* body = nullptr;
    std::string error;
};

inline State& state()
{
    static State s;
    return s;
}

inline std::mutex& launchMutex()
{
    static std::mutex m;
    return m;
}

inline std::string& lastError()
{
    static thread_local std::string e;
    return e;
}

#if defined(__x86_64__)
// lc_emu_switch(save, next): pushes the callee-saved registers, stores the stack pointer in *save, loads next and pops
// that fiber's registers. A new fiber's stack is prepared so that the final `ret` enters lc_emu_fiber_entry.
extern "C" void lc_emu_switch(void** save, void* next);
asm(R"(
    .text
    .globl lc_emu_switch
    .hidden lc_emu_switch
    .type lc_emu_switch,@function
lc_emu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size lc_emu_switch, .-lc_emu_switch
)");
#endif

inline void toMain()
{
    State& s = state();
#if defined(__x86_64__)
    lc_emu_switch(&s.fibers[s.current].sp, s.mainSp);
#else
    swapcontext(&s.fibers[s.current].uc, &s.mainUc);
#endif
}

inline unsigned warpOf(unsigned t) { return t / 32; }

inline unsigned linearTid()
{
    return threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
}

// Releases a block barrier whose remaining participants have all arrived.
inline void checkBlockRelease(State& s)
{
    if (s.blockArrived > 0 && s.blockArrived >= s.alive) {
        s.blockArrived = 0;
        s.blockGen++;
    }
}

inline void checkWarpRelease(State& s, unsigned w)
{
    if (s.warpArrived[w] > 0 && s.warpArrived[w] >= s.warpAlive[w]) {
        s.warpArrived[w] = 0;
        s.warpGen[w]++;
    }
}

extern "C" inline void lc_emu_fiber_entry()
{
    State& s = state();
    (*s.body)();
    unsigned t = s.current;
    s.fibers[t].done = true;
    s.alive--;
    unsigned w = warpOf(t);
    s.warpAlive[w]--;
    checkBlockRelease(s);
    checkWarpRelease(s, w);
    toMain(); // never resumed
    std::abort();
}

inline void syncthreads()
{
    State& s = state();
    unsigned long long gen = s.blockGen;
    s.blockArrived++;
    checkBlockRelease(s);
    if (s.blockGen != gen) return;
    Fiber& f = s.fibers[s.current];
    f.waitKind = 1; // the scheduler passes over this fiber until the generation moves
    f.waitGen = gen;
    toMain();
    f.waitKind = 0;
}

inline void syncwarp()
{
    State& s = state();
    unsigned w = warpOf(s.current);
    unsigned long long gen = s.warpGen[w];
    s.warpArrived[w]++;
    checkWarpRelease(s, w);
    if (s.warpGen[w] != gen) return;
    Fiber& f = s.fibers[s.current];
    f.waitKind = 2;
    f.waitGen = gen;
    toMain();
    f.waitKind = 0;
}

// Every lane publishes its value, waits for the warp, reads lane `src` (computed by the caller from its own lane).
// One barrier per shuffle: the slots alternate with the barrier generation's parity, and no lane can write the same
// parity again before every lane has passed the next barrier, i.e. has read this round.
template <class T>
inline T shuffle(T v, int src, bool keep)
{
    static_assert(sizeof(T) <= 8, "shuffle of an 8-byte value at most");
    State& s = state();
    unsigned lane = s.current & 31, w = warpOf(s.current);
    size_t slots = ((size_t)(s.warpGen[w] & 1) * s.warps + w) * 32;
    unsigned long long bits = 0;
    std::memcpy(&bits, &v, sizeof(T));
    s.exchange[slots + lane] = bits;
    syncwarp();
    unsigned long long got = s.exchange[slots + (keep ? lane : (unsigned)src)];
    T r;
    std::memcpy(&r, &got, sizeof(T));
    return r;
}

inline void* dynamicShared() { return state().dynShared.data(); }

inline void prepareFiber(State& s, unsigned t)
{
    Fiber& f = s.fibers[t];
    f.done = false;
    unsigned char* base = s.stacks + (size_t)t * (kGuardBytes + kStackBytes) + kGuardBytes;
#if defined(__x86_64__)
    auto top = reinterpret_cast<uintptr_t>(base + kStackBytes) & ~(uintptr_t)15;
    auto* p = reinterpret_cast<void**>(top);
    p[-1] = nullptr;                                           // return address of the entry function (never used)
    p[-2] = reinterpret_cast<void*>(&lc_emu_fiber_entry);      // where lc_emu_switch's ret goes
    for (int i = 3; i <= 8; i++) p[-i] = nullptr;              // rbp rbx r12 r13 r14 r15
    f.sp = p - 8;
#else
    getcontext(&f.uc);
    f.uc.uc_stack.ss_sp = base;
    f.uc.uc_stack.ss_size = kStackBytes;
    f.uc.uc_link = nullptr;
    makecontext(&f.uc, (void (*)())lc_emu_fiber_entry, 0);
#endif
}

// Runs body as a kernel over grid x block. Returns 0, or -1 with lastError() set.
inline int launch(lc_dim3 grid, lc_dim3 block, unsigned sharedBytes, const std::function<void()>& body)
{
    std::lock_guard<std::mutex> lock(launchMutex());
    State& s = state();
    unsigned n = block.x * block.y * block.z;
    if (grid.x == 0 || grid.y == 0 || grid.z == 0 || n == 0 || n > kMaxThreads || block.z > 64 || grid.y > 65535 || grid.z > 65535) {
        lastError() = "invalid launch configuration: grid (" + std::to_string(grid.x) + "," + std::to_string(grid.y) + "," +
            std::to_string(grid.z) + ") block (" + std::to_string(block.x) + "," + std::to_string(block.y) + "," +
            std::to_string(block.z) + ")";
        return -1;
    }
    if (sharedBytes > 228 * 1024) {
        lastError() = "dynamic shared memory of " + std::to_string(sharedBytes) + " bytes is more than any GPU has";
        return -1;
    }
    if (!s.stacks) {
        size_t total = (size_t)kMaxThreads * (kGuardBytes + kStackBytes);
        void* m = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (m == MAP_FAILED) { lastError() = "cannot map fiber stacks"; return -1; }
        s.stacks = static_cast<unsigned char*>(m);
        for (unsigned t = 0; t < kMaxThreads; t++)
            mprotect(s.stacks + (size_t)t * (kGuardBytes + kStackBytes), kGuardBytes, PROT_NONE);
    }
    s.fibers.assign(n, Fiber{});
    s.warps = (n + 31) / 32;
    s.warpAlive.assign(s.warps, 0);
    s.warpArrived.assign(s.warps, 0);
    s.warpGen.assign(s.warps, 0);
    s.exchange.assign((size_t)2 * s.warps * 32, 0);
    s.dynShared.assign(sharedBytes + 16, 0xff); // 0xff.. reads as NaN: a kernel reading unwritten shared memory shows it
    s.body = &body;
    gridDim = dim3(grid.x, grid.y, grid.z);
    blockDim = dim3(block.x, block.y, block.z);
    for (unsigned t = 0; t < n; t++)
        s.fibers[t].idx = uint3{t % block.x, (t / block.x) % block.y, t / (block.x * block.y)};

    for (unsigned bz = 0; bz < grid.z; bz++)
    for (unsigned by = 0; by < grid.y; by++)
    for (unsigned bx = 0; bx < grid.x; bx++) {
        blockIdx = uint3{bx, by, bz};
        s.alive = n;
        s.blockArrived = 0;
        for (unsigned w = 0; w < s.warps; w++) {
            s.warpAlive[w] = (w + 1) * 32 <= n ? 32 : n - w * 32;
            s.warpArrived[w] = 0;
        }
        for (unsigned t = 0; t < n; t++) prepareFiber(s, t);
        for (unsigned round = 0;; round++) {
            bool any = false, ran = false;
            for (unsigned k = 0; k < n; k++) {
                // Odd rounds run the threads in reverse: a kernel that reads another thread's shared-memory write
                // without a barrier between them sees a different order and (usually) a different result.
                unsigned t = (round & 1) ? n - 1 - k : k;
                Fiber& f = s.fibers[t];
                if (f.done) continue;
                any = true;
                if (f.waitKind == 1 && s.blockGen == f.waitGen) continue;
                if (f.waitKind == 2 && s.warpGen[warpOf(t)] == f.waitGen) continue;
                ran = true;
                s.current = t;
                threadIdx = s.fibers[t].idx;
#if defined(__x86_64__)
                lc_emu_switch(&s.mainSp, s.fibers[t].sp);
#else
                swapcontext(&s.mainUc, &s.fibers[t].uc);
#endif
            }
            if (!any) break;
            if (!ran) {
                lastError() = "deadlock in block (" + std::to_string(bx) + "," + std::to_string(by) + "," +
                    std::to_string(bz) + "): " + std::to_string(s.alive) + " threads wait at barriers that cannot open (" +
                    std::to_string(s.blockArrived) + " at __syncthreads)";
                return -1;
            }
        }
    }
    return 0;
}

} // namespace lc_emu

// ---- the CUDA device API the kernels use ----

#define LC_DYNAMIC_SHARED(type, name) type* name = reinterpret_cast<type*>(lc_emu::dynamicShared())

inline void __syncthreads() { lc_emu::syncthreads(); }
inline void __syncwarp(unsigned = 0xffffffffu) { lc_emu::syncwarp(); }

template <class T> inline T __shfl_sync(unsigned, T v, int src, int width = 32)
{
    unsigned lane = lc_emu::state().current & 31;
    int base = (int)(lane & ~(unsigned)(width - 1));
    return lc_emu::shuffle(v, base + (src & (width - 1)), false);
}
template <class T> inline T __shfl_xor_sync(unsigned, T v, int mask, int width = 32)
{
    unsigned lane = lc_emu::state().current & 31;
    int src = (int)(lane ^ (unsigned)mask);
    int base = (int)(lane & ~(unsigned)(width - 1));
    return lc_emu::shuffle(v, src, src < base || src >= base + width);
}
template <class T> inline T __shfl_down_sync(unsigned, T v, unsigned delta, int width = 32)
{
    unsigned lane = lc_emu::state().current & 31;
    int src = (int)(lane + delta);
    int base = (int)(lane & ~(unsigned)(width - 1));
    return lc_emu::shuffle(v, src, src >= base + width);
}
template <class T> inline T __shfl_up_sync(unsigned, T v, unsigned delta, int width = 32)
{
    unsigned lane = lc_emu::state().current & 31;
    int src = (int)lane - (int)delta;
    int base = (int)(lane & ~(unsigned)(width - 1));
    return lc_emu::shuffle(v, src, src < base);
}

inline float __int_as_float(int x) { float f; std::memcpy(&f, &x, 4); return f; }
inline int __float_as_int(float x) { int i; std::memcpy(&i, &x, 4); return i; }
inline unsigned __float_as_uint(float x) { unsigned i; std::memcpy(&i, &x, 4); return i; }
inline float __uint_as_float(unsigned x) { float f; std::memcpy(&f, &x, 4); return f; }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __fdividef(float a, float b) { return a / b; }
template <class T> inline T __ldg(const T* p) { return *p; }

template <class T> inline T atomicAdd(T* p, T v) { T old = *p; *p = old + v; return old; }
template <class T> inline T atomicMax(T* p, T v) { T old = *p; if (v > old) *p = v; return old; }
template <class T> inline T atomicMin(T* p, T v) { T old = *p; if (v < old) *p = v; return old; }
template <class T> inline T atomicExch(T* p, T v) { T old = *p; *p = v; return old; }
template <class T> inline T atomicCAS(T* p, T cmp, T v) { T old = *p; if (old == cmp) *p = v; return old; }

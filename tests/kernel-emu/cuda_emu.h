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
// Tensor-core instructions (mma.sync m16n8k16 bf16 / m16n8k8 tf32, ldmatrix) are emulated exactly, as warp
// collectives with the PTX ISA fragment layouts (lc_emu::mma, lc_emu::ldmatrix below).
// Not emulated: other inline PTX (kernels.cu takes its plain paths under LC_EMULATION), memory fences between blocks (blocks
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
    std::vector<unsigned long long> fragments; // (2, warps, 32, 8): mma/ldmatrix operands, double-buffered likewise
    std::vector<double> matrices;              // (2, warps, 16*16 + 16*8): one mma's A and B, assembled once per warp
    std::vector<unsigned long long> assembled; // (2, warps): the warp barrier generation the matrices were built for
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
    s.fragments.assign((size_t)2 * s.warps * 32 * 8, 0);
    s.matrices.assign((size_t)2 * s.warps * (16 * 16 + 16 * 8), 0.0);
    s.assembled.assign((size_t)2 * s.warps, ~0ull);
    s.error.clear();
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
            if (!s.error.empty()) { lastError() = s.error; return -1; }
            if (!ran) {
                lastError() = "deadlock in block (" + std::to_string(bx) + "," + std::to_string(by) + "," +
                    std::to_string(bz) + "): " + std::to_string(s.alive) + " threads wait at barriers that cannot open (" +
                    std::to_string(s.blockArrived) + " at __syncthreads)";
                return -1;
            }
        }
    }
    if (!s.error.empty()) { lastError() = s.error; return -1; }
    return 0;
}

// ---- tensor-core instructions (warp-collective, exact PTX ISA fragment layouts) ----
//
// Each lane publishes its operand registers in the per-warp fragment slots, waits at one warp barrier, and reads what
// it owns. The slots alternate with the barrier generation's parity, as the shuffles' do. The index formulas below
// are the PTX ISA's (section "Matrix fragments for mma.m16n8k16 / mma.m16n8k8", "ldmatrix"), written per register
// element i with groupID g = lane >> 2 and threadID_in_group t = lane % 4.

inline void fault(const std::string& what)
{
    State& s = state();
    if (s.error.empty()) s.error = what;
}

// The slot row (8 u64) of `lane` in the current parity, for warp w.
inline unsigned long long* fragmentSlots(State& s, unsigned w, unsigned lane)
{
    return s.fragments.data() + (((size_t)(s.warpGen[w] & 1) * s.warps + w) * 32 + lane) * 8;
}

inline float bf16ToFloat(unsigned short h) { unsigned u = (unsigned)h << 16; float f; std::memcpy(&f, &u, 4); return f; }
inline float tf32ToFloat(unsigned u) { u &= 0xffffe000u; float f; std::memcpy(&f, &u, 4); return f; } // low 13 bits unused

// mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 (kind 0) and mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32
// (kind 1): d = A (16 x K) @ B (K x 8) + c, per lane 4 A registers, 2 B registers, 4 C/D floats.
//   bf16 m16n8k16: A holds 8 bf16 a0..a7, two per register (a0 in the low half of register 0):
//       row = g for a_i with i < 2 or 4 <= i < 6, else g + 8;  col = 2t + (i & 1) for i < 4, else 2t + (i & 1) + 8.
//     B holds b0..b3: row (k) = 2t + (i & 1) for i < 2, else 2t + (i & 1) + 8;  col (n) = g.
//   tf32 m16n8k8: A holds a0..a3, one per register: row = g for a0, a2, else g + 8;  col = t for a0, a1, else t + 4.
//     B holds b0, b1: row (k) = t for b0, t + 4 for b1;  col (n) = g.
//   C/D c0..c3: row = g for c0, c1, else g + 8;  col = 2t + (i & 1).
// The products are exact (8 x 8 or 11 x 11 significand bits) and summed with c in double, rounded once to fp32; the
// hardware's internal accumulation order is not specified by the ISA and may differ from this in the last bit.
inline void mma(int kind, float d[4], const unsigned a[4], const unsigned b[2], const float c[4])
{
    State& s = state();
    unsigned lane = s.current & 31, w = warpOf(s.current);
    if (s.warpAlive[w] != 32) fault("mma.sync executed by " + std::to_string(s.warpAlive[w]) + " live lanes of a warp (needs all 32)");
    unsigned long long* mine = fragmentSlots(s, w, lane);
    for (int i = 0; i < 4; i++) mine[i] = a[i];
    for (int i = 0; i < 2; i++) mine[4 + i] = b[i];
    mine[6] = (unsigned long long)kind;
    size_t parity = (size_t)(s.warpGen[w] & 1);
    syncwarp();
    size_t slot = parity * s.warps + w;
    double* A = s.matrices.data() + slot * (16 * 16 + 16 * 8); // (16, K) row-major, K = 16 or 8
    double* B = A + 16 * 16;                                    // (K, 8) row-major
    const int K = kind == 0 ? 16 : 8;
    if (s.assembled[slot] != s.warpGen[w]) { // the first lane past the barrier builds the warp's matrices
        s.assembled[slot] = s.warpGen[w];
        for (unsigned l = 0; l < 32; l++) {
            const unsigned long long* f = s.fragments.data() + ((parity * s.warps + w) * 32 + l) * 8;
            if ((int)f[6] != kind) fault("mma.sync: lanes of one warp executed different mma shapes");
            int g = (int)(l >> 2), t = (int)(l & 3);
            if (kind == 0) {
                for (int i = 0; i < 8; i++) {
                    int row = (i < 2 || (i >= 4 && i < 6)) ? g : g + 8;
                    int col = i < 4 ? 2 * t + (i & 1) : 2 * t + (i & 1) + 8;
                    unsigned short h = (unsigned short)(f[i / 2] >> (16 * (i & 1)));
                    A[row * 16 + col] = bf16ToFloat(h);
                }
                for (int i = 0; i < 4; i++) {
                    int row = i < 2 ? 2 * t + (i & 1) : 2 * t + (i & 1) + 8;
                    unsigned short h = (unsigned short)(f[4 + i / 2] >> (16 * (i & 1)));
                    B[row * 8 + g] = bf16ToFloat(h);
                }
            } else {
                for (int i = 0; i < 4; i++) {
                    int row = (i == 0 || i == 2) ? g : g + 8;
                    int col = i < 2 ? t : t + 4;
                    A[row * 8 + col] = tf32ToFloat((unsigned)f[i]);
                }
                for (int i = 0; i < 2; i++) B[(i == 0 ? t : t + 4) * 8 + g] = tf32ToFloat((unsigned)f[4 + i]);
            }
        }
    }
    int g = (int)(lane >> 2), t = (int)(lane & 3);
    for (int i = 0; i < 4; i++) {
        int row = i < 2 ? g : g + 8, col = 2 * t + (i & 1);
        double sum = c[i];
        for (int k = 0; k < K; k++) sum += A[row * K + k] * B[k * 8 + col];
        d[i] = (float)sum;
    }
}

// ldmatrix.sync.aligned.m8n8.xN{.trans}.shared.b16: N (1, 2, 4) 8x8 matrices of 16-bit elements. Lanes 8i..8i+7 give
// the addresses of rows 0..7 of matrix i (16 bytes each, 16-byte aligned); every lane receives register r[i] of each
// matrix i: without .trans, row g, columns 2t (low half) and 2t+1 (high half); with .trans, the element of row 2t,
// column g (low half) and of row 2t+1, column g (high half).
inline void ldmatrix(int n, bool trans, unsigned r[4], const void* addr)
{
    State& s = state();
    unsigned lane = s.current & 31, w = warpOf(s.current);
    if (s.warpAlive[w] != 32) fault("ldmatrix executed by " + std::to_string(s.warpAlive[w]) + " live lanes of a warp (needs all 32)");
    unsigned long long* mine = fragmentSlots(s, w, lane);
    mine[0] = (unsigned long long)reinterpret_cast<uintptr_t>(addr);
    mine[6] = 100 + (unsigned long long)n * 2 + (trans ? 1 : 0);
    size_t parity = (size_t)(s.warpGen[w] & 1);
    syncwarp();
    const unsigned long long* all = s.fragments.data() + (parity * s.warps + w) * 32 * 8;
    if (all[6] != mine[6]) fault("ldmatrix: lanes of one warp executed different ldmatrix forms");
    unsigned g = lane >> 2, t = lane & 3;
    for (int i = 0; i < n; i++) {
        auto rowAddr = [&](unsigned row) {
            uintptr_t p = (uintptr_t)all[(8 * i + row) * 8];
            if (p % 16 != 0) fault("ldmatrix: row address not 16-byte aligned");
            return reinterpret_cast<const unsigned short*>(p);
        };
        unsigned short lo, hi;
        if (!trans) { const unsigned short* p = rowAddr(g); lo = p[2 * t]; hi = p[2 * t + 1]; }
        else { lo = rowAddr(2 * t)[g]; hi = rowAddr(2 * t + 1)[g]; }
        r[i] = (unsigned)lo | ((unsigned)hi << 16);
    }
}

// cp.async.cg.shared.global 16 bytes, done at once (the wait is then a no-op): both addresses must be 16-byte aligned.
inline void cp_async16(void* dst, const void* src)
{
    if ((uintptr_t)dst % 16 != 0 || (uintptr_t)src % 16 != 0) fault("cp.async of 16 bytes from or to an address not 16-byte aligned");
    else std::memcpy(dst, src, 16);
}

// cvt.rn.bf16x2.f32 d, hi, lo: both rounded to nearest even, lo in the low half (NaN stays a quiet NaN).
inline unsigned short f32ToBf16(float f)
{
    unsigned u;
    std::memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (unsigned short)((u >> 16) | 0x40u);
    return (unsigned short)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

// cvt.rna.tf32.f32: to 10 explicit significand bits, nearest, ties away from zero (the result's low 13 bits are 0).
inline unsigned f32ToTf32(float f)
{
    unsigned u;
    std::memcpy(&u, &f, 4);
    if ((u & 0x7f800000u) == 0x7f800000u) return (u & 0x7fffffffu) > 0x7f800000u ? (u | 0x00400000u) & 0xffffe000u : u;
    return (u + 0x1000u) & 0xffffe000u;
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

// cuda_min.h: the few CUDA built-ins NVRTC provides implicitly, for compiling kernels.cu to PTX with clang
// (-nocudainc -nocudalib: no CUDA toolkit). Force-included: clang-19 -x cuda --cuda-device-only -nocudainc -nocudalib
// -include tests/kernel-emu/cuda_min.h kernels.cu. Math functions map to libdevice names (__nv_*); they stay external
// calls in the PTX, which is all the check needs (NVRTC on the GPU links the real libdevice).
#pragma once
#define LC_CUDA_MIN 1

#define __host__ __attribute__((host))
#define __device__ __attribute__((device))
#define __global__ __attribute__((global))
#define __shared__ __attribute__((shared))
#define __constant__ __attribute__((constant))
#define __forceinline__ __inline__ __attribute__((always_inline))
#define __launch_bounds__(...) __attribute__((launch_bounds(__VA_ARGS__)))

#include <__clang_cuda_builtin_vars.h>

extern "C" __device__ float __nv_expf(float);
extern "C" __device__ float __nv_logf(float);
extern "C" __device__ float __nv_tanhf(float);
extern "C" __device__ float __nv_sqrtf(float);
extern "C" __device__ float __nv_fmaxf(float, float);
extern "C" __device__ float __nv_fminf(float, float);
extern "C" __device__ float __nv_fabsf(float);
extern "C" __device__ float __nv_erfcf(float);
extern "C" __device__ float __nv_exp2f(float);

static __device__ __forceinline__ float expf(float x) { return __nv_expf(x); }
static __device__ __forceinline__ float logf(float x) { return __nv_logf(x); }
static __device__ __forceinline__ float tanhf(float x) { return __nv_tanhf(x); }
static __device__ __forceinline__ float sqrtf(float x) { return __nv_sqrtf(x); }
static __device__ __forceinline__ float fmaxf(float a, float b) { return __nv_fmaxf(a, b); }
static __device__ __forceinline__ float fminf(float a, float b) { return __nv_fminf(a, b); }
static __device__ __forceinline__ float fabsf(float x) { return __nv_fabsf(x); }
static __device__ __forceinline__ float erfcf(float x) { return __nv_erfcf(x); }
static __device__ __forceinline__ float exp2f(float x) { return __nv_exp2f(x); }

static __device__ __forceinline__ float __int_as_float(int x) { return __nvvm_bitcast_i2f(x); }
static __device__ __forceinline__ int __float_as_int(float x) { return __nvvm_bitcast_f2i(x); }

static __device__ __forceinline__ float __shfl_xor_sync(unsigned mask, float v, int lane) { return __nvvm_shfl_sync_bfly_f32(mask, v, lane, 0x1f); }
static __device__ __forceinline__ int __shfl_xor_sync(unsigned mask, int v, int lane) { return __nvvm_shfl_sync_bfly_i32(mask, v, lane, 0x1f); }
static __device__ __forceinline__ float __shfl_down_sync(unsigned mask, float v, unsigned delta) { return __nvvm_shfl_sync_down_f32(mask, v, delta, 0x1f); }
static __device__ __forceinline__ int __shfl_down_sync(unsigned mask, int v, unsigned delta) { return __nvvm_shfl_sync_down_i32(mask, v, delta, 0x1f); }
static __device__ __forceinline__ float __shfl_sync(unsigned mask, float v, int src) { return __nvvm_shfl_sync_idx_f32(mask, v, src, 0x1f); }
static __device__ __forceinline__ int __shfl_sync(unsigned mask, int v, int src) { return __nvvm_shfl_sync_idx_i32(mask, v, src, 0x1f); }
static __device__ __forceinline__ void __syncwarp(unsigned mask = 0xffffffffu) { __nvvm_bar_warp_sync(mask); }
static __device__ __forceinline__ float atomicAdd(float* p, float v) { return __nvvm_atom_add_gen_f(p, v); }
static __device__ __forceinline__ int atomicAdd(int* p, int v) { return __nvvm_atom_add_gen_i(p, v); }

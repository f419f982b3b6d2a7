// softgpu_blas.h: what the software GPU's two BLAS shims (softgpu_cublas.cpp, softgpu_cublaslt.cpp) share: the
// cublasStatus_t codes and their names, the compute types, and element access by cudaDataType.
#pragma once

#include "softgpu_numeric.h"

#include <cstddef>
#include <cstdint>

namespace {

// cublasStatus_t (cuBLASLt returns the same codes).
enum : int { kSuccess = 0, kNotInitialized = 1, kAllocFailed = 3, kInvalidValue = 7, kArchMismatch = 8, kMappingError = 11,
    kExecutionFailed = 13, kInternalError = 14, kNotSupported = 15, kLicenseError = 16 };
enum : int { kCompute32F = 68, kCompute32FPedantic = 69, kCompute32FFastTf32 = 77 };

inline const char* blasStatusName(int status)
{
    switch (status) {
    case kSuccess: return "CUBLAS_STATUS_SUCCESS";
    case kNotInitialized: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case kAllocFailed: return "CUBLAS_STATUS_ALLOC_FAILED";
    case kInvalidValue: return "CUBLAS_STATUS_INVALID_VALUE";
    case kArchMismatch: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case kMappingError: return "CUBLAS_STATUS_MAPPING_ERROR";
    case kExecutionFailed: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case kInternalError: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case kNotSupported: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case kLicenseError: return "CUBLAS_STATUS_LICENSE_ERROR";
    default: return "CUBLAS_STATUS_UNKNOWN";
    }
}

// cudaDataType codes of the element types the shims take (library_types.h: CUDA_R_32F 0, CUDA_R_16F 2, CUDA_R_16BF 14).
enum : int { kR32F = 0, kR16F = 2, kR16BF = 14 };

inline size_t elemSize(int t) { return t == kR32F ? 4 : 2; }

// Element i of a matrix of cudaDataType `type`, widened to f32; and the store with round to nearest even.
inline float load(const void* base, int type, size_t i)
{
    switch (type) {
    case kR32F: return static_cast<const float*>(base)[i];
    case kR16F: return halfToFloat(static_cast<const uint16_t*>(base)[i]);
    default: return bf16ToFloat(static_cast<const uint16_t*>(base)[i]);
    }
}

inline void store(void* base, int type, size_t i, float v)
{
    switch (type) {
    case kR32F: static_cast<float*>(base)[i] = v; break;
    case kR16F: static_cast<uint16_t*>(base)[i] = floatToHalf(v); break;
    default: static_cast<uint16_t*>(base)[i] = floatToBf16(v); break;
    }
}

} // namespace

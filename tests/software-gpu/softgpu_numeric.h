// softgpu_numeric.h: the number formats the software GPU's BLAS shims (softgpu_cublas.cpp, softgpu_cublaslt.cpp)
// convert between: f16 and bf16 to and from f32 (round to nearest even), and TF32 input rounding.
#pragma once

#include <cstdint>
#include <cstring>

namespace {

inline float halfToFloat(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0) {
        if (man == 0) bits = sign;
        else {
            // Subnormal: normalise.
            int e = -1;
            do { man <<= 1; e++; } while (!(man & 0x400));
            bits = sign | (uint32_t)(127 - 15 - e) << 23 | (man & 0x3ff) << 13;
        }
    }
    else if (exp == 31) bits = sign | 0x7f800000u | man << 13;
    else bits = sign | (exp + 127 - 15) << 23 | man << 13;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

inline uint16_t floatToHalf(float f)
{
    uint32_t x;
    std::memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t ax = x & 0x7fffffff;
    if (ax > 0x7f800000) return (uint16_t)(sign | 0x7e00);
    if (ax >= 0x477ff000) return (uint16_t)(sign | 0x7c00); // rounds to >= 65520: infinity
    if (ax < 0x33000001) return (uint16_t)sign;             // below half the smallest subnormal
    int e = (int)(ax >> 23) - 127;
    uint32_t man = (ax & 0x7fffff) | 0x800000;
    int shift = e < -14 ? 13 + (-14 - e) : 13;
    uint32_t kept = man >> shift, rem = man & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (kept & 1))) kept++;
    uint32_t bits = e < -14 ? kept : ((uint32_t)(e + 15) << 10) + (kept - 0x400);
    return (uint16_t)(sign | bits);
}

inline float bf16ToFloat(uint16_t b)
{
    uint32_t bits = (uint32_t)b << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

inline uint16_t floatToBf16(float f)
{
    uint32_t x;
    std::memcpy(&x, &f, 4);
    if ((x & 0x7fffffff) > 0x7f800000) return (uint16_t)((x >> 16) | 0x40);
    x += 0x7fff + ((x >> 16) & 1); // nearest, ties to even
    return (uint16_t)(x >> 16);
}

inline float roundTf32(float f)
{
    uint32_t x;
    std::memcpy(&x, &f, 4);
    if ((x & 0x7f800000) == 0x7f800000) return f;
    x += 0x1000; // nearest, ties away from zero on the 13 dropped bits
    x &= 0xffffe000u;
    std::memcpy(&f, &x, 4);
    return f;
}

} // namespace

using System.Numerics;
using System.Runtime.InteropServices;

namespace LearningCurves.Kernels;

/// <summary>float32 to bfloat16 bits on the host (weights are converted once, while they are staged for upload).</summary>
public static class Bf16
{
    /// <summary>dst[i] = bf16 bits of src[i], rounded to nearest even; NaN stays a (quiet) NaN. The same rounding as
    /// the convert_f32_to_bf16 kernel and <c>CpuOps.RoundToBf16</c>.</summary>
    public static void FromFloat(ReadOnlySpan<float> src, Span<ushort> dst)
    {
        if (dst.Length < src.Length) throw new ArgumentException($"destination holds {dst.Length} values, source has {src.Length}");
        var bits = MemoryMarshal.Cast<float, uint>(src);
        int i = 0;
        if (Vector.IsHardwareAccelerated && bits.Length >= Vector<uint>.Count)
        {
            var one = Vector<uint>.One;
            var bias = new Vector<uint>(0x7FFFu);
            var absMask = new Vector<uint>(0x7FFFFFFFu);
            var inf = new Vector<uint>(0x7F800000u);
            var quiet = new Vector<uint>(0x40u);
            var vdst = new uint[Vector<uint>.Count];
            for (; i <= bits.Length - Vector<uint>.Count; i += Vector<uint>.Count)
            {
                var u = new Vector<uint>(bits.Slice(i, Vector<uint>.Count));
                var rounded = Vector.ShiftRightLogical(u + bias + (Vector.ShiftRightLogical(u, 16) & one), 16);
                var nan = Vector.ShiftRightLogical(u, 16) | quiet;
                var isNan = Vector.GreaterThan(u & absMask, inf);
                Vector.ConditionalSelect(isNan, nan, rounded).CopyTo(vdst);
                for (int k = 0; k < vdst.Length; k++) dst[i + k] = (ushort)vdst[k];
            }
        }
        for (; i < bits.Length; i++) dst[i] = One(bits[i]);
    }

    /// <summary>One value's bf16 bits (scalar reference for the vector path and the tail).</summary>
    public static ushort One(uint u) =>
        (u & 0x7FFFFFFFu) > 0x7F800000u ? (ushort)((u >> 16) | 0x40u) : (ushort)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);

    /// <summary>The float a bf16 bit pattern stands for.</summary>
    public static float ToFloat(ushort b) => BitConverter.UInt32BitsToSingle((uint)b << 16);
}

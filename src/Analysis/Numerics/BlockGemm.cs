using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace LearningCurves.Analysis.Numerics;

/// <summary>
/// C = A B where A is a small, fixed, row-major matrix (m x k, e.g. a smoother's 26 x n projection) and B and C are
/// blocks of many curves stored point-major (row p of B holds point p of every curve, at stride ldb). The column
/// dimension (curves) is vectorised with <see cref="Vector{T}"/>; 4 rows x 2 vectors of C are kept in registers
/// across the whole k loop, so each loaded B vector feeds 4 FMAs.
/// </summary>
public static class BlockGemm
{
    /// <summary>
    /// C[i, c] (=|+=) sum_p A[i, p] B[p, c] for i &lt; m, c &lt; cols. A: m x k row-major, contiguous. B: row p at
    /// <c>p * ldb</c>. C: row i at <c>i * ldc</c>.
    /// </summary>
    public static void Multiply(ReadOnlySpan<double> a, int m, int k, ReadOnlySpan<double> b, int ldb,
        Span<double> c, int ldc, int cols, bool accumulate = false)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(m);
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        ArgumentOutOfRangeException.ThrowIfNegative(cols);
        if (m == 0 || cols == 0) return;
        if (ldb < cols || ldc < cols) throw new ArgumentException("leading dimension smaller than the column count");
        if (a.Length < m * k) throw new ArgumentException("A is too short", nameof(a));
        if (k > 0 && b.Length < (long)(k - 1) * ldb + cols) throw new ArgumentException("B is too short", nameof(b));
        if (c.Length < (long)(m - 1) * ldc + cols) throw new ArgumentException("C is too short", nameof(c));
        if (k == 0)
        {
            if (!accumulate)
                for (int i = 0; i < m; i++) c.Slice(i * ldc, cols).Clear();
            return;
        }
        ref double ra = ref MemoryMarshal.GetReference(a);
        ref double rb = ref MemoryMarshal.GetReference(b);
        ref double rc = ref MemoryMarshal.GetReference(c);
        int vw = Vector<double>.Count;
        int i0 = 0;
        for (; i0 + 4 <= m; i0 += 4)
        {
            int c0 = 0;
            for (; c0 + 2 * vw <= cols; c0 += 2 * vw) Kernel4x2(ref ra, i0, k, ref rb, ldb, ref rc, ldc, c0, accumulate);
            for (; c0 + vw <= cols; c0 += vw) Kernel4x1(ref ra, i0, k, ref rb, ldb, ref rc, ldc, c0, accumulate);
            for (; c0 < cols; c0++)
                for (int i = i0; i < i0 + 4; i++) ScalarCell(ref ra, i, k, ref rb, ldb, ref rc, ldc, c0, accumulate);
        }
        for (; i0 < m; i0++)
        {
            int c0 = 0;
            for (; c0 + vw <= cols; c0 += vw) Kernel1x1(ref ra, i0, k, ref rb, ldb, ref rc, ldc, c0, accumulate);
            for (; c0 < cols; c0++) ScalarCell(ref ra, i0, k, ref rb, ldb, ref rc, ldc, c0, accumulate);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Kernel4x2(ref double ra, int i0, int k, ref double rb, int ldb, ref double rc, int ldc, int c0, bool acc)
    {
        int vw = Vector<double>.Count;
        Vector<double> s00 = default, s01 = default, s10 = default, s11 = default;
        Vector<double> s20 = default, s21 = default, s30 = default, s31 = default;
        ref double a0 = ref Unsafe.Add(ref ra, i0 * k);
        ref double a1 = ref Unsafe.Add(ref a0, k);
        ref double a2 = ref Unsafe.Add(ref a1, k);
        ref double a3 = ref Unsafe.Add(ref a2, k);
        for (int p = 0; p < k; p++)
        {
            nuint off = (nuint)((long)p * ldb + c0);
            var b0 = Vector.LoadUnsafe(ref rb, off);
            var b1 = Vector.LoadUnsafe(ref rb, off + (nuint)vw);
            var x = new Vector<double>(Unsafe.Add(ref a0, p));
            s00 = Vector.FusedMultiplyAdd(x, b0, s00);
            s01 = Vector.FusedMultiplyAdd(x, b1, s01);
            x = new Vector<double>(Unsafe.Add(ref a1, p));
            s10 = Vector.FusedMultiplyAdd(x, b0, s10);
            s11 = Vector.FusedMultiplyAdd(x, b1, s11);
            x = new Vector<double>(Unsafe.Add(ref a2, p));
            s20 = Vector.FusedMultiplyAdd(x, b0, s20);
            s21 = Vector.FusedMultiplyAdd(x, b1, s21);
            x = new Vector<double>(Unsafe.Add(ref a3, p));
            s30 = Vector.FusedMultiplyAdd(x, b0, s30);
            s31 = Vector.FusedMultiplyAdd(x, b1, s31);
        }
        Store(ref rc, (long)i0 * ldc + c0, s00, acc);
        Store(ref rc, (long)i0 * ldc + c0 + vw, s01, acc);
        Store(ref rc, (long)(i0 + 1) * ldc + c0, s10, acc);
        Store(ref rc, (long)(i0 + 1) * ldc + c0 + vw, s11, acc);
        Store(ref rc, (long)(i0 + 2) * ldc + c0, s20, acc);
        Store(ref rc, (long)(i0 + 2) * ldc + c0 + vw, s21, acc);
        Store(ref rc, (long)(i0 + 3) * ldc + c0, s30, acc);
        Store(ref rc, (long)(i0 + 3) * ldc + c0 + vw, s31, acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Kernel4x1(ref double ra, int i0, int k, ref double rb, int ldb, ref double rc, int ldc, int c0, bool acc)
    {
        Vector<double> s0 = default, s1 = default, s2 = default, s3 = default;
        ref double a0 = ref Unsafe.Add(ref ra, i0 * k);
        ref double a1 = ref Unsafe.Add(ref a0, k);
        ref double a2 = ref Unsafe.Add(ref a1, k);
        ref double a3 = ref Unsafe.Add(ref a2, k);
        for (int p = 0; p < k; p++)
        {
            var b0 = Vector.LoadUnsafe(ref rb, (nuint)((long)p * ldb + c0));
            s0 = Vector.FusedMultiplyAdd(new Vector<double>(Unsafe.Add(ref a0, p)), b0, s0);
            s1 = Vector.FusedMultiplyAdd(new Vector<double>(Unsafe.Add(ref a1, p)), b0, s1);
            s2 = Vector.FusedMultiplyAdd(new Vector<double>(Unsafe.Add(ref a2, p)), b0, s2);
            s3 = Vector.FusedMultiplyAdd(new Vector<double>(Unsafe.Add(ref a3, p)), b0, s3);
        }
        Store(ref rc, (long)i0 * ldc + c0, s0, acc);
        Store(ref rc, (long)(i0 + 1) * ldc + c0, s1, acc);
        Store(ref rc, (long)(i0 + 2) * ldc + c0, s2, acc);
        Store(ref rc, (long)(i0 + 3) * ldc + c0, s3, acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Kernel1x1(ref double ra, int i, int k, ref double rb, int ldb, ref double rc, int ldc, int c0, bool acc)
    {
        Vector<double> s = default;
        ref double ai = ref Unsafe.Add(ref ra, i * k);
        for (int p = 0; p < k; p++)
            s = Vector.FusedMultiplyAdd(new Vector<double>(Unsafe.Add(ref ai, p)), Vector.LoadUnsafe(ref rb, (nuint)((long)p * ldb + c0)), s);
        Store(ref rc, (long)i * ldc + c0, s, acc);
    }

    private static void ScalarCell(ref double ra, int i, int k, ref double rb, int ldb, ref double rc, int ldc, int c, bool acc)
    {
        double s = 0;
        ref double ai = ref Unsafe.Add(ref ra, i * k);
        for (int p = 0; p < k; p++) s = Math.FusedMultiplyAdd(Unsafe.Add(ref ai, p), Unsafe.Add(ref rb, (nint)((long)p * ldb + c)), s);
        ref double dst = ref Unsafe.Add(ref rc, (nint)((long)i * ldc + c));
        dst = acc ? dst + s : s;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(ref double rc, long offset, Vector<double> v, bool acc)
    {
        if (acc) v += Vector.LoadUnsafe(ref rc, (nuint)offset);
        v.StoreUnsafe(ref rc, (nuint)offset);
    }
}

using System.Numerics;
using System.Runtime.InteropServices;

namespace LearningCurves.Analysis.Statistics;

/// <summary>Vectorised span kernels (System.Numerics.Vector with a scalar tail) used by the statistics code.</summary>
internal static class VectorMath
{
    public static double Dot(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        if (a.Length != b.Length) throw new ArgumentException("length mismatch", nameof(b));
        var va = MemoryMarshal.Cast<double, Vector<double>>(a);
        var vb = MemoryMarshal.Cast<double, Vector<double>>(b);
        var acc = Vector<double>.Zero;
        for (int i = 0; i < va.Length; i++) acc += va[i] * vb[i];
        double s = Vector.Sum(acc);
        for (int i = va.Length * Vector<double>.Count; i < a.Length; i++) s += a[i] * b[i];
        return s;
    }

    public static double Sum(ReadOnlySpan<double> a)
    {
        var va = MemoryMarshal.Cast<double, Vector<double>>(a);
        var acc = Vector<double>.Zero;
        for (int i = 0; i < va.Length; i++) acc += va[i];
        double s = Vector.Sum(acc);
        for (int i = va.Length * Vector<double>.Count; i < a.Length; i++) s += a[i];
        return s;
    }

    /// <summary>y -= alpha * x.</summary>
    public static void SubtractScaled(Span<double> y, double alpha, ReadOnlySpan<double> x)
    {
        if (y.Length != x.Length) throw new ArgumentException("length mismatch", nameof(x));
        var vy = MemoryMarshal.Cast<double, Vector<double>>(y);
        var vx = MemoryMarshal.Cast<double, Vector<double>>(x);
        var va = new Vector<double>(alpha);
        for (int i = 0; i < vy.Length; i++) vy[i] -= va * vx[i];
        for (int i = vy.Length * Vector<double>.Count; i < y.Length; i++) y[i] -= alpha * x[i];
    }

    /// <summary>Sum of squared deviations from <paramref name="center"/>.</summary>
    public static double SumSquaredDeviations(ReadOnlySpan<double> a, double center)
    {
        var va = MemoryMarshal.Cast<double, Vector<double>>(a);
        var vc = new Vector<double>(center);
        var acc = Vector<double>.Zero;
        for (int i = 0; i < va.Length; i++)
        {
            var d = va[i] - vc;
            acc += d * d;
        }
        double s = Vector.Sum(acc);
        for (int i = va.Length * Vector<double>.Count; i < a.Length; i++)
        {
            double d = a[i] - center;
            s += d * d;
        }
        return s;
    }
}

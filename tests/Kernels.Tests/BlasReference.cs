using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using LearningCurves.Engine.Backends;
using Xunit;

namespace LearningCurves.Kernels.Tests;

/// <summary>
/// What the cuBLAS and cuBLASLt semantics tests compare against: OpenBLAS's cblas_sgemm (column-major), and the error
/// bounds of the arithmetic the device is allowed to do.
/// </summary>
internal static unsafe class BlasReference
{
    public const int ColMajor = 102, NoTrans = 111, Trans = 112;

    /// <summary>cblas_sgemm(order, transA, transB, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc); skips without OpenBLAS.</summary>
    public static delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void> Sgemm()
    {
        Assert.SkipUnless(Blas.IsAvailable, "OpenBLAS is not installed (Debian package libopenblas0-pthread)");
        var h = NativeLibrary.Load(Blas.LibraryName);
        return (delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void>)NativeLibrary.GetExport(h, "cblas_sgemm");
    }

    /// <summary>
    /// The bound on |TF32 product - exact product| per element, from S = |alpha| |op(A)| |op(B)| (the product of the
    /// absolute values) and k. TF32 keeps 10 of f32's 23 mantissa bits. Whether the hardware rounds an input to
    /// nearest (cvt.rna.tf32.f32: relative error at most 2^-11) or feeds the f32 bits to the tensor core, which reads
    /// only the TF32 bits (truncation: relative error below 2^-10), differs between cuBLAS kernels (see docs/cuda.md),
    /// so the bound takes the worse: each product a b is off by at most (2^-10 + 2^-10 + 2^-20) |a b|, plus the f32
    /// accumulation of k terms (k 2^-24 S, for the device and for the reference each), plus the rounding of the
    /// result and of beta C (2^-23 |result|).
    /// </summary>
    public static double Tf32Bound(double s, int k, double result) =>
        s * (Math.Pow(2, -9) + Math.Pow(2, -20) + 2.0 * (k + 2) * Math.Pow(2, -24)) + Math.Pow(2, -23) * Math.Abs(result) + 1e-7;

    /// <summary>GPT-2's gelu_new: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), in double.</summary>
    public static double GeluTanh(double x) => 0.5 * x * (1.0 + Math.Tanh(Math.Sqrt(2.0 / Math.PI) * (x + 0.044715 * x * x * x)));

    /// <summary>Asserts |got[i] - want[i]| &lt;= tol[i] everywhere (NaN never matches); lists the first bad values.</summary>
    public static void AssertWithin(ReadOnlySpan<float> want, ReadOnlySpan<float> got, ReadOnlySpan<double> tol, string context)
    {
        Assert.True(want.Length == got.Length, $"{context}: {got.Length} values, expected {want.Length}");
        int bad = 0;
        double worst = 0;
        var sb = new StringBuilder();
        for (int i = 0; i < want.Length; i++)
        {
            double d = Math.Abs((double)want[i] - got[i]);
            if (double.IsNaN(d)) d = double.PositiveInfinity;
            worst = Math.Max(worst, tol[i] > 0 ? d / tol[i] : d);
            if (d <= tol[i]) continue;
            if (bad++ < 8) sb.Append(CultureInfo.InvariantCulture, $"\n  [{i}] want {want[i]:R} got {got[i]:R} (diff {d:E3}, bound {tol[i]:E3})");
        }
        Assert.True(bad == 0, $"{context}: {bad} of {want.Length} values off (worst diff / bound {worst:F2}){sb}");
    }

    /// <summary>Values as the device stores them in bf16: rounded to nearest even.</summary>
    public static (ushort[] Bits, float[] Values) Bf16Stored(float[] v)
    {
        var b = new ushort[v.Length];
        Bf16.FromFloat(v, b);
        return (b, b.Select(Bf16.ToFloat).ToArray());
    }
}

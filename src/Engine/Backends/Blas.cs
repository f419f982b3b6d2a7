using System.Reflection;
using System.Runtime.InteropServices;
using LearningCurves.Formats;

namespace LearningCurves.Engine.Backends;

/// <summary>
/// OpenBLAS through <c>cblas_sgemm</c>. The library is found by a resolver that tries the usual names and Debian's
/// openblas-pthread folder and keeps a trace of what it tried for the error message.
/// </summary>
public static partial class Blas
{
    private const string Lib = "lc_openblas";
    private const int RowMajor = 101, NoTrans = 111, Trans = 112;

    private static readonly string[] Candidates =
    [
        "libopenblas.so.0",
        "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0",
        "/usr/lib/aarch64-linux-gnu/openblas-pthread/libopenblas.so.0",
        "libopenblas.so",
        "libopenblasp-r0.3.so",
        "libopenblas.dylib",
        "libopenblas.dll",
    ];

    private static readonly Lazy<(IntPtr Handle, string Trace)> Loaded = new(Load);

    static Blas() => NativeLibrary.SetDllImportResolver(typeof(Blas).Assembly, Resolve);

    private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? path)
    {
        if (name != Lib) return IntPtr.Zero;
        var (h, trace) = Loaded.Value;
        return h != IntPtr.Zero ? h : throw new UserError(
            $"OpenBLAS not found (install Debian's libopenblas0-pthread: dotnet pwsh ./build.ps1 setup); tried: {trace}");
    }

    private static (IntPtr, string) Load()
    {
        var tried = new List<string>();
        foreach (var c in Candidates)
        {
            if (NativeLibrary.TryLoad(c, out var h)) return (h, c);
            tried.Add(c);
        }
        return (IntPtr.Zero, string.Join(", ", tried));
    }

    /// <summary>Which library file was loaded (or the trace of failed attempts).</summary>
    public static string LibraryName => Loaded.Value.Trace;

    /// <summary>True when OpenBLAS loads on this machine.</summary>
    public static bool IsAvailable => Loaded.Value.Handle != IntPtr.Zero;

    [LibraryImport(Lib, EntryPoint = "cblas_sgemm")]
    private static unsafe partial void cblas_sgemm(int order, int transA, int transB, int m, int n, int k,
        float alpha, float* a, int lda, float* b, int ldb, float beta, float* c, int ldc);

    [LibraryImport(Lib, EntryPoint = "openblas_get_num_threads")]
    private static partial int openblas_get_num_threads();

    [LibraryImport(Lib, EntryPoint = "openblas_get_config")]
    private static partial IntPtr openblas_get_config();

    /// <summary>OpenBLAS's build configuration and thread count, for reports.</summary>
    public static string Describe()
    {
        var cfg = Marshal.PtrToStringAnsi(openblas_get_config()) ?? "?";
        return $"OpenBLAS {cfg.Trim()} ({openblas_get_num_threads()} threads, {LibraryName})";
    }

    /// <summary>
    /// Row-major C (m, n) = alpha * op(A) op(B) + beta * C, op(A) (m, k), op(B) (k, n). A is (m, k), or (k, m) when
    /// <paramref name="transA"/>; B is (k, n), or (n, k) when <paramref name="transB"/>.
    /// </summary>
    public static unsafe void Sgemm(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, ReadOnlySpan<float> b, float beta, Span<float> c)
    {
        if (m < 0 || n < 0 || k < 0) throw new ArgumentOutOfRangeException(nameof(m), "negative dimension");
        if ((long)a.Length < (long)m * k || (long)b.Length < (long)k * n || (long)c.Length < (long)m * n)
            throw new ArgumentException($"sgemm ({m}x{k})({k}x{n}): buffers too small (A {a.Length}, B {b.Length}, C {c.Length})");
        if (m == 0 || n == 0) return;
        if (k == 0)
        {
            if (beta == 0) c[..(m * n)].Clear();
            else System.Numerics.Tensors.TensorPrimitives.Multiply(c[..(m * n)], beta, c[..(m * n)]);
            return;
        }
        fixed (float* pa = a, pb = b, pc = c)
        {
            cblas_sgemm(RowMajor, transA ? Trans : NoTrans, transB ? Trans : NoTrans, m, n, k, alpha,
                pa, transA ? m : k, pb, transB ? k : n, beta, pc, n);
        }
    }
}

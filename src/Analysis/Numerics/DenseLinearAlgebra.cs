namespace LearningCurves.Analysis.Numerics;

/// <summary>
/// Small dense linear algebra on row-major <c>double[]</c> matrices (a matrix with r rows and c columns stores
/// element (i, j) at <c>i * c + j</c>). Sized for the smoother's 26 x 26 systems and n x 26 designs; not a BLAS.
/// </summary>
public static class DenseLinearAlgebra
{
    /// <summary>
    /// Cholesky factor of a symmetric positive definite matrix: returns lower-triangular L with A = L L'.
    /// Only the lower triangle of <paramref name="a"/> is read. Throws <see cref="ArgumentException"/> when A is not
    /// numerically positive definite.
    /// </summary>
    public static double[] Cholesky(ReadOnlySpan<double> a, int n)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        if (a.Length < n * n) throw new ArgumentException($"need {n}x{n} elements, got {a.Length}", nameof(a));
        var l = new double[n * n];
        for (int j = 0; j < n; j++)
        {
            double d = a[j * n + j];
            for (int k = 0; k < j; k++) d -= l[j * n + k] * l[j * n + k];
            if (!(d > 0)) throw new ArgumentException($"matrix is not positive definite (pivot {j} = {d})", nameof(a));
            double ljj = Math.Sqrt(d);
            l[j * n + j] = ljj;
            for (int i = j + 1; i < n; i++)
            {
                double s = a[i * n + j];
                for (int k = 0; k < j; k++) s -= l[i * n + k] * l[j * n + k];
                l[i * n + j] = s / ljj;
            }
        }
        return l;
    }

    /// <summary>Solves L X = B in place for lower-triangular L (n x n); B is n x m, row-major.</summary>
    public static void ForwardSubstitute(ReadOnlySpan<double> l, int n, Span<double> b, int m)
    {
        if (l.Length < n * n || b.Length < n * m) throw new ArgumentException("matrix sizes do not match");
        for (int i = 0; i < n; i++)
        {
            var bi = b.Slice(i * m, m);
            for (int k = 0; k < i; k++)
            {
                double lik = l[i * n + k];
                if (lik == 0) continue;
                var bk = b.Slice(k * m, m);
                for (int c = 0; c < m; c++) bi[c] -= lik * bk[c];
            }
            double inv = 1.0 / l[i * n + i];
            for (int c = 0; c < m; c++) bi[c] *= inv;
        }
    }

    /// <summary>Solves L' X = B in place for lower-triangular L (n x n); B is n x m, row-major.</summary>
    public static void BackSubstituteTransposed(ReadOnlySpan<double> l, int n, Span<double> b, int m)
    {
        if (l.Length < n * n || b.Length < n * m) throw new ArgumentException("matrix sizes do not match");
        for (int i = n - 1; i >= 0; i--)
        {
            var bi = b.Slice(i * m, m);
            for (int k = i + 1; k < n; k++)
            {
                double lki = l[k * n + i];
                if (lki == 0) continue;
                var bk = b.Slice(k * m, m);
                for (int c = 0; c < m; c++) bi[c] -= lki * bk[c];
            }
            double inv = 1.0 / l[i * n + i];
            for (int c = 0; c < m; c++) bi[c] *= inv;
        }
    }

    /// <summary>Solves the SPD system A X = B (A n x n, B n x m) by Cholesky; returns X.</summary>
    public static double[] SolveSpd(ReadOnlySpan<double> a, int n, ReadOnlySpan<double> b, int m)
    {
        var l = Cholesky(a, n);
        var x = b[..(n * m)].ToArray();
        ForwardSubstitute(l, n, x, m);
        BackSubstituteTransposed(l, n, x, m);
        return x;
    }

    /// <summary>
    /// Thin QR of a tall matrix A (m x n, m &gt;= n) by Householder reflections: A = Q R with Q (m x n) having
    /// orthonormal columns and R (n x n) upper triangular. Works for rank-deficient A (R then has tiny diagonal entries).
    /// </summary>
    public static (double[] Q, double[] R) ThinQr(ReadOnlySpan<double> a, int m, int n)
    {
        if (m < n) throw new ArgumentException($"thin QR needs rows >= columns ({m} < {n})");
        if (a.Length < m * n) throw new ArgumentException("matrix too short", nameof(a));
        var w = a[..(m * n)].ToArray();
        var v = new double[n * m]; // Householder vectors, one per column, each m long (zeros above the diagonal)
        var beta = new double[n];
        for (int j = 0; j < n; j++)
        {
            double norm = 0;
            for (int i = j; i < m; i++) norm = Hypot(norm, w[i * n + j]);
            double x0 = w[j * n + j];
            double alpha = x0 > 0 ? -norm : norm; // sign opposite to x0 avoids cancellation in v0
            var vj = v.AsSpan(j * m, m);
            for (int i = j; i < m; i++) vj[i] = w[i * n + j];
            vj[j] = x0 - alpha;
            double vnorm2 = 0;
            for (int i = j; i < m; i++) vnorm2 += vj[i] * vj[i];
            beta[j] = vnorm2 > 0 ? 2.0 / vnorm2 : 0;
            // Apply H_j = I - beta v v' to the remaining columns.
            for (int c = j; c < n; c++)
            {
                double s = 0;
                for (int i = j; i < m; i++) s += vj[i] * w[i * n + c];
                s *= beta[j];
                for (int i = j; i < m; i++) w[i * n + c] -= s * vj[i];
            }
        }
        var r = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int j = i; j < n; j++) r[i * n + j] = w[i * n + j];
        // Q = H_0 H_1 ... H_{n-1} applied to the first n columns of the identity, accumulated backwards.
        var q = new double[m * n];
        for (int i = 0; i < n; i++) q[i * n + i] = 1;
        for (int j = n - 1; j >= 0; j--)
        {
            var vj = v.AsSpan(j * m, m);
            for (int c = 0; c < n; c++)
            {
                double s = 0;
                for (int i = j; i < m; i++) s += vj[i] * q[i * n + c];
                s *= beta[j];
                for (int i = j; i < m; i++) q[i * n + c] -= s * vj[i];
            }
        }
        return (q, r);
    }

    private static double Hypot(double a, double b)
    {
        a = Math.Abs(a);
        b = Math.Abs(b);
        if (a < b) (a, b) = (b, a);
        if (a == 0) return 0;
        double t = b / a;
        return a * Math.Sqrt(1 + t * t);
    }

    /// <summary>C = A B for row-major A (m x k) and B (k x n); returns C (m x n).</summary>
    public static double[] Multiply(ReadOnlySpan<double> a, int m, int k, ReadOnlySpan<double> b, int n)
    {
        if (a.Length < m * k || b.Length < k * n) throw new ArgumentException("matrix sizes do not match");
        var c = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int p = 0; p < k; p++)
            {
                double aip = a[i * k + p];
                if (aip == 0) continue;
                for (int j = 0; j < n; j++) c[i * n + j] += aip * b[p * n + j];
            }
        return c;
    }

    /// <summary>The transpose of row-major A (m x n), as an n x m row-major matrix.</summary>
    public static double[] Transpose(ReadOnlySpan<double> a, int m, int n)
    {
        if (a.Length < m * n) throw new ArgumentException("matrix too short", nameof(a));
        var t = new double[n * m];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) t[j * m + i] = a[i * n + j];
        return t;
    }
}

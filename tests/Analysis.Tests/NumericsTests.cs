using LearningCurves.Analysis.Numerics;
using Xunit;

namespace LearningCurves.Analysis.Tests;

public sealed class NumericsTests
{
    private static double[] RandomMatrix(Random rng, int m, int n)
    {
        var a = new double[m * n];
        for (int i = 0; i < a.Length; i++) a[i] = rng.NextDouble() * 2 - 1;
        return a;
    }

    private static void AssertClose(ReadOnlySpan<double> expected, ReadOnlySpan<double> actual, double tol, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        double max = 0;
        int first = -1;
        for (int i = 0; i < expected.Length; i++)
        {
            double d = Math.Abs(expected[i] - actual[i]);
            if (d > tol && first < 0) first = i;
            max = Math.Max(max, d);
        }
        Assert.True(first < 0, $"{what}: first bad index {first} (expected {(first >= 0 ? expected[first] : 0):R}, got {(first >= 0 ? actual[first] : 0):R}), max diff {max:E3}");
    }

    [Theory]
    [InlineData(7)]
    [InlineData(-1)] // a fresh seed each run
    public void BlockGemmMatchesNaiveForEveryRemainder(int seed)
    {
        var rng = seed < 0 ? new Random() : new Random(seed);
        foreach (int m in new[] { 1, 3, 4, 5, 8, 9, 26 })
            foreach (int k in new[] { 0, 1, 2, 5, 26 })
                foreach (int cols in new[] { 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 33 })
                {
                    int ldb = cols + rng.Next(3), ldc = cols + rng.Next(3);
                    var a = RandomMatrix(rng, m, k);
                    var b = RandomMatrix(rng, Math.Max(k, 1), ldb);
                    var c = RandomMatrix(rng, m, ldc);
                    var c2 = c.ToArray();
                    bool acc = rng.Next(2) == 0;
                    BlockGemm.Multiply(a, m, k, b, ldb, c, ldc, cols, acc);
                    for (int i = 0; i < m; i++)
                        for (int j = 0; j < cols; j++)
                        {
                            double s = 0;
                            for (int p = 0; p < k; p++) s += a[i * k + p] * b[p * ldb + j];
                            c2[i * ldc + j] = acc ? c2[i * ldc + j] + s : s;
                        }
                    AssertClose(c2, c, 1e-12, $"m={m} k={k} cols={cols} acc={acc}");
                }
    }

    [Fact]
    public void CholeskySolvesSpdSystems()
    {
        var rng = new Random(3);
        foreach (int n in new[] { 1, 2, 5, 26 })
        {
            var g = RandomMatrix(rng, n, n);
            var a = DenseLinearAlgebra.Multiply(DenseLinearAlgebra.Transpose(g, n, n), n, n, g, n);
            for (int i = 0; i < n; i++) a[i * n + i] += n;
            var x = RandomMatrix(rng, n, 3);
            var b = DenseLinearAlgebra.Multiply(a, n, n, x, 3);
            AssertClose(x, DenseLinearAlgebra.SolveSpd(a, n, b, 3), 1e-10, $"n={n}");
        }
        Assert.Throws<ArgumentException>(() => DenseLinearAlgebra.Cholesky([1, 2, 2, 1], 2));
    }

    [Fact]
    public void ThinQrIsOrthonormalAndReconstructs()
    {
        var rng = new Random(5);
        foreach (var (m, n) in new[] { (5, 5), (40, 26), (221, 26) })
        {
            var a = RandomMatrix(rng, m, n);
            var (q, r) = DenseLinearAlgebra.ThinQr(a, m, n);
            AssertClose(a, DenseLinearAlgebra.Multiply(q, m, n, r, n), 1e-12, $"QR={m}x{n}");
            var qtq = DenseLinearAlgebra.Multiply(DenseLinearAlgebra.Transpose(q, m, n), n, m, q, n);
            var eye = new double[n * n];
            for (int i = 0; i < n; i++) eye[i * n + i] = 1;
            AssertClose(eye, qtq, 1e-13, $"Q'Q {m}x{n}");
            for (int i = 1; i < n; i++)
                for (int j = 0; j < i; j++) Assert.Equal(0, r[i * n + j]);
        }
    }
}

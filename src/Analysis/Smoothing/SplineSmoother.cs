using System.Numerics;
using LearningCurves.Analysis.Numerics;

namespace LearningCurves.Analysis.Smoothing;

/// <summary>
/// Penalized cubic B-spline smoothing (pyGAM 0.9.0 <c>LinearGAM(n_splines=25).gridsearch(lam=...)</c>) of many curves
/// that share one x grid. The model is y ~ X beta with X = [B(x) | 1] (the <see cref="BSplineBasis"/> columns, then an
/// intercept); the penalty is lambda * D2'D2 on the spline coefficients (second differences) plus sqrt(machine
/// epsilon) * I on all coefficients; beta = (X'X + P)^-1 X'y. For each candidate lambda the curve's GCV score
/// n * RSS / (n - gamma * trace(H))^2 is computed and the smallest wins (the first on ties).
/// <para>
/// Everything that depends only on x is precomputed once: the thin QR X = QR, and per lambda the matrices
/// I - K and (X'X + P)^-1 X' expressed through R, where K = R (R'R + P)^-1 R'. A block of curves then costs two
/// n x 26 products (projection and its residual), one (lambdas*26) x 26 product for every lambda's residual, one 26 x 26
/// product per curve for the coefficients and a sparse (4 basis functions + intercept per point) evaluation:
/// about 50 kflop per 221-point curve, against an n x n hat matrix per lambda.
/// </para>
/// Use: make one smoother per x grid (thread-safe, immutable), one <see cref="SmootherBlock"/> per thread, then call
/// <see cref="Smooth"/> on blocks of curves stored point-major (row i = point i of every curve).
/// </summary>
public sealed class SplineSmoother
{
    /// <summary>The paper's candidates: numpy.logspace(-3, 3, 11).</summary>
    public static IReadOnlyList<double> PaperLambdas { get; } = Logspace(-3, 3, 11);

    /// <summary>sqrt of the float64 machine epsilon, the ridge pyGAM adds to every coefficient.</summary>
    public static readonly double Ridge = Math.Sqrt(Math.Pow(2, -52));

    private readonly double[] _x;
    private readonly double[] _q;      // (n, p) orthonormal columns, X = Q R
    private readonly double[] _qt;     // (p, n)
    private readonly double[] _mStack; // (L * p, p): I - K_l for each lambda l
    private readonly double[][] _coef; // per lambda (p, p): (R'R + P_l)^-1 R', so beta = coef * (Q'y)
    private readonly double[] _edof;   // per lambda: trace(H_l) = trace(K_l)
    private readonly int[] _fitFirst;  // per point: first non-zero basis function
    private readonly double[] _fitW;   // (n, order + 1) its basis values
    private readonly int[] _gridFirst;
    private readonly double[] _gridW;  // (G, order + 1)
    private readonly double[] _gridX;
    private readonly double[] _lambdas;
    private readonly bool _padded;     // fewer points than coefficients: Q's rows do not span a full orthonormal basis

    /// <param name="x">The shared x values (any order; at least two distinct values, all finite).</param>
    /// <param name="lambdas">Candidate smoothing parameters (default <see cref="PaperLambdas"/>), each &gt; 0.</param>
    /// <param name="splines">Number of B-spline basis functions (25 in the paper).</param>
    /// <param name="gridPoints">Points of the evenly spaced evaluation grid over [min x, max x] (1000 in the paper).</param>
    /// <param name="gamma">GCV's inflation of the effective degrees of freedom (pyGAM's 1.4).</param>
    public SplineSmoother(ReadOnlySpan<double> x, IReadOnlyList<double>? lambdas = null, int splines = 25,
        int gridPoints = 1000, double gamma = 1.4)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(gridPoints, 2);
        if (x.Length < 2) throw new ArgumentException("need at least two x values", nameof(x));
        double min = double.PositiveInfinity, max = double.NegativeInfinity;
        foreach (double v in x)
        {
            if (!double.IsFinite(v)) throw new ArgumentException("x holds a non-finite value", nameof(x));
            min = Math.Min(min, v);
            max = Math.Max(max, v);
        }
        lambdas ??= PaperLambdas;
        if (lambdas.Count == 0) throw new ArgumentException("need at least one lambda", nameof(lambdas));
        foreach (double l in lambdas)
            if (!(l > 0) || !double.IsFinite(l)) throw new ArgumentException($"lambda {l} is not a positive number", nameof(lambdas));
        _x = x.ToArray();
        _lambdas = [.. lambdas];
        Gamma = gamma;
        Basis = new BSplineBasis(min, max, splines);
        int n = _x.Length, p = splines + 1, w = Basis.Order + 1;
        Points = n;
        Coefficients = p;

        // Design X = [B | 1], (n, p), and its sparse form for evaluation.
        var design = new double[n * p];
        _fitFirst = new int[n];
        _fitW = new double[n * w];
        for (int i = 0; i < n; i++)
        {
            _fitFirst[i] = Basis.EvaluateLocal(_x[i], _fitW.AsSpan(i * w, w));
            for (int k = 0; k < w; k++) design[i * p + _fitFirst[i] + k] = _fitW[i * w + k];
            design[i * p + splines] = 1;
        }
        _gridX = BSplineBasis.Linspace(min, max, gridPoints);
        _gridFirst = new int[gridPoints];
        _gridW = new double[gridPoints * w];
        for (int g = 0; g < gridPoints; g++) _gridFirst[g] = Basis.EvaluateLocal(_gridX[g], _gridW.AsSpan(g * w, w));

        // With fewer points than coefficients R would not be square; pad X with zero rows (they change neither X'X nor X'y).
        int rows = Math.Max(n, p);
        var padded = design;
        if (rows > n)
        {
            padded = new double[rows * p];
            design.CopyTo(padded, 0);
        }
        var (q, r) = DenseLinearAlgebra.ThinQr(padded, rows, p);
        _q = q.AsSpan(0, n * p).ToArray();
        _padded = rows > n;
        _qt = DenseLinearAlgebra.Transpose(_q, n, p);
        var rt = DenseLinearAlgebra.Transpose(r, p, p);
        var rtr = DenseLinearAlgebra.Multiply(rt, p, p, r, p);
        var penalty = SecondDifferencePenalty(splines, p);

        int nl = _lambdas.Length;
        _mStack = new double[nl * p * p];
        _coef = new double[nl][];
        _edof = new double[nl];
        var a = new double[p * p];
        for (int l = 0; l < nl; l++)
        {
            for (int i = 0; i < p * p; i++) a[i] = rtr[i] + _lambdas[l] * penalty[i];
            for (int i = 0; i < p; i++) a[i * p + i] += Ridge;
            var chol = DenseLinearAlgebra.Cholesky(a, p);
            // Wm = L^-1 R' so that K = Wm' Wm and (R'R + P)^-1 R' = L^-T Wm.
            var wm = rt.ToArray();
            DenseLinearAlgebra.ForwardSubstitute(chol, p, wm, p);
            var wmt = DenseLinearAlgebra.Transpose(wm, p, p);
            var k = DenseLinearAlgebra.Multiply(wmt, p, p, wm, p);
            double tr = 0;
            for (int i = 0; i < p; i++) tr += k[i * p + i];
            _edof[l] = tr;
            var m = _mStack.AsSpan(l * p * p, p * p);
            for (int i = 0; i < p * p; i++) m[i] = -k[i];
            for (int i = 0; i < p; i++) m[i * p + i] += 1;
            DenseLinearAlgebra.BackSubstituteTransposed(chol, p, wm, p);
            _coef[l] = wm;
        }
    }

    /// <summary>numpy.logspace(start, stop, num) (base 10).</summary>
    public static double[] Logspace(double start, double stop, int num)
    {
        var e = BSplineBasis.Linspace(start, stop, num);
        for (int i = 0; i < e.Length; i++) e[i] = Math.Pow(10, e[i]);
        return e;
    }

    /// <summary>The penalty D2'D2 on the first <paramref name="splines"/> of <paramref name="p"/> coefficients (p x p).</summary>
    public static double[] SecondDifferencePenalty(int splines, int p)
    {
        var s = new double[p * p];
        // Each second difference row (1, -2, 1) at j..j+2 adds its outer product.
        ReadOnlySpan<double> d = [1, -2, 1];
        for (int j = 0; j + 2 < splines; j++)
            for (int a = 0; a < 3; a++)
                for (int b = 0; b < 3; b++) s[(j + a) * p + j + b] += d[a] * d[b];
        return s;
    }

    public BSplineBasis Basis { get; }

    /// <summary>n, the number of x values (points per curve).</summary>
    public int Points { get; }

    /// <summary>p = splines + 1: coefficients per curve, the intercept last.</summary>
    public int Coefficients { get; }

    public double Gamma { get; }

    public IReadOnlyList<double> X => _x;

    public IReadOnlyList<double> Lambdas => _lambdas;

    /// <summary>The evaluation grid, numpy.linspace(min x, max x, gridPoints).</summary>
    public IReadOnlyList<double> GridX => _gridX;

    /// <summary>trace of the hat matrix (pyGAM's edof) for lambda number <paramref name="lambdaIndex"/>.</summary>
    public double EffectiveDof(int lambdaIndex) => _edof[lambdaIndex];

    /// <summary>The hat matrix H = X (X'X + P)^-1 X' for one lambda, (n, n) row-major. For inspection; O(n^2).</summary>
    public double[] HatMatrix(int lambdaIndex)
    {
        int n = Points, p = Coefficients;
        var k = new double[p * p];
        var m = _mStack.AsSpan(lambdaIndex * p * p, p * p);
        for (int i = 0; i < p * p; i++) k[i] = -m[i];
        for (int i = 0; i < p; i++) k[i * p + i] += 1;
        var qk = DenseLinearAlgebra.Multiply(_q, n, p, k, p);
        return DenseLinearAlgebra.Multiply(qk, n, p, _qt, n);
    }

    /// <summary>A workspace for blocks of up to <paramref name="capacity"/> curves. Not thread-safe: one per thread.</summary>
    public SmootherBlock CreateBlock(int capacity) => new(this, capacity);

    /// <summary>
    /// Smooths <paramref name="curves"/> curves: y[i * ldy + c] is point i (in the order of <see cref="X"/>) of curve c.
    /// Values must be finite. Results (chosen lambda, GCV, coefficients, fitted values) land in <paramref name="block"/>.
    /// </summary>
    public void Smooth(ReadOnlySpan<double> y, int ldy, int curves, SmootherBlock block)
    {
        ArgumentNullException.ThrowIfNull(block);
        if (!ReferenceEquals(block.Owner, this)) throw new ArgumentException("the block belongs to another smoother", nameof(block));
        ArgumentOutOfRangeException.ThrowIfNegative(curves);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(curves, block.Capacity);
        if (curves == 0)
        {
            block.Count = 0;
            return;
        }
        if (ldy < curves) throw new ArgumentException("ldy is smaller than the curve count", nameof(ldy));
        int n = Points, p = Coefficients, cap = block.Capacity, nl = _lambdas.Length;
        if (y.Length < (long)(n - 1) * ldy + curves) throw new ArgumentException("y is too short", nameof(y));
        block.Count = curves;

        // w = Q'y, (p, curves)
        BlockGemm.Multiply(_qt, p, n, y, ldy, block.W, cap, curves);
        // rss0 = |y - Q Q'y|^2: the part of the residual no lambda changes.
        var rss0 = block.Rss0.AsSpan(0, curves);
        rss0.Clear();
        if (!_padded)
        {
            BlockGemm.Multiply(_q, n, p, block.W, cap, block.Scratch, cap, curves);
            for (int i = 0; i < n; i++)
                AddSquaredDifference(y.Slice(i * ldy, curves), block.Scratch.AsSpan(i * cap, curves), rss0);
        }
        // (I - K_l) Q'y for every lambda at once, (L * p, curves); RSS_l = rss0 + its squared norm.
        BlockGemm.Multiply(_mStack, nl * p, p, block.W, cap, block.V, cap, curves);
        var best = block.Gcv.AsSpan(0, curves);
        var bestIndex = block.LambdaIndex.AsSpan(0, curves);
        var rss = block.Rss.AsSpan(0, curves);
        for (int l = 0; l < nl; l++)
        {
            rss0.CopyTo(rss);
            if (!_padded)
            {
                // y - mu = (I - QQ')y + Q (I - K) Q'y, two orthogonal parts.
                for (int i = 0; i < p; i++) AddSquare(block.V.AsSpan((l * p + i) * cap, curves), rss);
            }
            else
            {
                // Q's n rows are not orthonormal here: form mu = Q K Q'y = Q (w - V_l) and take y - mu directly.
                for (int i = 0; i < p * cap; i++) block.U[i] = block.W[i] - block.V[l * p * cap + i];
                BlockGemm.Multiply(_q, n, p, block.U, cap, block.Scratch, cap, curves);
                for (int i = 0; i < n; i++)
                    AddSquaredDifference(y.Slice(i * ldy, curves), block.Scratch.AsSpan(i * cap, curves), rss);
            }
            double denom = n - Gamma * _edof[l];
            double scale = n / (denom * denom);
            for (int c = 0; c < curves; c++)
            {
                double gcv = rss[c] * scale;
                if (l == 0 || gcv < best[c])
                {
                    best[c] = gcv;
                    bestIndex[c] = l;
                }
            }
        }
        // beta = (X'X + P_l)^-1 X'y = coef_l (Q'y), each curve with its own lambda, (p, curves).
        Span<double> wc = stackalloc double[p];
        for (int c = 0; c < curves; c++)
        {
            for (int j = 0; j < p; j++) wc[j] = block.W[j * cap + c];
            var coef = _coef[bestIndex[c]];
            for (int j = 0; j < p; j++)
            {
                double s = 0;
                var row = coef.AsSpan(j * p, p);
                for (int k = 0; k < p; k++) s += row[k] * wc[k];
                block.Beta[j * cap + c] = s;
            }
        }
        for (int i = 0; i < n; i++) EvaluateRow(_fitFirst[i], _fitW.AsSpan(i * (Basis.Order + 1), Basis.Order + 1), block, block.Fitted.AsSpan(i * cap, curves));
    }

    /// <summary>Writes the smoothed curves of the block's last <see cref="Smooth"/> on the grid: grid[g * ldg + c].</summary>
    public void EvaluateGrid(SmootherBlock block, Span<double> grid, int ldg)
    {
        ArgumentNullException.ThrowIfNull(block);
        int curves = block.Count, w = Basis.Order + 1;
        if (ldg < curves || grid.Length < (long)(_gridX.Length - 1) * ldg + curves) throw new ArgumentException("grid is too short", nameof(grid));
        for (int g = 0; g < _gridX.Length; g++) EvaluateRow(_gridFirst[g], _gridW.AsSpan(g * w, w), block, grid.Slice(g * ldg, curves));
    }

    /// <summary>The minimum over the grid of each smoothed curve of the block's last <see cref="Smooth"/>.</summary>
    public void GridMinimum(SmootherBlock block, Span<double> min)
    {
        ArgumentNullException.ThrowIfNull(block);
        int curves = block.Count, w = Basis.Order + 1;
        var row = block.Row.AsSpan(0, curves);
        var m = min[..curves];
        m.Fill(double.PositiveInfinity);
        for (int g = 0; g < _gridX.Length; g++)
        {
            EvaluateRow(_gridFirst[g], _gridW.AsSpan(g * w, w), block, row);
            MinInPlace(row, m);
        }
    }

    /// <summary>
    /// For each curve of the block's last <see cref="Smooth"/>, the first grid index whose smoothed value is
    /// &lt;= threshold[c], or -1 where none is.
    /// </summary>
    public void FirstGridIndexAtOrBelow(SmootherBlock block, ReadOnlySpan<double> threshold, Span<int> index)
    {
        ArgumentNullException.ThrowIfNull(block);
        int curves = block.Count, w = Basis.Order + 1;
        var row = block.Row.AsSpan(0, curves);
        var idx = index[..curves];
        idx.Fill(-1);
        int left = curves;
        for (int g = 0; g < _gridX.Length && left > 0; g++)
        {
            EvaluateRow(_gridFirst[g], _gridW.AsSpan(g * w, w), block, row);
            for (int c = 0; c < curves; c++)
            {
                if (idx[c] < 0 && row[c] <= threshold[c])
                {
                    idx[c] = g;
                    left--;
                }
            }
        }
    }

    /// <summary>Evaluates a fitted coefficient vector (p values, intercept last) at arbitrary x (linear outside the data range).</summary>
    public double Evaluate(ReadOnlySpan<double> beta, double x)
    {
        if (beta.Length != Coefficients) throw new ArgumentException($"need {Coefficients} coefficients", nameof(beta));
        Span<double> v = stackalloc double[Basis.Order + 1];
        int first = Basis.EvaluateLocal(x, v);
        double s = 0;
        for (int k = 0; k < v.Length; k++) s += v[k] * beta[first + k];
        return s + beta[Coefficients - 1];
    }

    // dst[c] = sum_k w[k] beta[first + k, c] + beta[intercept, c]
    private void EvaluateRow(int first, ReadOnlySpan<double> w, SmootherBlock block, Span<double> dst)
    {
        int cap = block.Capacity, curves = dst.Length;
        var b0 = block.Beta.AsSpan(first * cap, curves);
        var b1 = block.Beta.AsSpan((first + 1) * cap, curves);
        var b2 = block.Beta.AsSpan((first + 2) * cap, curves);
        var b3 = block.Beta.AsSpan((first + 3) * cap, curves);
        var bi = block.Beta.AsSpan((Coefficients - 1) * cap, curves);
        if (w.Length != 4)
        {
            for (int c = 0; c < curves; c++)
            {
                double s = 0;
                for (int k = 0; k < w.Length; k++) s += w[k] * block.Beta[(first + k) * cap + c];
                dst[c] = s + bi[c];
            }
            return;
        }
        double w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3];
        int vw = Vector<double>.Count, i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var v0 = new Vector<double>(w0);
            var v1 = new Vector<double>(w1);
            var v2 = new Vector<double>(w2);
            var v3 = new Vector<double>(w3);
            for (; i + vw <= curves; i += vw)
            {
                var s = v0 * new Vector<double>(b0[i..]) + v1 * new Vector<double>(b1[i..])
                    + v2 * new Vector<double>(b2[i..]) + v3 * new Vector<double>(b3[i..]);
                (s + new Vector<double>(bi[i..])).CopyTo(dst[i..]);
            }
        }
        for (; i < curves; i++) dst[i] = w0 * b0[i] + w1 * b1[i] + w2 * b2[i] + w3 * b3[i] + bi[i];
    }

    private static void AddSquaredDifference(ReadOnlySpan<double> a, ReadOnlySpan<double> b, Span<double> acc)
    {
        int vw = Vector<double>.Count, i = 0;
        if (Vector.IsHardwareAccelerated)
            for (; i + vw <= acc.Length; i += vw)
            {
                var d = new Vector<double>(a[i..]) - new Vector<double>(b[i..]);
                (new Vector<double>(acc[i..]) + d * d).CopyTo(acc[i..]);
            }
        for (; i < acc.Length; i++)
        {
            double d = a[i] - b[i];
            acc[i] += d * d;
        }
    }

    private static void AddSquare(ReadOnlySpan<double> a, Span<double> acc)
    {
        int vw = Vector<double>.Count, i = 0;
        if (Vector.IsHardwareAccelerated)
            for (; i + vw <= acc.Length; i += vw)
            {
                var v = new Vector<double>(a[i..]);
                (new Vector<double>(acc[i..]) + v * v).CopyTo(acc[i..]);
            }
        for (; i < acc.Length; i++) acc[i] += a[i] * a[i];
    }

    private static void MinInPlace(ReadOnlySpan<double> a, Span<double> m)
    {
        int vw = Vector<double>.Count, i = 0;
        if (Vector.IsHardwareAccelerated)
            for (; i + vw <= m.Length; i += vw)
                Vector.Min(new Vector<double>(a[i..]), new Vector<double>(m[i..])).CopyTo(m[i..]);
        for (; i < m.Length; i++) m[i] = Math.Min(a[i], m[i]);
    }
}

/// <summary>
/// Per-thread buffers of a <see cref="SplineSmoother"/> and the results of its last <see cref="SplineSmoother.Smooth"/>.
/// Matrices are point-major with row stride <see cref="Capacity"/>: element (row, curve) at <c>row * Capacity + curve</c>.
/// </summary>
public sealed class SmootherBlock
{
    internal SmootherBlock(SplineSmoother owner, int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Owner = owner;
        Capacity = capacity;
        int n = owner.Points, p = owner.Coefficients;
        W = new double[p * capacity];
        U = new double[p * capacity];
        Scratch = new double[n * capacity];
        V = new double[owner.Lambdas.Count * p * capacity];
        Rss0 = new double[capacity];
        Rss = new double[capacity];
        Row = new double[capacity];
        Gcv = new double[capacity];
        LambdaIndex = new int[capacity];
        Beta = new double[p * capacity];
        Fitted = new double[n * capacity];
    }

    internal SplineSmoother Owner { get; }

    internal double[] W { get; }       // (p, cap) Q'y

    internal double[] U { get; }       // (p, cap)

    internal double[] Scratch { get; } // (n, cap)

    internal double[] V { get; }       // (L * p, cap)

    internal double[] Rss0 { get; }

    internal double[] Rss { get; }

    internal double[] Row { get; }

    /// <summary>Most curves one call can take.</summary>
    public int Capacity { get; }

    /// <summary>Curves in the last call.</summary>
    public int Count { get; internal set; }

    /// <summary>Per curve: index into <see cref="SplineSmoother.Lambdas"/> of the lambda GCV chose.</summary>
    public int[] LambdaIndex { get; }

    /// <summary>Per curve: the GCV score of the chosen lambda.</summary>
    public double[] Gcv { get; }

    /// <summary>(p, Capacity): the coefficients, the intercept last.</summary>
    public double[] Beta { get; }

    /// <summary>(n, Capacity): the smoothed curves at the x values.</summary>
    public double[] Fitted { get; }
}

namespace LearningCurves.Analysis.Smoothing;

/// <summary>
/// One-curve front end of <see cref="SplineSmoother"/>: fits y against x with pyGAM 0.9.0's
/// <c>LinearGAM(n_splines=25).gridsearch(lam=lambdas)</c> (cubic B-splines, second-difference penalty, GCV with
/// gamma 1.4). For many curves on the same x, build one <see cref="SplineSmoother"/> and smooth them in blocks.
/// </summary>
public static class PenalizedSpline
{
    /// <summary>
    /// Fits one curve. <paramref name="x"/> may be in any order and hold ties; x and y must be finite and equally long.
    /// </summary>
    /// <param name="lambdas">Candidates (default <see cref="SplineSmoother.PaperLambdas"/>, numpy.logspace(-3, 3, 11)).</param>
    /// <param name="splines">Basis size (25 in the paper).</param>
    /// <param name="gridPoints">Points of the evenly spaced grid on which <see cref="PenalizedSplineFit.Grid"/> is given.</param>
    public static PenalizedSplineFit Fit(ReadOnlySpan<double> x, ReadOnlySpan<double> y, IReadOnlyList<double>? lambdas = null,
        int splines = 25, int gridPoints = 1000)
    {
        if (x.Length != y.Length) throw new ArgumentException($"x has {x.Length} values, y {y.Length}");
        foreach (double v in y)
            if (!double.IsFinite(v)) throw new ArgumentException("y holds a non-finite value", nameof(y));
        var smoother = new SplineSmoother(x, lambdas, splines, gridPoints);
        return Fit(smoother, y);
    }

    /// <summary>Fits one curve on an existing smoother's x.</summary>
    public static PenalizedSplineFit Fit(SplineSmoother smoother, ReadOnlySpan<double> y)
    {
        ArgumentNullException.ThrowIfNull(smoother);
        if (y.Length != smoother.Points) throw new ArgumentException($"y has {y.Length} values, the smoother's x {smoother.Points}");
        var block = smoother.CreateBlock(1);
        smoother.Smooth(y, 1, 1, block);
        var grid = new double[smoother.GridX.Count];
        smoother.EvaluateGrid(block, grid, 1);
        return new PenalizedSplineFit(smoother, block.LambdaIndex[0], block.Gcv[0], block.Beta.AsSpan(0, smoother.Coefficients).ToArray(),
            block.Fitted.AsSpan(0, smoother.Points).ToArray(), grid);
    }
}

/// <summary>The result of <see cref="PenalizedSpline.Fit(ReadOnlySpan{double}, ReadOnlySpan{double}, IReadOnlyList{double}?, int, int)"/>.</summary>
public sealed class PenalizedSplineFit
{
    private readonly SplineSmoother _smoother;
    private readonly double[] _beta;
    private readonly double[] _fitted;
    private readonly double[] _grid;

    internal PenalizedSplineFit(SplineSmoother smoother, int lambdaIndex, double gcv, double[] beta, double[] fitted, double[] grid)
    {
        _smoother = smoother;
        LambdaIndex = lambdaIndex;
        Gcv = gcv;
        _beta = beta;
        _fitted = fitted;
        _grid = grid;
    }

    /// <summary>The smoothing parameter GCV chose.</summary>
    public double Lambda => _smoother.Lambdas[LambdaIndex];

    /// <summary>Its index among the candidates.</summary>
    public int LambdaIndex { get; }

    /// <summary>Its GCV score, n * RSS / (n - 1.4 * edof)^2.</summary>
    public double Gcv { get; }

    /// <summary>Effective degrees of freedom (trace of the hat matrix) at the chosen lambda.</summary>
    public double EffectiveDof => _smoother.EffectiveDof(LambdaIndex);

    /// <summary>Coefficients: the B-spline ones, then the intercept.</summary>
    public IReadOnlyList<double> Coefficients => _beta;

    /// <summary>The smoothed values at the input x, in input order.</summary>
    public IReadOnlyList<double> Fitted => _fitted;

    /// <summary>The grid x (numpy.linspace(min x, max x, gridPoints)).</summary>
    public IReadOnlyList<double> GridX => _smoother.GridX;

    /// <summary>The smoothed curve on <see cref="GridX"/>.</summary>
    public IReadOnlyList<double> Grid => _grid;

    /// <summary>The smoothed curve at any x (extended linearly outside the fitted range, as pyGAM does).</summary>
    public double Evaluate(double x) => _smoother.Evaluate(_beta, x);
}

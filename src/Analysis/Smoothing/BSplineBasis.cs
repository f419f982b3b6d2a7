namespace LearningCurves.Analysis.Smoothing;

/// <summary>
/// The B-spline basis of pyGAM 0.9.0's spline term, reproduced operation for operation so fits agree to rounding:
/// x is rescaled to u = (x - min) / (max - min); the knots are <c>linspace(0, 1, splines - order + 1)</c> extended by
/// <c>order</c> equally spaced knots on each side, with the last knot nudged by +1e-9 so u = 1 falls inside; the basis
/// is built by the Cox-de Boor recursion from the interval indicators. Outside [min, max] each basis function is
/// extended linearly with its slope at the end (as pyGAM does).
/// </summary>
public sealed class BSplineBasis
{
    private readonly double[] _knots;

    /// <param name="min">Smallest x of the data the basis spans (pyGAM's lower edge knot).</param>
    /// <param name="max">Largest x (upper edge knot); must exceed <paramref name="min"/>.</param>
    /// <param name="splines">Number of basis functions (pyGAM n_splines; 25 in the paper).</param>
    /// <param name="order">Spline order (3 = cubic).</param>
    public BSplineBasis(double min, double max, int splines = 25, int order = 3)
    {
        if (!double.IsFinite(min) || !double.IsFinite(max) || !(max > min))
            throw new ArgumentException($"the basis needs finite min < max (got {min}, {max})");
        ArgumentOutOfRangeException.ThrowIfLessThan(order, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(splines, order + 1);
        Min = min;
        Max = max;
        Count = splines;
        Order = order;
        // pyGAM: boundary = linspace(0, 1, 1 + n_splines - order); diff = boundary[1] - boundary[0];
        // knots = [-aug[::-1], boundary, 1 + aug] with aug = arange(1, order + 1) * diff; knots[-1] += 1e-9.
        int nb = 1 + splines - order;
        var boundary = Linspace(0, 1, nb);
        double diff = boundary[1] - boundary[0];
        _knots = new double[nb + 2 * order];
        for (int i = 0; i < order; i++) _knots[i] = -((order - i) * diff);
        for (int i = 0; i < nb; i++) _knots[order + i] = boundary[i];
        for (int i = 0; i < order; i++) _knots[order + nb + i] = 1 + (i + 1) * diff;
        _knots[^1] += 1e-9;
    }

    public double Min { get; }

    public double Max { get; }

    /// <summary>Number of basis functions.</summary>
    public int Count { get; }

    public int Order { get; }

    /// <summary>The knot vector in the rescaled u coordinate.</summary>
    public IReadOnlyList<double> Knots => _knots;

    /// <summary>numpy.linspace(start, stop, num) bit for bit: start + i * ((stop - start) / (num - 1)), last = stop.</summary>
    public static double[] Linspace(double start, double stop, int num)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(num, 1);
        var y = new double[num];
        if (num == 1)
        {
            y[0] = start;
            return y;
        }
        double step = (stop - start) / (num - 1);
        for (int i = 0; i < num; i++) y[i] = i * step + start;
        y[^1] = stop;
        return y;
    }

    /// <summary>Rescales x to the basis' u coordinate, (x - min) / (max - min).</summary>
    public double Rescale(double x) => (x - Min) / (Max - Min);

    /// <summary>Writes all <see cref="Count"/> basis values at <paramref name="x"/> into <paramref name="row"/>.</summary>
    public void Evaluate(double x, Span<double> row)
    {
        if (row.Length < Count) throw new ArgumentException($"row needs {Count} elements", nameof(row));
        row[..Count].Clear();
        Span<double> local = stackalloc double[Order + 1];
        int first = EvaluateLocal(x, local);
        local.CopyTo(row[first..]);
    }

    /// <summary>
    /// The at most <see cref="Order"/> + 1 basis functions that can be non-zero at <paramref name="x"/>: writes their
    /// values to <paramref name="values"/> and returns the index of the first one.
    /// </summary>
    public int EvaluateLocal(double x, Span<double> values)
    {
        if (values.Length < Order + 1) throw new ArgumentException($"values needs {Order + 1} elements", nameof(values));
        if (double.IsNaN(x)) throw new ArgumentException("x is NaN", nameof(x));
        double u = Rescale(x);
        int window = Count - Order - 1; // last admissible first index
        Span<double> full = stackalloc double[_knots.Length - 1];
        if (u >= 0 && u <= 1)
        {
            int h = HaarIndex(u);
            Recurse(u, h, Order, full);
            int first = Math.Clamp(h - Order, 0, window);
            full.Slice(first, Order + 1).CopyTo(values);
            return first;
        }
        // Linear extrapolation from the nearer end: B(end) + (u - end) * B'(end), B' from the order-1 basis.
        bool left = u < 0;
        double end = left ? 0 : 1;
        // pyGAM evaluates u = 1 from the mirror image of u = 0's interval.
        int hEnd = left ? HaarIndex(0) : _knots.Length - 2 - HaarIndex(0);
        Span<double> lower = stackalloc double[_knots.Length - 1];
        Recurse(end, hEnd, Order - 1, lower);
        Recurse(end, hEnd, Order, full);
        int start = left ? 0 : window;
        for (int j = start; j < start + Order + 1; j++)
        {
            double l = lower[j] / (_knots[j + Order] - _knots[j]);
            double r = lower[j + 1] / (_knots[j + Order + 1] - _knots[j + 1]);
            double grad = Order * (l - r);
            values[j - start] = grad * (u - end) + full[j];
        }
        return start;
    }

    private int HaarIndex(double u)
    {
        for (int k = 0; k < _knots.Length - 1; k++)
            if (u >= _knots[k] && u < _knots[k + 1]) return k;
        throw new ArgumentOutOfRangeException(nameof(u), $"u = {u} lies outside the knots");
    }

    /// <summary>Cox-de Boor from the indicator of interval <paramref name="h"/> up to <paramref name="order"/>, as pyGAM orders the operations.</summary>
    private void Recurse(double u, int h, int order, Span<double> bases)
    {
        var t = _knots;
        int maxi = t.Length - 1;
        bases[..maxi].Clear();
        bases[h] = 1;
        for (int m = 2; m <= order + 1; m++)
        {
            maxi--;
            for (int k = 0; k < maxi; k++)
            {
                double left = (u - t[k]) * bases[k] / (t[k + m - 1] - t[k]);
                double right = (t[k + m] - u) * bases[k + 1] / (t[k + m] - t[k + 1]);
                bases[k] = left + right;
            }
            bases[maxi] = 0;
        }
    }
}

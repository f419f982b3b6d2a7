using System.Diagnostics;
using System.Numerics;
using LearningCurves.Formats.EvalSets;

namespace LearningCurves.Analysis.Umap;

/// <summary>Settings of <see cref="Umap.Embed"/> (the UMAP paper's defaults).</summary>
public sealed record UmapOptions
{
    /// <summary>k of the k-nearest-neighbour graph.</summary>
    public int Neighbors { get; init; } = 15;

    public double MinDist { get; init; } = 0.1;

    public double Spread { get; init; } = 1.0;

    /// <summary>SGD epochs; null: 500 up to 10,000 points, else 200.</summary>
    public int? Epochs { get; init; }

    public int NegativeSamples { get; init; } = 5;

    public double LearningRate { get; init; } = 1.0;

    public ulong Seed { get; init; }

    /// <summary>Up to this many points the neighbour graph is exact (all pairs); above it, approximate.</summary>
    public int ExactLimit { get; init; } = 5000;
}

/// <summary>Seconds spent in each stage of one embedding.</summary>
public sealed record UmapTimings(double Knn, double Graph, double Layout, bool ExactKnn, int Edges, int Epochs);

/// <summary>
/// UMAP (McInnes, Healy &amp; Melville 2018, "UMAP: Uniform Manifold Approximation and Projection for Dimension
/// Reduction"), written from the paper's algorithm: (1) the k nearest neighbours of every point (Euclidean), exact up to
/// <see cref="UmapOptions.ExactLimit"/> points, else approximate by a random-projection forest refined by NN-descent
/// (Dong, Moses &amp; Li 2011); (2) the fuzzy simplicial set: for point i, rho_i the distance to its nearest neighbour and
/// sigma_i such that sum_j exp(-(d_ij - rho_i) / sigma_i) = log2 k, memberships w_ij = exp(-(d_ij - rho_i) / sigma_i),
/// symmetrised by the fuzzy union w = w_ij + w_ji - w_ij w_ji; (3) a 2-D layout from a seeded uniform random start by
/// stochastic gradient descent on the fuzzy cross entropy with the curve 1 / (1 + a d^(2b)) (a, b fitted to min_dist
/// and spread): each edge sampled in proportion to its weight, attracting its ends, each sample with
/// <see cref="UmapOptions.NegativeSamples"/> random repelling points, gradients clipped to 4, learning rate decaying
/// linearly to 0. Everything is deterministic for a seed: the neighbour search is parallel but each point's result
/// depends only on the previous round, and the layout runs in one thread.
/// </summary>
public static class Umap
{
    public static float[] Embed(float[] x, int n, int d, UmapOptions o, out UmapTimings timings)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(o);
        if ((long)n * d != x.Length) throw new ArgumentException($"{x.Length} values are not {n} x {d}");
        if (n < 2) throw new ArgumentException("UMAP needs at least 2 points");
        int k = Math.Min(o.Neighbors, n - 1);
        var sw = Stopwatch.StartNew();
        bool exact = n <= o.ExactLimit;
        var (idx, dist) = exact ? ExactKnn(x, n, d, k) : ApproximateKnn(x, n, d, k, o.Seed);
        double tKnn = sw.Elapsed.TotalSeconds;
        sw.Restart();
        int epochs = o.Epochs ?? (n <= 10_000 ? 500 : 200);
        var (head, tail, weight) = FuzzyGraph(idx, dist, n, k, epochs);
        double tGraph = sw.Elapsed.TotalSeconds;
        sw.Restart();
        var (a, b) = FitCurve(o.MinDist, o.Spread);
        var y = Layout(head, tail, weight, n, epochs, a, b, o);
        timings = new UmapTimings(tKnn, tGraph, sw.Elapsed.TotalSeconds, exact, head.Length, epochs);
        return y;
    }

    // ------------------------------------------------------------------ nearest neighbours

    private static float Dist2(ReadOnlySpan<float> p, ReadOnlySpan<float> q)
    {
        float s = 0;
        int i = 0;
        if (Vector.IsHardwareAccelerated && p.Length >= Vector<float>.Count)
        {
            var acc = Vector<float>.Zero;
            for (; i <= p.Length - Vector<float>.Count; i += Vector<float>.Count)
            {
                var diff = new Vector<float>(p[i..]) - new Vector<float>(q[i..]);
                acc += diff * diff;
            }
            s = Vector.Sum(acc);
        }
        for (; i < p.Length; i++)
        {
            float t = p[i] - q[i];
            s += t * t;
        }
        return s;
    }

    /// <summary>Exact k nearest neighbours (self excluded), ascending by distance (ties by index).</summary>
    public static (int[] Idx, float[] Dist) ExactKnn(float[] x, int n, int d, int k)
    {
        ArgumentNullException.ThrowIfNull(x);
        var idx = new int[n * k];
        var dist = new float[n * k];
        Parallel.For(0, n, i =>
        {
            var heap = new NeighborHeap(k);
            var p = x.AsSpan(i * d, d);
            for (int j = 0; j < n; j++)
            {
                if (j == i) continue;
                heap.Push(j, Dist2(p, x.AsSpan(j * d, d)));
            }
            heap.SortedInto(idx.AsSpan(i * k, k), dist.AsSpan(i * k, k));
        });
        return (idx, dist);
    }

    /// <summary>A bounded max-heap of the k closest (index, squared distance) pairs, without duplicates.</summary>
    private sealed class NeighborHeap
    {
        private readonly int[] _i;
        private readonly float[] _d;
        private int _count;

        public NeighborHeap(int k)
        {
            _i = new int[k];
            _d = new float[k];
        }

        public float Worst => _count < _i.Length ? float.PositiveInfinity : _d[0];

        public bool Contains(int j)
        {
            for (int t = 0; t < _count; t++) if (_i[t] == j) return true;
            return false;
        }

        /// <summary>Inserts when closer than the worst (ties broken by the smaller index); returns whether it did.</summary>
        public bool Push(int j, float dd)
        {
            if (_count == _i.Length && (dd > _d[0] || (dd == _d[0] && j >= _i[0]))) return false;
            if (Contains(j)) return false;
            if (_count < _i.Length)
            {
                int c = _count++;
                _i[c] = j;
                _d[c] = dd;
                while (c > 0)
                {
                    int p = (c - 1) / 2;
                    if (!Greater(c, p)) break;
                    Swap(c, p);
                    c = p;
                }
                return true;
            }
            _i[0] = j;
            _d[0] = dd;
            int q = 0;
            while (true)
            {
                int l = 2 * q + 1, r = l + 1, m = q;
                if (l < _count && Greater(l, m)) m = l;
                if (r < _count && Greater(r, m)) m = r;
                if (m == q) break;
                Swap(q, m);
                q = m;
            }
            return true;
        }

        private bool Greater(int a, int b) => _d[a] > _d[b] || (_d[a] == _d[b] && _i[a] > _i[b]);

        private void Swap(int a, int b)
        {
            (_i[a], _i[b]) = (_i[b], _i[a]);
            (_d[a], _d[b]) = (_d[b], _d[a]);
        }

        public void Load(ReadOnlySpan<int> idx, ReadOnlySpan<float> dist2)
        {
            _count = 0;
            for (int t = 0; t < idx.Length; t++) if (idx[t] >= 0) Push(idx[t], dist2[t]);
        }

        /// <summary>Writes the neighbours ascending (distance, then index) as indices and Euclidean distances.</summary>
        public void SortedInto(Span<int> idx, Span<float> dist)
        {
            // Insertion sort of the (small) heap by (distance, index).
            Span<int> order = stackalloc int[_count];
            for (int t = 0; t < _count; t++)
            {
                int c = t;
                while (c > 0 && (_d[order[c - 1]] > _d[t] || (_d[order[c - 1]] == _d[t] && _i[order[c - 1]] > _i[t])))
                {
                    order[c] = order[c - 1];
                    c--;
                }
                order[c] = t;
            }
            for (int t = 0; t < idx.Length; t++)
            {
                if (t < _count)
                {
                    idx[t] = _i[order[t]];
                    dist[t] = MathF.Sqrt(_d[order[t]]);
                }
                else
                {
                    idx[t] = -1;
                    dist[t] = float.PositiveInfinity;
                }
            }
        }

        public void SortedSquaredInto(Span<int> idx, Span<float> dist2)
        {
            SortedInto(idx, dist2);
            for (int t = 0; t < dist2.Length; t++) dist2[t] *= dist2[t];
        }
    }

    /// <summary>
    /// Approximate k nearest neighbours: leaves of a random-projection forest (each tree splits a node by the hyperplane
    /// half way between two of its points drawn with the seed, down to leaves of at most max(2k, 32) points) give the
    /// first candidates (all pairs within a leaf); then rounds of NN-descent: every point's candidates are the neighbours
    /// of its neighbours and of the points that list it, from the previous round's lists, until fewer than 0.1% of the
    /// entries change (at most 8 rounds).
    /// </summary>
    public static (int[] Idx, float[] Dist) ApproximateKnn(float[] x, int n, int d, int k, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(x);
        var idx = new int[n * k];
        var d2 = new float[n * k];
        Array.Fill(idx, -1);
        Array.Fill(d2, float.PositiveInfinity);
        int trees = Math.Clamp(4 + (int)Math.Round(Math.Log2(Math.Max(n, 2)) / 4), 4, 10);
        int leafSize = Math.Max(2 * k, 32);
        for (int t = 0; t < trees; t++)
        {
            var leaves = RpTreeLeaves(x, n, d, leafSize, new SplitMix64(seed * 1_000_003ul + (ulong)t + 1));
            Parallel.ForEach(leaves, leaf =>
            {
                var heap = new NeighborHeap(k);
                foreach (int i in leaf)
                {
                    heap.Load(idx.AsSpan(i * k, k), d2.AsSpan(i * k, k));
                    var p = x.AsSpan(i * d, d);
                    foreach (int j in leaf) if (j != i) heap.Push(j, Dist2(p, x.AsSpan(j * d, d)));
                    heap.SortedSquaredInto(idx.AsSpan(i * k, k), d2.AsSpan(i * k, k));
                }
            });
        }
        // NN-descent rounds (each reads the previous round's lists only).
        for (int round = 0; round < 8; round++)
        {
            // Reverse lists: for each point, up to k points that list it (in index order).
            var revCount = new int[n];
            var rev = new int[n * k];
            for (int i = 0; i < n; i++)
            {
                for (int t = 0; t < k; t++)
                {
                    int j = idx[i * k + t];
                    if (j < 0 || revCount[j] >= k) continue;
                    rev[j * k + revCount[j]++] = i;
                }
            }
            var newIdx = new int[n * k];
            var newD2 = new float[n * k];
            var curIdx = idx;
            var curD2 = d2;
            var changed = new int[n];
            Parallel.For(0, n, i =>
            {
                var heap = new NeighborHeap(k);
                heap.Load(curIdx.AsSpan(i * k, k), curD2.AsSpan(i * k, k));
                var p = x.AsSpan(i * d, d);
                // Candidates: the neighbours of its neighbours and of the points that list it.
                int sources = k + revCount[i];
                for (int s = 0; s < sources; s++)
                {
                    int j = s < k ? curIdx[i * k + s] : rev[i * k + s - k];
                    if (j < 0) continue;
                    for (int u = 0; u < k; u++)
                    {
                        int c = curIdx[j * k + u];
                        if (c < 0 || c == i || heap.Contains(c)) continue;
                        heap.Push(c, Dist2(p, x.AsSpan(c * d, d)));
                    }
                }
                heap.SortedSquaredInto(newIdx.AsSpan(i * k, k), newD2.AsSpan(i * k, k));
                int ch = 0;
                for (int t = 0; t < k; t++) if (newIdx[i * k + t] != curIdx[i * k + t]) ch++;
                changed[i] = ch;
            });
            long changes = changed.Sum(v => (long)v);
            idx = newIdx;
            d2 = newD2;
            if (changes < 0.001 * n * k) break;
        }
        var dist = new float[n * k];
        for (int t = 0; t < dist.Length; t++) dist[t] = MathF.Sqrt(d2[t]);
        return (idx, dist);
    }

    private static List<int[]> RpTreeLeaves(float[] x, int n, int d, int leafSize, SplitMix64 rng)
    {
        var leaves = new List<int[]>();
        var stack = new Stack<int[]>();
        stack.Push(Enumerable.Range(0, n).ToArray());
        var normal = new float[d];
        while (stack.Count > 0)
        {
            var node = stack.Pop();
            if (node.Length <= leafSize)
            {
                leaves.Add(node);
                continue;
            }
            int a = node[(int)rng.NextBelow((ulong)node.Length)];
            int b = node[(int)rng.NextBelow((ulong)node.Length)];
            var pa = x.AsSpan(a * d, d);
            var pb = x.AsSpan(b * d, d);
            float offset = 0;
            for (int c = 0; c < d; c++)
            {
                normal[c] = pa[c] - pb[c];
                offset -= normal[c] * (pa[c] + pb[c]) / 2;
            }
            var left = new List<int>(node.Length / 2 + 1);
            var right = new List<int>(node.Length / 2 + 1);
            foreach (int i in node)
            {
                var p = x.AsSpan(i * d, d);
                float s = offset;
                for (int c = 0; c < d; c++) s += normal[c] * p[c];
                bool goLeft = s > 0 || (s == 0 && (rng.Next() & 1) == 0);
                (goLeft ? left : right).Add(i);
            }
            if (left.Count == 0 || right.Count == 0)
            {
                // Identical points (or a degenerate draw): split at random.
                left.Clear();
                right.Clear();
                foreach (int i in node) ((rng.Next() & 1) == 0 ? left : right).Add(i);
                if (left.Count == 0 || right.Count == 0)
                {
                    leaves.Add(node);
                    continue;
                }
            }
            stack.Push(right.ToArray());
            stack.Push(left.ToArray());
        }
        return leaves;
    }

    // ------------------------------------------------------------------ fuzzy simplicial set

    /// <summary>
    /// The symmetric fuzzy graph as directed edges (both directions of each pair), sorted by (head, tail); edges too weak
    /// to be sampled once in <paramref name="epochs"/> epochs (weight below max / epochs) are dropped.
    /// </summary>
    public static (int[] Head, int[] Tail, float[] Weight) FuzzyGraph(int[] idx, float[] dist, int n, int k, int epochs)
    {
        ArgumentNullException.ThrowIfNull(idx);
        ArgumentNullException.ThrowIfNull(dist);
        double target = Math.Log2(k);
        var keys = new long[2 * n * k];
        var vals = new float[2 * n * k];
        int m = 0;
        var w = new float[n * k];
        Parallel.For(0, n, i =>
        {
            var di = dist.AsSpan(i * k, k);
            double rho = 0;
            for (int t = 0; t < k; t++)
            {
                if (idx[i * k + t] >= 0 && di[t] > 0)
                {
                    rho = di[t];
                    break;
                }
            }
            double lo = 0, hi = double.PositiveInfinity, sigma = 1;
            for (int it = 0; it < 64; it++)
            {
                double s = 0;
                for (int t = 0; t < k; t++)
                {
                    if (idx[i * k + t] < 0) continue;
                    double g = di[t] - rho;
                    s += g > 0 ? Math.Exp(-g / sigma) : 1;
                }
                if (Math.Abs(s - target) < 1e-5) break;
                if (s > target)
                {
                    hi = sigma;
                    sigma = (lo + hi) / 2;
                }
                else
                {
                    lo = sigma;
                    sigma = double.IsPositiveInfinity(hi) ? sigma * 2 : (lo + hi) / 2;
                }
            }
            // A floor on sigma as in the paper's implementation notes: a small fraction of the mean distance.
            double mean = 0;
            int cnt = 0;
            for (int t = 0; t < k; t++) if (idx[i * k + t] >= 0) { mean += di[t]; cnt++; }
            mean = cnt > 0 ? mean / cnt : 0;
            sigma = Math.Max(sigma, 1e-3 * mean);
            for (int t = 0; t < k; t++)
            {
                if (idx[i * k + t] < 0) continue;
                double g = di[t] - rho;
                w[i * k + t] = g <= 0 || sigma == 0 ? 1f : (float)Math.Exp(-g / sigma);
            }
        });
        for (int i = 0; i < n; i++)
        {
            for (int t = 0; t < k; t++)
            {
                int j = idx[i * k + t];
                if (j < 0 || j == i) continue;
                keys[m] = (long)i * n + j;
                vals[m++] = w[i * k + t];
                keys[m] = (long)j * n + i;
                vals[m++] = w[i * k + t];
            }
        }
        Array.Sort(keys, vals, 0, m);
        // Each key appears once (one direction listed it) or twice (both did): fuzzy union of the two memberships.
        var head = new List<int>(m);
        var tail = new List<int>(m);
        var weight = new List<float>(m);
        for (int e = 0; e < m;)
        {
            long key = keys[e];
            float a = vals[e], v = a;
            int f = e + 1;
            if (f < m && keys[f] == key)
            {
                float b = vals[f];
                v = a + b - a * b;
                f++;
            }
            // A key can repeat only as the two listings of one pair (lists hold no duplicates).
            while (f < m && keys[f] == key) f++;
            head.Add((int)(key / n));
            tail.Add((int)(key % n));
            weight.Add(v);
            e = f;
        }
        float max = weight.Count == 0 ? 0 : weight.Max();
        var keep = Enumerable.Range(0, weight.Count).Where(e => weight[e] >= max / epochs).ToArray();
        return (keep.Select(e => head[e]).ToArray(), keep.Select(e => tail[e]).ToArray(), keep.Select(e => weight[e]).ToArray());
    }

    // ------------------------------------------------------------------ layout

    /// <summary>a, b of 1 / (1 + a d^(2b)) fitted by least squares (Gauss-Newton) to 1 for d &lt; min_dist and
    /// exp(-(d - min_dist) / spread) beyond, on 300 points of [0, 3 spread].</summary>
    public static (double A, double B) FitCurve(double minDist, double spread)
    {
        const int m = 300;
        var xs = Enumerable.Range(0, m).Select(i => 3 * spread * (i + 1) / m).ToArray();
        var ys = xs.Select(v => v < minDist ? 1.0 : Math.Exp(-(v - minDist) / spread)).ToArray();
        double a = 1, b = 1;
        double Loss(double aa, double bb) => xs.Select((v, i) => Math.Pow(1 / (1 + aa * Math.Pow(v, 2 * bb)) - ys[i], 2)).Sum();
        double lambda = 1e-3;
        double loss = Loss(a, b);
        for (int it = 0; it < 200; it++)
        {
            double jtj00 = 0, jtj01 = 0, jtj11 = 0, g0 = 0, g1 = 0;
            for (int i = 0; i < m; i++)
            {
                double v = xs[i], p = Math.Pow(v, 2 * b), den = 1 + a * p, f = 1 / den, r = f - ys[i];
                double da = -p / (den * den), db = -a * p * 2 * Math.Log(v) / (den * den);
                jtj00 += da * da;
                jtj01 += da * db;
                jtj11 += db * db;
                g0 += da * r;
                g1 += db * r;
            }
            double h00 = jtj00 * (1 + lambda), h11 = jtj11 * (1 + lambda), det = h00 * h11 - jtj01 * jtj01;
            if (det == 0) break;
            double sa = -(h11 * g0 - jtj01 * g1) / det, sb = -(h00 * g1 - jtj01 * g0) / det;
            double na = a + sa, nb = b + sb;
            double nl = na > 0 && nb > 0 ? Loss(na, nb) : double.PositiveInfinity;
            if (nl < loss)
            {
                bool done = loss - nl < 1e-14;
                a = na;
                b = nb;
                loss = nl;
                lambda = Math.Max(lambda / 10, 1e-9);
                if (done) break;
            }
            else lambda *= 10;
        }
        return (a, b);
    }

    private static float[] Layout(int[] head, int[] tail, float[] weight, int n, int epochs, double a, double b, UmapOptions o)
    {
        var rng = new SplitMix64(o.Seed ^ 0x5DEECE66Dul);
        var y = new float[2 * n];
        for (int i = 0; i < y.Length; i++) y[i] = (float)(rng.Next() / (double)ulong.MaxValue * 20 - 10);
        int m = head.Length;
        if (m == 0) return y;
        float max = weight.Max();
        var eps = new double[m];
        var nextSample = new double[m];
        var epsNeg = new double[m];
        var nextNeg = new double[m];
        for (int e = 0; e < m; e++)
        {
            eps[e] = max / weight[e];
            nextSample[e] = eps[e];
            epsNeg[e] = eps[e] / o.NegativeSamples;
            nextNeg[e] = epsNeg[e];
        }
        float fa = (float)a, fb = (float)b;
        for (int epoch = 0; epoch < epochs; epoch++)
        {
            float alpha = (float)(o.LearningRate * (1 - (double)epoch / epochs));
            for (int e = 0; e < m; e++)
            {
                if (nextSample[e] > epoch) continue;
                int i = head[e], j = tail[e];
                float dx = y[2 * i] - y[2 * j], dy = y[2 * i + 1] - y[2 * j + 1];
                float d2 = dx * dx + dy * dy;
                if (d2 > 0)
                {
                    float pb = MathF.Pow(d2, fb);
                    float coeff = -2f * fa * fb * (pb / d2) / (fa * pb + 1);
                    float gx = Clip(coeff * dx) * alpha, gy = Clip(coeff * dy) * alpha;
                    y[2 * i] += gx;
                    y[2 * i + 1] += gy;
                    y[2 * j] -= gx;
                    y[2 * j + 1] -= gy;
                }
                nextSample[e] += eps[e];
                int negs = (int)((epoch - nextNeg[e]) / epsNeg[e]);
                for (int s = 0; s < negs; s++)
                {
                    int q = (int)rng.NextBelow((ulong)n);
                    if (q == i) continue;
                    dx = y[2 * i] - y[2 * q];
                    dy = y[2 * i + 1] - y[2 * q + 1];
                    d2 = dx * dx + dy * dy;
                    float gx, gy;
                    if (d2 > 0)
                    {
                        float coeff = 2f * fb / ((0.001f + d2) * (fa * MathF.Pow(d2, fb) + 1));
                        gx = Clip(coeff * dx);
                        gy = Clip(coeff * dy);
                    }
                    else
                    {
                        gx = 4;
                        gy = 4;
                    }
                    y[2 * i] += gx * alpha;
                    y[2 * i + 1] += gy * alpha;
                }
                nextNeg[e] += Math.Max(negs, 0) * epsNeg[e];
            }
        }
        return y;
    }

    private static float Clip(float v) => v > 4 ? 4 : v < -4 ? -4 : v;

    // ------------------------------------------------------------------ quality

    /// <summary>
    /// Trustworthiness of an embedding (Venna &amp; Kaski 2001): 1 - 2 / (n k (2n - 3k - 1)) * sum over points i and
    /// each j among i's k nearest in the embedding but not in the original space of (rank of j among i's neighbours in
    /// the original space - k). 1 means no false neighbours. Exact, O(n^2 log n): for samples of a few thousand.
    /// </summary>
    public static double Trustworthiness(float[] x, int d, float[] y, int n, int k)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        if (k >= n / 2) throw new ArgumentException($"k = {k} must be below n / 2 = {n / 2}");
        double total = 0;
        object gate = new();
        Parallel.For(0, n, () => 0.0, (i, _, local) =>
        {
            var dx = new float[n];
            var dy = new float[n];
            for (int j = 0; j < n; j++)
            {
                dx[j] = j == i ? float.NegativeInfinity : Dist2(x.AsSpan(i * d, d), x.AsSpan(j * d, d));
                float ex = y[2 * i] - y[2 * j], ey = y[2 * i + 1] - y[2 * j + 1];
                dy[j] = j == i ? float.NegativeInfinity : ex * ex + ey * ey;
            }
            // Ranks in the original space: 1 for the nearest (self excluded).
            var order = Enumerable.Range(0, n).OrderBy(j => dx[j]).ThenBy(j => j).ToArray();
            var rank = new int[n];
            for (int r = 0; r < n; r++) rank[order[r]] = r; // self sorts first (rank 0)
            var embNearest = Enumerable.Range(0, n).OrderBy(j => dy[j]).ThenBy(j => j).Skip(1).Take(k);
            foreach (int j in embNearest)
            {
                if (rank[j] > k) local += rank[j] - k;
            }
            return local;
        }, local => { lock (gate) total += local; });
        return 1 - 2.0 / (n * (double)k * (2 * n - 3 * k - 1)) * total;
    }
}

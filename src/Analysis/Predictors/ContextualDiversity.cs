using System.Numerics;
using LearningCurves.Analysis.Smoothing;

namespace LearningCurves.Analysis.Predictors;

/// <summary>
/// Contextual diversity of each token type (the paper's definition): the number of distinct tokens among the
/// <see cref="TopTypes"/> most frequent ones seen in the <see cref="Window"/> tokens before its occurrences in
/// training (within the same sequence), then adjusted for frequency by subtracting a penalized-spline GAM of it
/// against log10 frequency (the metrics issue's smoother, <see cref="PenalizedSpline"/>), fitted over all seen types.
/// </summary>
public sealed class ContextualDiversity
{
    private ContextualDiversity(int topTypes, int window, int[] raw, double[] adjusted)
    {
        TopTypes = topTypes;
        Window = window;
        Raw = raw;
        Adjusted = adjusted;
    }

    public int TopTypes { get; }

    public int Window { get; }

    /// <summary>Per token id: distinct frequent tokens seen before it (0 for a type never seen).</summary>
    public IReadOnlyList<int> Raw { get; }

    /// <summary>Per token id: <see cref="Raw"/> minus the GAM's fit at its log10 frequency (NaN for a type never seen).</summary>
    public IReadOnlyList<double> Adjusted { get; }

    /// <summary>
    /// One pass over the training sequences. <paramref name="unigramCounts"/>[id] (ids 0..vocab-1) ranks the frequent
    /// types (ties by lower id) and gives the frequencies the adjustment uses.
    /// </summary>
    public static ContextualDiversity Count(IEnumerable<ReadOnlyMemory<int>> sequences, ReadOnlySpan<long> unigramCounts, int topTypes = 10_000, int window = 30)
    {
        ArgumentNullException.ThrowIfNull(sequences);
        ArgumentOutOfRangeException.ThrowIfLessThan(topTypes, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(window, 1);
        int vocab = unigramCounts.Length;
        var counts = unigramCounts.ToArray();
        var order = Enumerable.Range(0, vocab).Where(t => counts[t] > 0).OrderByDescending(t => counts[t]).ThenBy(t => t).ToArray();
        var rank = new int[vocab];
        Array.Fill(rank, -1);
        int top = Math.Min(topTypes, order.Length);
        for (int r = 0; r < top; r++) rank[order[r]] = r;

        int words = (top + 63) / 64;
        // (vocab, words): one bit per frequent type, per token type; 10,000 bits = 1.25 KB per type.
        var seen = new ulong[checked((long)vocab * words)];
        foreach (var mem in sequences)
        {
            var seq = mem.Span;
            for (int i = 0; i < seq.Length; i++)
            {
                int t = seq[i];
                if ((uint)t >= (uint)vocab) throw new ArgumentOutOfRangeException(nameof(sequences), t, $"token id outside 0..{vocab - 1}");
                var bits = seen.AsSpan(t * words, words);
                for (int j = Math.Max(0, i - window); j < i; j++)
                {
                    int r = rank[seq[j]];
                    if (r >= 0) bits[r >> 6] |= 1UL << (r & 63);
                }
            }
        }

        var raw = new int[vocab];
        var xs = new List<double>();
        var ys = new List<double>();
        var ids = new List<int>();
        for (int t = 0; t < vocab; t++)
        {
            int c = 0;
            foreach (ulong w in seen.AsSpan(t * words, words)) c += BitOperations.PopCount(w);
            raw[t] = c;
            if (counts[t] > 0)
            {
                xs.Add(Math.Log10(counts[t]));
                ys.Add(c);
                ids.Add(t);
            }
        }
        var adjusted = new double[vocab];
        Array.Fill(adjusted, double.NaN);
        var fitted = FrequencyFit(xs.ToArray(), ys.ToArray());
        for (int k = 0; k < ids.Count; k++) adjusted[ids[k]] = ys[k] - fitted[k];
        return new ContextualDiversity(topTypes, window, raw, adjusted);
    }

    // The GAM needs two distinct frequencies; with fewer (a toy corpus) the best frequency-only fit is the mean.
    private static double[] FrequencyFit(double[] x, double[] y)
    {
        if (x.Length == 0) return [];
        if (x.Distinct().Count() < 2)
        {
            double mean = y.Average();
            return y.Select(_ => mean).ToArray();
        }
        return PenalizedSpline.Fit(x, y).Fitted.ToArray();
    }
}

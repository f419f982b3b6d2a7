namespace LearningCurves.Analysis.NGrams;

/// <summary>
/// Frozen n-gram counts with maximum-likelihood conditional probabilities P(t | c) = count(c, t) / sum over u of
/// count(c, u) (the continuation total of the context, so probabilities over seen continuations sum to 1, also for
/// contexts that end a sequence). Read-only and thread-safe. Each order n &gt;= 2 is stored in CSR form: its n-grams
/// sorted by (prefix id, last token) with their last tokens and counts (an n-gram's id is its index), and per prefix
/// id the offset of its first continuation and their total count; a lookup is a binary search among a prefix's
/// continuations. About 8 bytes per n-gram plus 8 per n-gram that is a prefix.
/// </summary>
public sealed class NGramModel : IDisposable
{
    /// <summary>Stands for the sequence-start placeholder in <see cref="Count"/> queries.</summary>
    public const int Pad = -1;

    // Per order n >= 2, the n-grams sorted by (prefix id, last token), an n-gram's id being its index (CSR form):
    private readonly NativeArray<uint>[] _last;           // [n][id]: last token
    private readonly NativeArray<uint>[] _counts;         // [n][id]: count
    private readonly NativeArray<uint>[] _offsets;        // [n][prefix id]: first id with that prefix; one more entry at the end
    private readonly NativeArray<uint>[] _continuations;  // [n][id of an n-gram]: total count of its (n+1)-gram extensions
    private readonly long[] _unigram;
    private readonly double _maxUnigramSurprisal;
    private bool _disposed;

    // Takes the counter's arrays per order n >= 2 (sorted by prefix id, then last token); the prefix ids become offsets.
    internal NGramModel(int vocabSize, int maxOrder, long tokens, long[] unigram, NativeArray<uint>[] prefix, NativeArray<uint>[] last, NativeArray<uint>[] counts)
    {
        VocabSize = vocabSize;
        MaxOrder = maxOrder;
        Tokens = tokens;
        _unigram = unigram;
        _last = new NativeArray<uint>[maxOrder + 1];
        _counts = new NativeArray<uint>[maxOrder + 1];
        _offsets = new NativeArray<uint>[maxOrder + 1];
        _continuations = new NativeArray<uint>[maxOrder];
        for (int n = 2; n <= maxOrder; n++)
        {
            var p = prefix[n].Span;
            var c = counts[n].Span;
            int d = p.Length;
            int prefixes = n == 2 ? vocabSize + 1 : last[n - 1].Length;
            var offsetArray = new NativeArray<uint>(prefixes + 1);
            // The totals of the order below have one entry per (n-1)-gram: its prefix-id array, read in the previous
            // round and no longer needed, has exactly that length (order 1's totals, per token, are new).
            var totalArray = n == 2 ? new NativeArray<uint>(prefixes) : prefix[n - 1];
            var offsets = offsetArray.Span;
            var totals = totalArray.Span;
            int i = 0;
            for (int id = 0; id < prefixes; id++)
            {
                offsets[id] = (uint)i;
                ulong sum = 0;
                for (; i < d && p[i] == (uint)id; i++) sum += c[i];
                totals[id] = (uint)sum; // at most the token count, below 2^32
            }
            if (i != d) throw new InvalidOperationException($"order {n}: an n-gram names a prefix id outside 0..{prefixes - 1}");
            offsets[prefixes] = (uint)i;
            if (n == maxOrder) prefix[n].Dispose(); // below the top order, the next round's totals take the array
            _last[n] = last[n];
            _counts[n] = counts[n];
            _offsets[n] = offsetArray;
            _continuations[n - 1] = totalArray;
        }
        long min = long.MaxValue;
        for (int t = 0; t < vocabSize; t++) if (unigram[t] > 0 && unigram[t] < min) min = unigram[t];
        _maxUnigramSurprisal = -Math.Log2((double)min / tokens);
    }

    public int VocabSize { get; }

    public int MaxOrder { get; }

    /// <summary>Lets go of the counts at once (a model for a few hundred million tokens holds gigabytes); queries then throw.</summary>
    public void Dispose()
    {
        _disposed = true;
        foreach (var arrays in new[] { _last, _counts, _offsets, _continuations })
            foreach (var a in arrays) a?.Dispose();
    }

    /// <summary>Tokens counted.</summary>
    public long Tokens { get; }

    /// <summary>Surprisal (bits) of the rarest seen token: what an unseen token gets.</summary>
    public double MaxUnigramSurprisal => _maxUnigramSurprisal;

    /// <summary>Distinct n-grams of order <paramref name="n"/> (for n &gt;= 2 including the all-placeholder n-gram).</summary>
    public long Distinct(int n)
    {
        if (n < 1 || n > MaxOrder) throw new ArgumentOutOfRangeException(nameof(n), n, $"n must be 1..{MaxOrder}");
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (n > 1) return _last[n].Length;
        long seen = 0;
        foreach (long c in _unigram.AsSpan(0, VocabSize)) if (c > 0) seen++;
        return seen;
    }

    /// <summary>Bytes held by the counts.</summary>
    public long Bytes => _unigram.Length * 8L
        + Enumerable.Range(2, MaxOrder - 1).Sum(n => _last[n].Bytes + _counts[n].Bytes + _offsets[n].Bytes + _continuations[n - 1].Bytes);

    public long UnigramCount(int token) => (uint)token < (uint)VocabSize ? _unigram[token] : 0;

    /// <summary>log2 of the unigram probability; the rarest seen token's value for an unseen token.</summary>
    public double UnigramLog2Prob(int token)
    {
        long c = UnigramCount(token);
        return c > 0 ? Math.Log2((double)c / Tokens) : -_maxUnigramSurprisal;
    }

    /// <summary>
    /// How often the n-gram (1..MaxOrder tokens; <see cref="Pad"/> for the placeholder, only as leading entries) was
    /// counted. Counts of n-grams with a placeholder are counts of the padded sequence starts they stand for.
    /// </summary>
    public long Count(ReadOnlySpan<int> ngram)
    {
        int n = ngram.Length;
        if (n < 1 || n > MaxOrder) throw new ArgumentOutOfRangeException(nameof(ngram), n, $"n-gram length must be 1..{MaxOrder}");
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (n == 1) return ngram[0] == Pad ? 0 : UnigramCount(ngram[0]);
        int id = Map(ngram[0]);
        for (int k = 1; k < n && id >= 0; k++)
        {
            int token = Map(ngram[k]);
            id = token < 0 ? -1 : Find(k + 1, (uint)id, token);
        }
        return id < 0 ? 0 : _counts[n].Span[id];
    }

    /// <summary>
    /// Maximum-likelihood P(target | the last n-1 tokens of <paramref name="context"/>, left-padded with the
    /// placeholder when shorter), without backoff: 0 when the n-gram or its context was never seen.
    /// </summary>
    public double Probability(ReadOnlySpan<int> context, int target, int n)
    {
        if (n < 1 || n > MaxOrder) throw new ArgumentOutOfRangeException(nameof(n), n, $"n must be 1..{MaxOrder}");
        ObjectDisposedException.ThrowIf(_disposed, this);
        if ((uint)target >= (uint)VocabSize) return 0;
        if (n == 1) return (double)_unigram[target] / Tokens;
        int context1 = ContextId(context, n - 1);
        if (context1 < 0) return 0;
        int id = Find(n, (uint)context1, target);
        if (id < 0) return 0;
        long total = _continuations[n - 1].Span[context1];
        return total > 0 ? (double)_counts[n].Span[id] / total : 0;
    }

    /// <summary>
    /// Surprisal (bits) of <paramref name="target"/> after <paramref name="context"/> for n = 1..MaxOrder into
    /// <paramref name="surprisal"/>[n-1], with backoff: an unseen n-gram takes the (n-1)-gram's surprisal, an unseen
    /// unigram the largest unigram surprisal.
    /// </summary>
    public void Surprisals(ReadOnlySpan<int> context, int target, Span<double> surprisal)
    {
        if (surprisal.Length < MaxOrder) throw new ArgumentException($"need room for {MaxOrder} values", nameof(surprisal));
        double s = -UnigramLog2Prob(target);
        surprisal[0] = s;
        for (int n = 2; n <= MaxOrder; n++)
        {
            double p = Probability(context, target, n);
            if (p == 0)
            {
                // Every occurrence of an n-gram contains its (n-1)-token suffix, and pruning keeps that order (a
                // suffix is dropped only when all its extensions are), so once an order is unseen all longer ones are.
                surprisal[(n - 1)..MaxOrder].Fill(s);
                return;
            }
            s = -Math.Log2(p);
            surprisal[n - 1] = s;
        }
    }

    // Id of the n-gram (prefix id, token) of order n, or -1: a binary search among the prefix's continuations.
    private int Find(int n, uint prefix, int token)
    {
        var offsets = _offsets[n].Span;
        if (prefix >= (uint)(offsets.Length - 1)) return -1;
        int lo = (int)offsets[(int)prefix];
        int found = _last[n].Span[lo..(int)offsets[(int)prefix + 1]].BinarySearch((uint)token);
        return found < 0 ? -1 : lo + found;
    }

    // Id of the last m tokens of the context (padded) as an m-gram: the token id for m = 1, an n-gram id above; -1
    // when that m-gram was never counted.
    private int ContextId(ReadOnlySpan<int> context, int m)
    {
        int start = context.Length - m; // negative: that many leading placeholders
        int id = -1;
        for (int k = 0; k < m; k++)
        {
            int i = start + k;
            int token = i < 0 ? VocabSize : context[i];
            if ((uint)token > (uint)VocabSize) return -1;
            id = k == 0 ? token : Find(k + 1, (uint)id, token);
            if (id < 0) return -1;
        }
        return id;
    }

    private int Map(int token) => token == Pad ? VocabSize : (uint)token < (uint)VocabSize ? token : -1;
}

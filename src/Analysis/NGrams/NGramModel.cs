namespace LearningCurves.Analysis.NGrams;

/// <summary>How to count n-grams.</summary>
/// <param name="MaxOrder">Highest n (1..5; the paper uses 5).</param>
/// <param name="Prune">Prune as the paper's code did: drop n-grams (n &gt;= <paramref name="PruneFromOrder"/>) counted
/// fewer than <paramref name="PruneMinCount"/> times every <paramref name="PruneEverySequences"/> sequences and at the end.</param>
public sealed record NGramOptions(
    int MaxOrder = 5,
    bool Prune = false,
    int PruneEverySequences = 1_000_000,
    uint PruneMinCount = 2,
    int PruneFromOrder = 3);

/// <summary>
/// Counts n-grams (n = 1..MaxOrder) over training sequences of token ids; <see cref="Build"/> freezes them into an
/// <see cref="NGramModel"/>.
/// <para>
/// Each sequence is left-padded with a placeholder (id = vocabulary size) so no n-gram crosses a sequence start: the
/// first token of a sequence is counted as the 5-gram (P, P, P, P, t), the 2-gram (P, t), and so on.
/// </para>
/// <para>
/// Storage (exact, no hash collisions): the n-grams form a trie stored level by level. Order 1 is a dense array
/// indexed by token id. Order n &gt;= 2 is one open-addressing hash table (<see cref="NGramTable"/>) whose key is the
/// 64-bit value (id of the (n-1)-gram prefix in order n-1) &lt;&lt; 32 | (last token id), mapping to a dense 32-bit id
/// and a 32-bit count; slots are 16 bytes and the load stays between 0.375 and 0.75, so an n-gram costs about 21-43
/// bytes (about 30 on average) plus 4 bytes for its continuation total once built. Counting a token costs 4 hash
/// inserts whose keys are known up front (they use the previous token's ids), so their cache misses are prefetched
/// together. Limits: token ids below 2^31; at most about 800 million distinct n-grams per order (2^30 slots) and
/// at most 2^32 - 1 tokens in all (counts are 32-bit). Measured 35 bytes per distinct n-gram (orders 2-5) on a
/// Zipfian stream. Text has roughly 0.1-0.2 distinct 2-grams, 0.4 3-grams and 0.7-0.9 4- and 5-grams per token, so
/// 200 million tokens take about 15 GB unpruned and 300 million about 22 GB (plus a transient copy of the largest
/// table while it doubles); with pruning (the paper's setting) a small fraction of that.
/// </para>
/// </summary>
public sealed class NGramCounter
{
    private readonly long[] _unigram;       // (vocab + 1): real tokens, then the placeholder (never counted)
    private readonly NGramTable?[] _tables; // [n] for n = 2..MaxOrder
    private readonly uint[] _padId;         // [n]: id of the all-placeholder n-gram (n = 1: the placeholder token)
    private long _tokens;
    private long _sequences;
    private bool _built;

    public NGramCounter(int vocabSize, NGramOptions? options = null)
    {
        Options = options ?? new NGramOptions();
        if (vocabSize < 1 || vocabSize >= int.MaxValue) throw new ArgumentOutOfRangeException(nameof(vocabSize), vocabSize, "vocabulary size must be in 1..2^31-2");
        if (Options.MaxOrder is < 1 or > 5) throw new ArgumentOutOfRangeException(nameof(options), Options.MaxOrder, "MaxOrder must be 1..5");
        if (Options.PruneEverySequences < 1) throw new ArgumentOutOfRangeException(nameof(options), "PruneEverySequences must be >= 1");
        if (Options.PruneFromOrder < 2) throw new ArgumentOutOfRangeException(nameof(options), "PruneFromOrder must be >= 2");
        VocabSize = vocabSize;
        _unigram = new long[vocabSize + 1];
        _tables = new NGramTable?[Options.MaxOrder + 1];
        _padId = new uint[Options.MaxOrder + 1];
        _padId[1] = (uint)vocabSize;
        for (int n = 2; n <= Options.MaxOrder; n++)
        {
            _tables[n] = new NGramTable();
            // The all-placeholder prefixes exist with count 0 so the first tokens of a sequence have a context id.
            _padId[n] = _tables[n]!.Add(NGramTable.Key(_padId[n - 1], vocabSize), 0);
        }
    }

    public NGramOptions Options { get; }

    public int VocabSize { get; }

    /// <summary>Tokens counted so far.</summary>
    public long Tokens => _tokens;

    public long Sequences => _sequences;

    /// <summary>Bytes held by the count tables.</summary>
    public long Bytes => _unigram.Length * 8L + _tables.Sum(t => t?.Bytes ?? 0);

    /// <summary>Counts one training sequence. Token ids must be in [0, vocabSize).</summary>
    public void Add(ReadOnlySpan<int> sequence)
    {
        if (_built) throw new InvalidOperationException("the counter was already built into a model");
        uint vocab = (uint)VocabSize;
        foreach (int t in sequence)
            if ((uint)t >= vocab) throw new ArgumentOutOfRangeException(nameof(sequence), t, $"token id outside the vocabulary 0..{vocab - 1}");
        if (_tokens + sequence.Length > uint.MaxValue) throw new InvalidOperationException("more than 2^32 - 1 tokens: the 32-bit counts would overflow");
        if (Options.MaxOrder == 5) Add5(sequence);
        else AddGeneric(sequence);
        _tokens += sequence.Length;
        _sequences++;
        if (Options.Prune && _sequences % Options.PruneEverySequences == 0) Prune();
    }

    // Lanes interleaved in the order-5 loop. Counting is bound by cache misses (4 random slots per token); splitting a
    // sequence into 4 independent lanes puts 16 prefetched lookups in flight instead of 4.
    private const int Lanes = 4;

    // The paper's order, unrolled: the four keys of a token depend only on the previous token's ids, so every lane's
    // slots are prefetched before any is probed.
    private void Add5(ReadOnlySpan<int> sequence)
    {
        var t2 = _tables[2]!;
        var t3 = _tables[3]!;
        var t4 = _tables[4]!;
        var t5 = _tables[5]!;
        var uni = _unigram;
        int m = sequence.Length / Lanes;
        Span<uint> state = stackalloc uint[Lanes * 4]; // per lane: ids of the 1-, 2-, 3-, 4-gram ending before its next token
        int done = 0;
        if (m >= 16)
        {
            for (int lane = 0; lane < Lanes; lane++) LaneStart(sequence, lane * m, state.Slice(lane * 4, 4));
            Span<ulong> keys = stackalloc ulong[Lanes * 4];
            for (int step = 0; step < m; step++)
            {
                for (int lane = 0; lane < Lanes; lane++)
                {
                    int t = sequence[lane * m + step];
                    var st = state.Slice(lane * 4, 4);
                    var k = keys.Slice(lane * 4, 4);
                    k[0] = NGramTable.Key(st[0], t);
                    k[1] = NGramTable.Key(st[1], t);
                    k[2] = NGramTable.Key(st[2], t);
                    k[3] = NGramTable.Key(st[3], t);
                    t2.Prefetch(k[0]);
                    t3.Prefetch(k[1]);
                    t4.Prefetch(k[2]);
                    t5.Prefetch(k[3]);
                }
                for (int lane = 0; lane < Lanes; lane++)
                {
                    int t = sequence[lane * m + step];
                    var st = state.Slice(lane * 4, 4);
                    var k = keys.Slice(lane * 4, 4);
                    uni[t]++;
                    st[1] = t2.Add(k[0], 1);
                    st[2] = t3.Add(k[1], 1);
                    st[3] = t4.Add(k[2], 1);
                    t5.Add(k[3], 1);
                    st[0] = (uint)t;
                }
            }
            done = Lanes * m;
            state = state.Slice((Lanes - 1) * 4, 4); // the last lane runs on to the end
        }
        else
        {
            state[0] = _padId[1];
            state[1] = _padId[2];
            state[2] = _padId[3];
            state[3] = _padId[4];
        }
        uint p1 = state[0], p2 = state[1], p3 = state[2], p4 = state[3];
        for (int i = done; i < sequence.Length; i++)
        {
            int t = sequence[i];
            uni[t]++;
            ulong k2 = NGramTable.Key(p1, t), k3 = NGramTable.Key(p2, t), k4 = NGramTable.Key(p3, t), k5 = NGramTable.Key(p4, t);
            t2.Prefetch(k2);
            t3.Prefetch(k3);
            t4.Prefetch(k4);
            t5.Prefetch(k5);
            p2 = t2.Add(k2, 1);
            p3 = t3.Add(k3, 1);
            p4 = t4.Add(k4, 1);
            t5.Add(k5, 1);
            p1 = (uint)t;
        }
    }

    // Ids of the 1- to 4-grams ending just before position s (s >= 4, or 0 = sequence start). Missing entries are
    // created with count 0; the lane before this one counts them when it reaches them.
    private void LaneStart(ReadOnlySpan<int> seq, int s, Span<uint> st)
    {
        if (s == 0)
        {
            for (int n = 1; n <= 4; n++) st[n - 1] = _padId[n];
            return;
        }
        var t2 = _tables[2]!;
        var t3 = _tables[3]!;
        var t4 = _tables[4]!;
        uint a = t2.Add(NGramTable.Key((uint)seq[s - 4], seq[s - 3]), 0); // (s-4, s-3)
        uint b = t2.Add(NGramTable.Key((uint)seq[s - 3], seq[s - 2]), 0); // (s-3, s-2)
        uint c = t2.Add(NGramTable.Key((uint)seq[s - 2], seq[s - 1]), 0); // (s-2, s-1)
        uint d = t3.Add(NGramTable.Key(a, seq[s - 2]), 0);                // (s-4 .. s-2)
        uint e = t3.Add(NGramTable.Key(b, seq[s - 1]), 0);                // (s-3 .. s-1)
        uint f = t4.Add(NGramTable.Key(d, seq[s - 1]), 0);                // (s-4 .. s-1)
        st[0] = (uint)seq[s - 1];
        st[1] = c;
        st[2] = e;
        st[3] = f;
    }

    private void AddGeneric(ReadOnlySpan<int> sequence)
    {
        int order = Options.MaxOrder;
        Span<uint> prev = stackalloc uint[6];
        for (int n = 1; n < order; n++) prev[n] = _padId[n];
        foreach (int t in sequence)
        {
            _unigram[t]++;
            // Highest order first: order n reads prev[n-1] before order n-1 overwrites it.
            for (int n = order; n >= 2; n--)
            {
                uint id = _tables[n]!.Add(NGramTable.Key(prev[n - 1], t), 1);
                if (n < order) prev[n] = id;
            }
            prev[1] = (uint)t;
        }
    }

    /// <summary>Drops the n-grams of order &gt;= PruneFromOrder counted fewer than PruneMinCount times (and their extensions).</summary>
    public void Prune()
    {
        if (_built) throw new InvalidOperationException("the counter was already built into a model");
        int[]? remap = null;
        for (int n = Options.PruneFromOrder; n <= Options.MaxOrder; n++)
        {
            var table = _tables[n]!;
            // Every extension of a dropped prefix is dropped too (its count is never above the prefix's).
            remap = table.Prune(Options.PruneMinCount, remap, n < Options.MaxOrder ? _padId[n] : uint.MaxValue);
            if (n < Options.MaxOrder) _padId[n] = (uint)remap[_padId[n]];
        }
    }

    /// <summary>Finishes counting (pruning once more when enabled) and returns the frozen model. The counter is spent.</summary>
    public NGramModel Build()
    {
        if (_built) throw new InvalidOperationException("the counter was already built into a model");
        if (_tokens == 0) throw new InvalidOperationException("no tokens were counted");
        if (Options.Prune) Prune();
        _built = true;
        return new NGramModel(VocabSize, Options.MaxOrder, _tokens, _unigram, _tables, _padId);
    }
}

/// <summary>
/// Frozen n-gram counts with maximum-likelihood conditional probabilities P(t | c) = count(c, t) / sum over u of
/// count(c, u) (the continuation total of the context, so probabilities over seen continuations sum to 1, also for
/// contexts that end a sequence). Read-only and thread-safe. The count tables live in native memory; Dispose frees
/// them at once (otherwise the finalizers do).
/// </summary>
public sealed class NGramModel : IDisposable
{
    /// <summary>Stands for the sequence-start placeholder in <see cref="Count"/> queries.</summary>
    public const int Pad = -1;

    private readonly long[] _unigram;
    private readonly NGramTable?[] _tables;
    private readonly uint[] _padId;
    private readonly uint[]?[] _continuations;  // [n][id of an n-gram]: total count of its (n+1)-gram extensions
    private readonly double _maxUnigramSurprisal;

    internal NGramModel(int vocabSize, int maxOrder, long tokens, long[] unigram, NGramTable?[] tables, uint[] padId)
    {
        VocabSize = vocabSize;
        MaxOrder = maxOrder;
        Tokens = tokens;
        _unigram = unigram;
        _tables = tables;
        _padId = padId;
        _continuations = new uint[]?[maxOrder];
        for (int n = 1; n < maxOrder; n++)
        {
            var totals = new uint[n == 1 ? vocabSize + 1 : tables[n]!.Count];
            foreach (ref readonly var e in tables[n + 1]!.Slots)
                if (e.Key != ulong.MaxValue) totals[(int)(e.Key >> 32)] += e.Count;
            _continuations[n] = totals;
        }
        long min = long.MaxValue;
        for (int t = 0; t < vocabSize; t++) if (unigram[t] > 0 && unigram[t] < min) min = unigram[t];
        _maxUnigramSurprisal = -Math.Log2((double)min / tokens);
    }

    public int VocabSize { get; }

    public int MaxOrder { get; }

    public void Dispose()
    {
        foreach (var t in _tables) t?.Dispose();
    }

    /// <summary>Tokens counted.</summary>
    public long Tokens { get; }

    /// <summary>Surprisal (bits) of the rarest seen token: what an unseen token gets.</summary>
    public double MaxUnigramSurprisal => _maxUnigramSurprisal;

    /// <summary>Distinct n-grams of order <paramref name="n"/> (for n &gt;= 2 including the placeholder prefixes).</summary>
    public long Distinct(int n) => n == 1 ? _unigram.AsSpan(0, VocabSize).ToArray().Count(c => c > 0) : _tables[n]!.Count;

    /// <summary>Bytes held by the counts.</summary>
    public long Bytes => _unigram.Length * 8L + _tables.Sum(t => t?.Bytes ?? 0) + _continuations.Sum(c => (c?.Length ?? 0) * 4L);

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
        if (n == 1) return ngram[0] == Pad ? 0 : UnigramCount(ngram[0]);
        if (!TryPrefixId(ngram[..^1], out uint id)) return 0;
        int last = Map(ngram[^1]);
        if (last < 0) return 0;
        int s = _tables[n]!.Find(NGramTable.Key(id, last));
        return s < 0 ? 0 : _tables[n]!.At(s).Count;
    }

    /// <summary>
    /// Maximum-likelihood P(target | the last n-1 tokens of <paramref name="context"/>, left-padded with the
    /// placeholder when shorter), without backoff: 0 when the n-gram or its context was never seen.
    /// </summary>
    public double Probability(ReadOnlySpan<int> context, int target, int n)
    {
        if (n < 1 || n > MaxOrder) throw new ArgumentOutOfRangeException(nameof(n), n, $"n must be 1..{MaxOrder}");
        if ((uint)target >= (uint)VocabSize) return 0;
        if (n == 1) return (double)_unigram[target] / Tokens;
        uint id = ContextId(context, n - 1, out bool found);
        if (!found) return 0;
        int s = _tables[n]!.Find(NGramTable.Key(id, target));
        if (s < 0) return 0;
        long total = _continuations[n - 1]![id];
        return total > 0 ? (double)_tables[n]!.At(s).Count / total : 0;
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

    // Id of the last m tokens of the context (padded) as an m-gram: the token id for m = 1, a table id above.
    private uint ContextId(ReadOnlySpan<int> context, int m, out bool found)
    {
        found = true;
        int start = context.Length - m; // negative: that many leading placeholders
        uint id = 0;
        for (int k = 0; k < m; k++)
        {
            int i = start + k;
            int tok = i < 0 ? VocabSize : context[i];
            if ((uint)tok > (uint)VocabSize) { found = false; return 0; }
            if (k == 0) { id = (uint)tok; continue; }
            int s = _tables[k + 1]!.Find(NGramTable.Key(id, tok));
            if (s < 0) { found = false; return 0; }
            id = _tables[k + 1]!.At(s).Id;
        }
        return id;
    }

    private bool TryPrefixId(ReadOnlySpan<int> prefix, out uint id)
    {
        id = 0;
        for (int k = 0; k < prefix.Length; k++)
        {
            int tok = Map(prefix[k]);
            if (tok < 0) return false;
            if (k == 0) { id = (uint)tok; continue; }
            int s = _tables[k + 1]!.Find(NGramTable.Key(id, tok));
            if (s < 0) return false;
            id = _tables[k + 1]!.At(s).Id;
        }
        return true;
    }

    private int Map(int token) => token == Pad ? VocabSize : (uint)token < (uint)VocabSize ? token : -1;
}

using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace LearningCurves.Analysis.NGrams;

/// <summary>How to count n-grams.</summary>
/// <param name="MaxOrder">Highest n (1..5; the paper uses 5).</param>
/// <param name="Prune">Prune as the paper's code did: drop n-grams (n &gt;= <paramref name="PruneFromOrder"/>) counted
/// fewer than <paramref name="PruneMinCount"/> times every <paramref name="PruneEverySequences"/> sequences and at the end.</param>
/// <param name="ChunkTokens">Tokens buffered before they are counted in one batch (whole sequences; a longer sequence is
/// a batch of its own). The batch costs 36 bytes per token while it is counted; the result does not depend on it.</param>
public sealed record NGramOptions(
    int MaxOrder = 5,
    bool Prune = false,
    int PruneEverySequences = 1_000_000,
    uint PruneMinCount = 2,
    int PruneFromOrder = 3,
    int ChunkTokens = 1 << 25);

/// <summary>
/// Counts n-grams (n = 1..MaxOrder) over training sequences of token ids; <see cref="Build"/> freezes them into an
/// <see cref="NGramModel"/>.
/// <para>
/// Each sequence is left-padded with a placeholder (id = vocabulary size) so no n-gram crosses a sequence start: the
/// first token of a sequence is counted as the 5-gram (P, P, P, P, t), the 2-gram (P, t), and so on.
/// </para>
/// <para>
/// Storage (exact, no hashing, so no collisions): the n-grams form a trie stored level by level as sorted arrays.
/// Order 1 is a dense count per token id. Order n &gt;= 2 is three parallel arrays sorted by (id of the (n-1)-gram
/// prefix, last token): prefix ids, last tokens and 32-bit counts; an n-gram's id is its index. That is 12 bytes per
/// distinct n-gram while counting; the built model (<see cref="NGramModel"/>) keeps the last tokens and counts and
/// turns the prefix ids into offsets, about 13 bytes per n-gram in all.
/// </para>
/// <para>
/// Why sorting and not a hash table: counting a token in a hash trie is 4 dependent random memory accesses, each a
/// cache and TLB miss once the tables outgrow the caches, and every doubling of a table touches fresh memory again
/// (measured here: 1.6 M tokens/s). Here sequences are buffered in batches, each counted with sequential passes:
/// <list type="number">
/// <item>as a sequence arrives, one element per position: its 2-gram as a compact key (previous token, or the
/// placeholder at a sequence start, &lt;&lt; token bits | token) and the next MaxOrder - 2 tokens of its sequence
/// packed in 64 bits;</item>
/// <item>an LSD radix sort (8-bit digits) on the compact key;</item>
/// <item>runs of equal keys are the batch's distinct n-grams and their counts, merged into the order's arrays, which
/// gives each run its id;</item>
/// <item>reading the sorted elements in order, each emits the next order's element (its n-gram id, its next token),
/// so those arrive grouped by prefix id with ascending ids; the sequence starts' (placeholder...) elements are slotted
/// in where the all-placeholder n-gram's id falls; only each group (mostly tiny) is sorted by its last token;</item>
/// <item>back to 3 for the next order.</item>
/// </list>
/// A merge renumbers ids monotonically, so the order above keeps its sort when its prefix ids are rewritten. The
/// batch buffers and arrays live in native memory advised for huge pages (<see cref="NativeArray{T}"/>).
/// </para>
/// <para>
/// Limits: for order 5 the vocabulary must be below 2^21 (three look-ahead tokens in 64 bits); at most 2^31 - 1
/// distinct n-grams of one order (array length) and 2^32 - 1 tokens in all (32-bit counts). Memory: 12 bytes per
/// distinct n-gram plus 36 bytes per buffered token while a batch is counted (two element buffers and run ids);
/// text has roughly 0.1-0.2 distinct 2-grams, 0.4 3-grams and 0.7-0.9 4- and 5-grams per token, so 300 million
/// tokens take about 8 GB of counts (a merge of a later batch holds old and new arrays of one order at once), plus
/// 1.2 GB for a full default batch.
/// </para>
/// </summary>
public sealed class NGramCounter
{
    private readonly long[] _unigram;   // (vocab + 1): real tokens, then the placeholder (never counted)
    private readonly Level?[] _levels;  // [n] for n = 2..MaxOrder
    private readonly uint[] _padId;     // [n]: id of the all-placeholder n-gram (n = 1: the placeholder token)
    private readonly int _tokenBits;    // bits of a token in an element's look-ahead and in a compact order-2 key
    private readonly ulong _end;        // look-ahead slot value past the end of a sequence
    private readonly int _slots;        // look-ahead tokens held in Element.Ahead
    // The batch: one order-2 element per buffered position, written as sequences arrive, and the element each
    // sequence start contributes to every order above 2 (its first token after the all-placeholder prefix).
    private NativeArray<Element> _a = NativeArray<Element>.Empty, _b = NativeArray<Element>.Empty;
    private int _buffered;
    private readonly List<Element> _starts = new();
    private readonly int[] _order2Histograms; // the batch's radix digit counts, kept as the elements are written
    private NativeArray<uint> _runIds = NativeArray<uint>.Empty;
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
        if (Options.ChunkTokens < 1) throw new ArgumentOutOfRangeException(nameof(options), "ChunkTokens must be >= 1");
        VocabSize = vocabSize;
        _tokenBits = 32 - BitOperations.LeadingZeroCount((uint)vocabSize); // vocabSize < 2^bits, so 2^bits - 1 is no token
        _end = (1UL << _tokenBits) - 1;
        // An order-2 element carries the tokens the orders above it still need: MaxOrder - 2 of them.
        _slots = Math.Max(0, Options.MaxOrder - 2);
        if (_slots * _tokenBits > 64)
            throw new ArgumentOutOfRangeException(nameof(vocabSize), vocabSize, $"order-{Options.MaxOrder} counting needs a vocabulary below 2^{64 / _slots}");
        _unigram = new long[vocabSize + 1];
        _order2Histograms = new int[(2 * _tokenBits + Digit - 1) / Digit * Buckets];
        _levels = new Level?[Options.MaxOrder + 1];
        _padId = new uint[Options.MaxOrder + 1];
        _padId[1] = (uint)vocabSize;
        for (int n = 2; n <= Options.MaxOrder; n++)
        {
            // The all-placeholder n-grams exist with count 0 so the first tokens of a sequence have a prefix id.
            _levels[n] = new Level(_padId[n - 1], (uint)vocabSize);
            _padId[n] = 0;
        }
    }

    public NGramOptions Options { get; }

    public int VocabSize { get; }

    /// <summary>Tokens counted so far (buffered ones included).</summary>
    public long Tokens => _tokens;

    public long Sequences => _sequences;

    /// <summary>Bytes held: counts, the token buffer and the batch workspace.</summary>
    public long Bytes => _unigram.Length * 8L + _levels.Sum(l => l?.Bytes ?? 0) + _a.Bytes + _b.Bytes + _runIds.Bytes;

    /// <summary>Counts one training sequence. Token ids must be in [0, vocabSize).</summary>
    public void Add(ReadOnlySpan<int> sequence)
    {
        if (_built) throw new InvalidOperationException("the counter was already built into a model");
        uint vocab = (uint)VocabSize;
        foreach (int t in sequence)
            if ((uint)t >= vocab) throw new ArgumentOutOfRangeException(nameof(sequence), t, $"token id outside the vocabulary 0..{vocab - 1}");
        if (_tokens + sequence.Length > uint.MaxValue) throw new InvalidOperationException("more than 2^32 - 1 tokens: the 32-bit counts would overflow");
        if (sequence.Length > 0)
        {
            if (Options.MaxOrder > 1)
            {
                if (_buffered > 0 && (long)_buffered + sequence.Length > Options.ChunkTokens) Flush();
                if (_buffered + sequence.Length > _a.Length) GrowBatch(_buffered + sequence.Length);
                FillOrderTwo(sequence, _a.Span.Slice(_buffered, sequence.Length));
                _buffered += sequence.Length;
            }
            else
            {
                var unigram = _unigram;
                foreach (int t in sequence) unigram[t]++;
            }
        }
        _tokens += sequence.Length;
        _sequences++;
        if (Options.Prune && _sequences % Options.PruneEverySequences == 0) Prune();
    }

    /// <summary>Drops the n-grams of order &gt;= PruneFromOrder counted fewer than PruneMinCount times (and their extensions).</summary>
    public void Prune()
    {
        if (_built) throw new InvalidOperationException("the counter was already built into a model");
        Flush();
        NativeArray<int>? remap = null; // old id -> new id (-1 = dropped) of the order below
        for (int n = Options.PruneFromOrder; n <= Options.MaxOrder; n++)
        {
            var level = _levels[n]!;
            var next = n < Options.MaxOrder ? new NativeArray<int>(level.Count) : null;
            var prefix = level.Prefix.Span;
            var last = level.Last.Span;
            var counts = level.Counts.Span;
            var below = remap is null ? default : remap.Span;
            var map = next is null ? default : next.Span;
            uint pad = _padId[n];
            int kept = 0;
            for (int i = 0; i < level.Count; i++)
            {
                long p = remap is null ? prefix[i] : below[(int)prefix[i]];
                // Every extension of a dropped prefix is dropped too: its key names an id that no longer exists.
                bool keep = (counts[i] >= Options.PruneMinCount || i == pad) && p >= 0;
                if (keep)
                {
                    prefix[kept] = (uint)p;
                    last[kept] = last[i];
                    counts[kept] = counts[i];
                    if (i == pad) _padId[n] = (uint)kept;
                }
                if (next is not null) map[i] = keep ? kept : -1;
                if (keep) kept++;
            }
            level.Count = kept;
            level.Trim();
            remap?.Dispose();
            remap = next;
        }
        remap?.Dispose();
    }

    /// <summary>Finishes counting (pruning once more when enabled) and returns the frozen model. The counter is spent.</summary>
    public NGramModel Build()
    {
        if (_built) throw new InvalidOperationException("the counter was already built into a model");
        if (_tokens == 0) throw new InvalidOperationException("no tokens were counted");
        if (Options.Prune) Prune();
        else Flush();
        _built = true;
        foreach (var workspace in new IDisposable[] { _a, _b, _runIds }) workspace.Dispose();
        var prefix = new NativeArray<uint>[Options.MaxOrder + 1];
        var last = new NativeArray<uint>[Options.MaxOrder + 1];
        var counts = new NativeArray<uint>[Options.MaxOrder + 1];
        for (int n = 2; n <= Options.MaxOrder; n++)
        {
            var level = _levels[n]!;
            level.Trim(exact: true);
            prefix[n] = level.Prefix;
            last[n] = level.Last;
            counts[n] = level.Counts;
            _levels[n] = null;
        }
        return new NGramModel(VocabSize, Options.MaxOrder, _tokens, _unigram, prefix, last, counts);
    }

    // One position of the batch: its n-gram key at the order being counted, and the next tokens of its sequence
    // (slot 0 = the next one, _end past the end of the sequence).
    [StructLayout(LayoutKind.Sequential)]
    private struct Element
    {
        public ulong Key;
        public ulong Ahead;
    }

    private static ulong Key(uint prefixId, uint token) => ((ulong)prefixId << 32) | token;

    // One order's distinct n-grams, sorted by (prefix id, last token); an n-gram's id is its index. Three parallel
    // arrays rather than one of 64-bit keys: the model adopts the last tokens and counts as they are.
    private sealed class Level
    {
        public NativeArray<uint> Prefix, Last, Counts;
        public int Count;
        private NativeArray<uint> _sparePrefix = NativeArray<uint>.Empty, _spareLast = NativeArray<uint>.Empty, _spareCounts = NativeArray<uint>.Empty;

        public Level(uint padPrefix, uint padToken)
        {
            Prefix = new NativeArray<uint>(1);
            Last = new NativeArray<uint>(1);
            Counts = new NativeArray<uint>(1);
            Prefix.Span[0] = padPrefix;
            Last.Span[0] = padToken;
            Counts.Span[0] = 0;
            Count = 1;
        }

        public long Bytes => Prefix.Bytes + Last.Bytes + Counts.Bytes + _sparePrefix.Bytes + _spareLast.Bytes + _spareCounts.Bytes;

        public void Trim(bool exact = false)
        {
            Replace(ref _sparePrefix, NativeArray<uint>.Empty);
            Replace(ref _spareLast, NativeArray<uint>.Empty);
            Replace(ref _spareCounts, NativeArray<uint>.Empty);
            if (Count == Last.Length || (!exact && Count > Last.Length / 2)) return;
            Replace(ref Prefix, Prefix.Copy(Count));
            Replace(ref Last, Last.Copy(Count));
            Replace(ref Counts, Counts.Copy(Count));
        }

        // The first batch into a level that holds only the all-placeholder n-gram (never in a batch): the batch's
        // n-grams with that one slotted in where it sorts.
        private NativeArray<uint> First(ReadOnlySpan<Element> runs, Span<uint> ids)
        {
            ulong padKey = Key(Prefix.Span[0], Last.Span[0]);
            uint padCount = Counts.Span[0];
            // Where the all-placeholder n-gram sorts among the batch's (binary search on the run keys).
            int lo = 0, hi = runs.Length;
            while (lo < hi)
            {
                int mid = (lo + hi) >>> 1;
                if (runs[mid].Key < padKey) lo = mid + 1;
                else hi = mid;
            }
            if (lo < runs.Length && runs[lo].Key == padKey) throw new InvalidOperationException("a batch holds the all-placeholder n-gram");
            int at = lo, total = runs.Length + 1;
            var prefix = new NativeArray<uint>(total);
            var last = new NativeArray<uint>(total);
            var counts = new NativeArray<uint>(total);
            var p = prefix.Span;
            var l = last.Span;
            var c = counts.Span;
            for (int j = 0, o = 0; o < total; o++)
            {
                if (o == at)
                {
                    p[o] = (uint)(padKey >> 32);
                    l[o] = (uint)padKey;
                    c[o] = padCount;
                    continue;
                }
                ulong k = runs[j].Key;
                p[o] = (uint)(k >> 32);
                l[o] = (uint)k;
                c[o] = (uint)runs[j].Ahead;
                ids[j++] = (uint)o;
            }
            Replace(ref Prefix, prefix);
            Replace(ref Last, last);
            Replace(ref Counts, counts);
            Count = total;
            var map = new NativeArray<uint>(1);
            map.Span[0] = (uint)at;
            return map;
        }

        // Rewrites the prefix ids with the order below's renumbering (monotone, so the n-grams stay sorted).
        public void RemapPrefixes(ReadOnlySpan<uint> oldToNew)
        {
            var prefix = Prefix.Span[..Count];
            for (int i = 0; i < prefix.Length; i++) prefix[i] = oldToNew[(int)prefix[i]];
        }

        /// <summary>
        /// Merges a batch's distinct n-grams (keys ascending, counts in Ahead). Writes each one's id to
        /// <paramref name="ids"/>; returns the old-id -> new-id map when new n-grams were inserted (null when ids did
        /// not change).
        /// </summary>
        public NativeArray<uint>? Merge(ReadOnlySpan<Element> runs, Span<uint> ids)
        {
            var prefix = Prefix.Span[..Count];
            var last = Last.Span[..Count];
            var old = Counts.Span[..Count];
            if (Count == 1) return First(runs, ids);
            // Count the new keys first: when there are none (a batch of known n-grams) counts are added in place.
            int fresh = 0;
            {
                int i = 0;
                foreach (ref readonly var run in runs)
                {
                    ulong k = run.Key;
                    while (i < prefix.Length && Key(prefix[i], last[i]) < k) i++;
                    if (i == prefix.Length || Key(prefix[i], last[i]) != k) fresh++;
                }
            }
            if (fresh == 0)
            {
                int i = 0;
                for (int j = 0; j < runs.Length; j++)
                {
                    while (Key(prefix[i], last[i]) < runs[j].Key) i++;
                    old[i] += (uint)runs[j].Ahead;
                    ids[j] = (uint)i;
                }
                return null;
            }
            long total = (long)Count + fresh;
            if (total > Array.MaxLength) throw new InvalidOperationException($"more than {Array.MaxLength:N0} distinct n-grams of one order");
            if (_spareLast.Length < total)
            {
                // Exact on the first batch; later ones leave room so a following merge may reuse the arrays.
                int size = (int)(Count == 1 ? total : Math.Min(Array.MaxLength, total + total / 4));
                Replace(ref _sparePrefix, new NativeArray<uint>(size));
                Replace(ref _spareLast, new NativeArray<uint>(size));
                Replace(ref _spareCounts, new NativeArray<uint>(size));
            }
            var map = new NativeArray<uint>(Count);
            var oldToNew = map.Span;
            var outPrefix = _sparePrefix.Span;
            var outLast = _spareLast.Span;
            var outCounts = _spareCounts.Span;
            int a = 0, b = 0, o = 0;
            ulong oldKey = Key(prefix[0], last[0]);
            while (a < prefix.Length || b < runs.Length)
            {
                ulong newKey = b < runs.Length ? runs[b].Key : ulong.MaxValue;
                if (b == runs.Length || (a < prefix.Length && oldKey < newKey))
                {
                    outPrefix[o] = prefix[a];
                    outLast[o] = last[a];
                    outCounts[o] = old[a];
                    oldToNew[a++] = (uint)o++;
                }
                else if (a == prefix.Length || newKey < oldKey)
                {
                    outPrefix[o] = (uint)(newKey >> 32);
                    outLast[o] = (uint)newKey;
                    outCounts[o] = (uint)runs[b].Ahead;
                    ids[b++] = (uint)o++;
                }
                else
                {
                    outPrefix[o] = prefix[a];
                    outLast[o] = last[a];
                    outCounts[o] = old[a] + (uint)runs[b].Ahead;
                    oldToNew[a++] = (uint)o;
                    ids[b++] = (uint)o++;
                }
                if (a < prefix.Length) oldKey = Key(prefix[a], last[a]);
            }
            (_sparePrefix, Prefix) = (Prefix, _sparePrefix);
            (_spareLast, Last) = (Last, _spareLast);
            (_spareCounts, Counts) = (Counts, _spareCounts);
            Count = o;
            return map;
        }
    }

    // Counts the buffered sequences into the levels: order 2 sorted whole, then each order from the one below.
    private void Flush()
    {
        int m = _buffered;
        if (m == 0) return;
        int max = Options.MaxOrder;
        {
            if (_b.Length < m) Replace(ref _b, new NativeArray<Element>(_a.Length));
            Ensure(ref _runIds, m);
            var cur = _a.Span[..m];
            var other = _b.Span[..m];
            // Order 2 is sorted whole, on a compact (prefix << bits | token) key; each order above arrives grouped.
            if (RadixSort(cur, other, 0, 2 * _tokenBits, _order2Histograms)) Swap(ref cur, ref other);
            Array.Clear(_order2Histograms);
            int count = m;
            NativeArray<uint>? belowMap = null;
            for (int n = 2; n <= max; n++)
            {
                var level = _levels[n]!;
                if (belowMap is not null)
                {
                    level.RemapPrefixes(belowMap.Span);
                    belowMap.Dispose();
                }
                // The runs go to the other buffer, idle until the next order's elements are written there.
                int runs = n == 2 ? Runs(cur[..count], other, compact: true, _tokenBits) : SortGroupsAndRuns(cur[..count], other, _tokenBits);
                var ids = _runIds.Span[..runs];
                belowMap = level.Merge(other[..runs], ids);
                if (belowMap is not null) _padId[n] = belowMap.Span[(int)_padId[n]];
                if (n == max) break;
                count = EmitNext(cur[..count], ids, other, _padId[n]);
                Swap(ref cur, ref other);
            }
            belowMap?.Dispose();
        }
        _buffered = 0;
        _starts.Clear();
    }

    private static void Swap(ref Span<Element> a, ref Span<Element> b)
    {
        var t = a;
        a = b;
        b = t;
    }

    private static void Ensure<T>(ref NativeArray<T> array, int length) where T : unmanaged
    {
        if (array.Length < length) Replace(ref array, new NativeArray<T>(length));
    }

    private static void Replace<T>(ref NativeArray<T> array, NativeArray<T> with) where T : unmanaged
    {
        array.Dispose();
        array = with;
    }

    // Room for the batch's elements. The first batch buffer is small (a small corpus stays small); when it fills up
    // it is replaced by one of the full batch size, whose pages the system provides as they are first written.
    private void GrowBatch(int needed)
    {
        int size = Math.Max(needed, _a.Length == 0 ? Math.Min(Options.ChunkTokens, 1 << 16) : Options.ChunkTokens);
        var grown = new NativeArray<Element>(size);
        _a.Span[.._buffered].CopyTo(grown.Span);
        Replace(ref _a, grown);
    }

    // The order-2 elements of one sequence: each position's 2-gram as a compact key (previous token, or the
    // placeholder at the start, << bits | token) and the tokens after it; and the sequence start's element for the
    // orders above (its key's prefix is filled in per order).
    private void FillOrderTwo(ReadOnlySpan<int> sequence, Span<Element> elements)
    {
        int bits = _tokenBits, slots = _slots;
        ulong mask = slots * bits == 64 ? ulong.MaxValue : (1UL << (slots * bits)) - 1;
        ulong ahead = 0;
        for (int s = 0; s < slots; s++) ahead |= _end << (s * bits);
        var unigram = _unigram;
        var histograms = _order2Histograms.AsSpan();
        int passes = histograms.Length / Buckets;
        // Backwards, so each position's look-ahead is the next one's shifted by a token. The unigram counts and the
        // order-2 sort's digit histograms are kept here, saving the sort a pass over the batch.
        for (int p = sequence.Length - 1; p >= 0; p--)
        {
            int token = sequence[p];
            ulong previous = p > 0 ? (uint)sequence[p - 1] : (uint)VocabSize;
            ulong key = (previous << bits) | (uint)token;
            elements[p] = new Element { Key = key, Ahead = ahead };
            ahead = ((ahead << bits) | (uint)token) & mask;
            unigram[token]++;
            for (int d = 0; d < passes; d++) histograms[d * Buckets + (int)((key >> (d * Digit)) & (Buckets - 1))]++;
        }
        _starts.Add(new Element { Key = (uint)sequence[0], Ahead = elements[0].Ahead });
    }

    private void AppendStarts(Span<Element> next, ref int o, uint padId)
    {
        foreach (var start in _starts) next[o++] = new Element { Key = ((ulong)padId << 32) | start.Key, Ahead = start.Ahead };
    }

    // Order n+1 elements from order n's sorted elements and their runs' ids (ascending), with the sequence starts'
    // elements (prefix = the all-placeholder n-gram) placed where that id falls, so the result is grouped by prefix.
    private int EmitNext(ReadOnlySpan<Element> sorted, ReadOnlySpan<uint> runIds, Span<Element> next, uint padId)
    {
        int bits = _tokenBits;
        ulong end = _end;
        int o = 0, run = -1;
        ulong lastKey = ulong.MaxValue;
        bool startsDone = false;
        uint id = 0;
        foreach (ref readonly var e in sorted)
        {
            if (e.Key != lastKey)
            {
                lastKey = e.Key;
                id = runIds[++run];
                if (!startsDone && id > padId)
                {
                    AppendStarts(next, ref o, padId);
                    startsDone = true;
                }
            }
            ulong t = e.Ahead & end;
            if (t == end) continue;
            next[o++] = new Element { Key = Key(id, (uint)t), Ahead = e.Ahead >> bits };
        }
        if (!startsDone) AppendStarts(next, ref o, padId);
        return o;
    }

    // Sorts each group of equal prefix (the elements arrive grouped, groups ascending) by its last token, and
    // writes the runs of equal keys to the other buffer while the group is still in cache. The runs never reach the
    // part of that buffer a later group borrows for its radix sort: there are never more runs than elements before.
    private static int SortGroupsAndRuns(Span<Element> data, Span<Element> other, int tokenBits)
    {
        int i = 0, runs = 0;
        while (i < data.Length)
        {
            uint prefix = (uint)(data[i].Key >> 32);
            int j = i + 1;
            while (j < data.Length && (uint)(data[j].Key >> 32) == prefix) j++;
            int size = j - i;
            var group = data.Slice(i, size);
            if (size > 1)
            {
                if (size <= 24) InsertionSort(group);
                else if (size <= 512) group.Sort(default(ByKey));
                else if (RadixSort(group, other.Slice(i, size), 0, tokenBits)) other.Slice(i, size).CopyTo(group);
            }
            runs += Runs(group, other[runs..], compact: false, tokenBits);
            i = j;
        }
        return runs;
    }

    private readonly struct ByKey : IComparer<Element>
    {
        public int Compare(Element x, Element y) => x.Key.CompareTo(y.Key);
    }

    private static void InsertionSort(Span<Element> a)
    {
        for (int i = 1; i < a.Length; i++)
        {
            var x = a[i];
            int j = i - 1;
            while (j >= 0 && a[j].Key > x.Key)
            {
                a[j + 1] = a[j];
                j--;
            }
            a[j + 1] = x;
        }
    }

    private const int Digit = 8, Buckets = 1 << Digit;

    /// <summary>
    /// Stable LSD radix sort of <paramref name="a"/> by bits [shift, shift+bits) of the key, 8 bits a pass (256
    /// buckets: wider digits scatter to more streams than the write buffers hold, and measured slower per bit here),
    /// ping-ponging with <paramref name="b"/>; a pass whose digit is the same for all elements is skipped. The digit
    /// histograms (Buckets per pass) are counted first unless <paramref name="histograms"/> holds them. Returns true
    /// when the result ended in <paramref name="b"/>.
    /// </summary>
    private static bool RadixSort(Span<Element> a, Span<Element> b, int shift, int bits, Span<int> histograms = default)
    {
        int passes = (bits + Digit - 1) / Digit;
        Span<int> counts = stackalloc int[passes * Buckets];
        if (!histograms.IsEmpty)
        {
            histograms.CopyTo(counts);
        }
        else
        {
            counts.Clear();
            foreach (ref readonly var e in a)
            {
                ulong k = e.Key >> shift;
                for (int p = 0; p < passes; p++) counts[p * Buckets + (int)((k >> (p * Digit)) & (Buckets - 1))]++;
            }
        }
        bool inB = false;
        for (int p = 0; p < passes; p++)
        {
            var c = counts.Slice(p * Buckets, Buckets);
            int sum = 0;
            bool trivial = false;
            for (int d = 0; d < Buckets; d++)
            {
                if (c[d] == a.Length) trivial = true;
                int n = c[d];
                c[d] = sum;
                sum += n;
            }
            if (trivial) continue;
            int sh = shift + p * Digit;
            var src = inB ? b : a;
            var dst = inB ? a : b;
            ref var s0 = ref MemoryMarshal.GetReference(src);
            ref var d0 = ref MemoryMarshal.GetReference(dst);
            ref int c0 = ref MemoryMarshal.GetReference(c);
            for (int i = 0; i < src.Length; i++)
            {
                ref var e = ref Unsafe.Add(ref s0, i);
                ref int slot = ref Unsafe.Add(ref c0, (int)((e.Key >> sh) & (Buckets - 1)));
                Unsafe.Add(ref d0, slot) = e;
                slot++;
            }
            inB = !inB;
        }
        return inB;
    }

    // Runs of equal keys in sorted elements: the batch's distinct n-grams (Key, written as prefix << 32 | token when
    // the order-2 keys are compact) and their counts (Ahead).
    private static int Runs(ReadOnlySpan<Element> sorted, Span<Element> runs, bool compact, int bits)
    {
        int count = 0;
        ulong tokenMask = (1UL << bits) - 1;
        int i = 0;
        while (i < sorted.Length)
        {
            ulong k = sorted[i].Key;
            int j = i + 1;
            while (j < sorted.Length && sorted[j].Key == k) j++;
            runs[count++] = new Element { Key = compact ? ((k >> bits) << 32) | (k & tokenMask) : k, Ahead = (ulong)(j - i) };
            i = j;
        }
        return count;
    }
}

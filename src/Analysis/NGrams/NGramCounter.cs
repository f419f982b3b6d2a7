using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace LearningCurves.Analysis.NGrams;

/// <summary>How to count n-grams.</summary>
/// <param name="MaxOrder">Highest n (1..5; the paper uses 5).</param>
/// <param name="Prune">Prune as the paper's code did: drop n-grams (n &gt;= <paramref name="PruneFromOrder"/>) counted
/// fewer than <paramref name="PruneMinCount"/> times every <paramref name="PruneEverySequences"/> sequences and at the end.</param>
/// <param name="ChunkTokens">Tokens buffered before they are counted in one batch (whole sequences; a longer sequence is
/// a batch of its own). The batch costs 48 bytes per token while it is counted; the result does not depend on it.</param>
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
/// (measured here: 1.6 M tokens/s). Here tokens are buffered and each batch is counted with sequential passes:
/// <list type="number">
/// <item>one element per position: its 2-gram as a compact key (previous token, or the placeholder at a sequence
/// start, &lt;&lt; token bits | token) and the next MaxOrder - 2 tokens of its sequence packed in 64 bits;</item>
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
/// distinct n-gram plus 48 bytes per buffered token while a batch is counted (two element buffers and the runs);
/// text has roughly 0.1-0.2 distinct 2-grams, 0.4 3-grams and 0.7-0.9 4- and 5-grams per token, so 300 million
/// tokens take about 8 GB of counts (a merge of a later batch holds old and new arrays of one order at once), plus
/// 1.6 GB for a full default batch.
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
    private NativeArray<int> _buffer = NativeArray<int>.Empty; // tokens of whole sequences not yet counted
    private int _buffered;
    private readonly List<int> _starts = new(); // start of each buffered non-empty sequence
    private NativeArray<Element> _a = NativeArray<Element>.Empty, _b = NativeArray<Element>.Empty;
    private NativeArray<ulong> _runKeys = NativeArray<ulong>.Empty;
    private NativeArray<uint> _runCounts = NativeArray<uint>.Empty, _runIds = NativeArray<uint>.Empty;
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
    public long Bytes => _unigram.Length * 8L + _levels.Sum(l => l?.Bytes ?? 0) + _buffer.Bytes
        + _a.Bytes + _b.Bytes + _runKeys.Bytes + _runCounts.Bytes + _runIds.Bytes;

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
            if (_buffered > 0 && (long)_buffered + sequence.Length > Options.ChunkTokens) Flush();
            if (_buffered + sequence.Length > _buffer.Length)
            {
                long size = Math.Max((long)_buffered + sequence.Length, Math.Min(Options.ChunkTokens, Math.Max(1L << 16, 2L * _buffer.Length)));
                var grown = new NativeArray<int>((int)Math.Min(Array.MaxLength, size));
                _buffer.Span[.._buffered].CopyTo(grown.Span);
                _buffer.Dispose();
                _buffer = grown;
            }
            _starts.Add(_buffered);
            sequence.CopyTo(_buffer.Span[_buffered..]);
            _buffered += sequence.Length;
            var unigram = _unigram;
            foreach (int t in sequence) unigram[t]++;
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
        foreach (var workspace in new IDisposable[] { _a, _b, _runKeys, _runCounts, _runIds, _buffer }) workspace.Dispose();
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

        private static void Replace(ref NativeArray<uint> array, NativeArray<uint> with)
        {
            array.Dispose();
            array = with;
        }

        // The first batch into a level that holds only the all-placeholder n-gram (never in a batch): the batch's
        // n-grams with that one slotted in where it sorts.
        private NativeArray<uint> First(ReadOnlySpan<ulong> keys, ReadOnlySpan<uint> counts, Span<uint> ids)
        {
            ulong padKey = Key(Prefix.Span[0], Last.Span[0]);
            uint padCount = Counts.Span[0];
            int at = keys.BinarySearch(padKey);
            if (at >= 0) throw new InvalidOperationException("a batch holds the all-placeholder n-gram");
            at = ~at;
            int total = keys.Length + 1;
            var prefix = new NativeArray<uint>(total);
            var last = new NativeArray<uint>(total);
            var outCounts = new NativeArray<uint>(total);
            Split(keys[..at], prefix.Span, last.Span);
            Split(keys[at..], prefix.Span[(at + 1)..], last.Span[(at + 1)..]);
            prefix.Span[at] = (uint)(padKey >> 32);
            last.Span[at] = (uint)padKey;
            counts[..at].CopyTo(outCounts.Span);
            outCounts.Span[at] = padCount;
            counts[at..].CopyTo(outCounts.Span[(at + 1)..]);
            for (int j = 0; j < keys.Length; j++) ids[j] = (uint)(j < at ? j : j + 1);
            Replace(ref Prefix, prefix);
            Replace(ref Last, last);
            Replace(ref Counts, outCounts);
            Count = total;
            var map = new NativeArray<uint>(1);
            map.Span[0] = (uint)at;
            return map;
        }

        private static void Split(ReadOnlySpan<ulong> keys, Span<uint> prefix, Span<uint> last)
        {
            prefix = prefix[..keys.Length];
            last = last[..keys.Length];
            for (int j = 0; j < keys.Length; j++)
            {
                prefix[j] = (uint)(keys[j] >> 32);
                last[j] = (uint)keys[j];
            }
        }

        // Rewrites the prefix ids with the order below's renumbering (monotone, so the n-grams stay sorted).
        public void RemapPrefixes(ReadOnlySpan<uint> oldToNew)
        {
            var prefix = Prefix.Span[..Count];
            for (int i = 0; i < prefix.Length; i++) prefix[i] = oldToNew[(int)prefix[i]];
        }

        /// <summary>
        /// Merges a batch's distinct keys (ascending) and counts. Writes each batch key's id to <paramref name="ids"/>;
        /// returns the old-id -> new-id map when new keys were inserted (null when ids did not change).
        /// </summary>
        public NativeArray<uint>? Merge(ReadOnlySpan<ulong> keys, ReadOnlySpan<uint> counts, Span<uint> ids)
        {
            var prefix = Prefix.Span[..Count];
            var last = Last.Span[..Count];
            var old = Counts.Span[..Count];
            if (Count == 1) return First(keys, counts, ids);
            // Count the new keys first: when there are none (a batch of known n-grams) counts are added in place.
            int fresh = 0;
            {
                int i = 0;
                foreach (ulong k in keys)
                {
                    while (i < prefix.Length && Key(prefix[i], last[i]) < k) i++;
                    if (i == prefix.Length || Key(prefix[i], last[i]) != k) fresh++;
                }
            }
            if (fresh == 0)
            {
                int i = 0;
                for (int j = 0; j < keys.Length; j++)
                {
                    while (Key(prefix[i], last[i]) < keys[j]) i++;
                    old[i] += counts[j];
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
            while (a < prefix.Length || b < keys.Length)
            {
                if (b == keys.Length || (a < prefix.Length && oldKey < keys[b]))
                {
                    outPrefix[o] = prefix[a];
                    outLast[o] = last[a];
                    outCounts[o] = old[a];
                    oldToNew[a++] = (uint)o++;
                }
                else if (a == prefix.Length || keys[b] < oldKey)
                {
                    outPrefix[o] = (uint)(keys[b] >> 32);
                    outLast[o] = (uint)keys[b];
                    outCounts[o] = counts[b];
                    ids[b++] = (uint)o++;
                }
                else
                {
                    outPrefix[o] = prefix[a];
                    outLast[o] = last[a];
                    outCounts[o] = old[a] + counts[b];
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
        if (max > 1)
        {
            Ensure(ref _a, m);
            Ensure(ref _b, m);
            Ensure(ref _runKeys, m);
            Ensure(ref _runCounts, m);
            Ensure(ref _runIds, m);
            var cur = _a.Span[..m];
            var other = _b.Span[..m];
            FillOrderTwo(cur);
            // Order 2 is sorted whole, on a compact (prefix << bits | token) key; each order above arrives grouped.
            if (RadixSort(cur, other, 0, 2 * _tokenBits)) Swap(ref cur, ref other);
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
                if (n > 2) SortGroups(cur[..count], other[..count]);
                int runs = Runs(cur[..count], compact: n == 2);
                var ids = _runIds.Span[..runs];
                belowMap = level.Merge(_runKeys.Span[..runs], _runCounts.Span[..runs], ids);
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
        if (array.Length >= length) return;
        array.Dispose();
        array = new NativeArray<T>(length);
    }

    // One element per buffered position: its 2-gram as a compact key (previous token or the placeholder << bits | token)
    // and the tokens after it.
    private void FillOrderTwo(Span<Element> elements)
    {
        int bits = _tokenBits, slots = _slots;
        ulong mask = slots * bits == 64 ? ulong.MaxValue : (1UL << (slots * bits)) - 1;
        ulong allEnd = 0;
        for (int s = 0; s < slots; s++) allEnd |= _end << (s * bits);
        var buffer = _buffer.Span;
        for (int q = 0; q < _starts.Count; q++)
        {
            int start = _starts[q], end = q + 1 < _starts.Count ? _starts[q + 1] : _buffered;
            ulong ahead = allEnd;
            // Backwards, so each position's look-ahead is the next one's shifted by a token.
            for (int p = end - 1; p >= start; p--)
            {
                ulong previous = p > start ? (uint)buffer[p - 1] : (uint)VocabSize;
                elements[p] = new Element { Key = (previous << bits) | (uint)buffer[p], Ahead = ahead };
                ahead = ((ahead << bits) | (uint)buffer[p]) & mask;
            }
        }
    }

    // The elements of the sequence starts at the order above n: (all-placeholder n-gram, first token) and the tokens
    // after the first.
    private void AppendStarts(Span<Element> next, ref int o, uint padId)
    {
        var buffer = _buffer.Span;
        for (int q = 0; q < _starts.Count; q++)
        {
            int start = _starts[q], end = q + 1 < _starts.Count ? _starts[q + 1] : _buffered;
            ulong ahead = 0;
            for (int s = _slots - 1; s >= 0; s--)
                ahead = (ahead << _tokenBits) | (start + 1 + s < end ? (uint)buffer[start + 1 + s] : _end);
            next[o++] = new Element { Key = Key(padId, (uint)buffer[start]), Ahead = ahead };
        }
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

    // Sorts each group of equal prefix (the elements arrive grouped, groups ascending) by its last token.
    private void SortGroups(Span<Element> data, Span<Element> temp)
    {
        int i = 0;
        while (i < data.Length)
        {
            uint prefix = (uint)(data[i].Key >> 32);
            int j = i + 1;
            while (j < data.Length && (uint)(data[j].Key >> 32) == prefix) j++;
            int size = j - i;
            if (size > 1)
            {
                var group = data.Slice(i, size);
                if (size <= 24) InsertionSort(group);
                else if (size <= 512) group.Sort(default(ByKey));
                else if (RadixSort(group, temp.Slice(i, size), 0, _tokenBits)) temp.Slice(i, size).CopyTo(group);
            }
            i = j;
        }
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

    /// <summary>
    /// Stable LSD radix sort of <paramref name="a"/> by bits [shift, shift+bits) of the key, 8 bits a pass (256
    /// buckets: wider digits scatter to more streams than the write buffers hold, and measured slower per bit here),
    /// ping-ponging with <paramref name="b"/>; a pass whose digit is the same for all elements is skipped. Returns true
    /// when the result ended in <paramref name="b"/>.
    /// </summary>
    private static bool RadixSort(Span<Element> a, Span<Element> b, int shift, int bits)
    {
        const int Digit = 8, Buckets = 1 << Digit;
        int passes = (bits + Digit - 1) / Digit;
        Span<int> counts = stackalloc int[passes * Buckets];
        counts.Clear();
        foreach (ref readonly var e in a)
        {
            ulong k = e.Key >> shift;
            for (int p = 0; p < passes; p++) counts[p * Buckets + (int)((k >> (p * Digit)) & (Buckets - 1))]++;
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

    // Runs of equal keys in sorted elements: the batch's distinct n-grams and their counts (compact order-2 keys
    // are written out as prefix << 32 | token).
    private int Runs(ReadOnlySpan<Element> sorted, bool compact)
    {
        int runs = 0;
        var keys = _runKeys.Span;
        var counts = _runCounts.Span;
        int bits = _tokenBits;
        ulong tokenMask = (1UL << bits) - 1;
        int i = 0;
        while (i < sorted.Length)
        {
            ulong k = sorted[i].Key;
            int j = i + 1;
            while (j < sorted.Length && sorted[j].Key == k) j++;
            keys[runs] = compact ? ((k >> bits) << 32) | (k & tokenMask) : k;
            counts[runs++] = (uint)(j - i);
            i = j;
        }
        return runs;
    }
}

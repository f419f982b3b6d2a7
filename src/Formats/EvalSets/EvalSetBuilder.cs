namespace LearningCurves.Formats.EvalSets;

/// <summary>How token lines become fixed-length sequences.</summary>
public enum Packing
{
    /// <summary>The paper's packing: begin, line, sep, line, sep, ... cut at seq-len; the rest of the cut line is dropped.</summary>
    Lines,
    /// <summary>The token stream cut into consecutive chunks of seq-len.</summary>
    Stream,
}

/// <summary>Builds eval sets: packs token lines into sequences, picks sequences and target positions with a seed.</summary>
public static class EvalSetBuilder
{
    /// <summary>
    /// Packs lines the paper's way. Each sequence is [begin, line, sep, line, sep, ...] until it holds
    /// <paramref name="seqLen"/> tokens; the part of a line past the cut is dropped and the next sequence starts with the
    /// next line. Empty lines are skipped; an unfilled last sequence is dropped.
    /// </summary>
    public static List<int[]> PackLines(IEnumerable<int[]> lines, int seqLen, int beginId, int sepId)
    {
        ArgumentNullException.ThrowIfNull(lines);
        ArgumentOutOfRangeException.ThrowIfLessThan(seqLen, 2);
        var packer = new SequencePacker(seqLen);
        foreach (var line in lines)
        {
            if (line.Length == 0) continue;
            if (packer.Fill == 0) packer.Put([beginId]);
            packer.Put(line);
            // A line that filled the sequence closed it (Fill is 0 again): no separator after its cut.
            if (packer.Fill > 0) packer.Put([sepId]);
        }
        return packer.Full;
    }

    /// <summary>Cuts the concatenation of <paramref name="chunks"/> into consecutive sequences of <paramref name="seqLen"/>; the short tail is dropped.</summary>
    public static List<int[]> PackStream(IEnumerable<int[]> chunks, int seqLen)
    {
        ArgumentNullException.ThrowIfNull(chunks);
        ArgumentOutOfRangeException.ThrowIfLessThan(seqLen, 2);
        var packer = new SequencePacker(seqLen);
        foreach (var chunk in chunks)
        {
            for (var rest = chunk.AsSpan(); rest.Length > 0;) rest = rest[packer.Put(rest)..];
        }
        return packer.Full;
    }

    /// <summary>Fills sequences of seqLen tokens one after another: a sequence that is full is kept in
    /// <see cref="Full"/> and the next one begun; an unfilled last one is never kept.</summary>
    private sealed class SequencePacker(int seqLen)
    {
        private int[] _current = new int[seqLen];

        public List<int[]> Full { get; } = new();

        /// <summary>Tokens in the sequence being filled.</summary>
        public int Fill { get; private set; }

        /// <summary>Appends as many of <paramref name="tokens"/> as the current sequence has room for; returns how many.</summary>
        public int Put(ReadOnlySpan<int> tokens)
        {
            int take = Math.Min(tokens.Length, seqLen - Fill);
            tokens[..take].CopyTo(_current.AsSpan(Fill));
            Fill += take;
            if (Fill == seqLen)
            {
                Full.Add(_current);
                _current = new int[seqLen];
                Fill = 0;
            }
            return take;
        }
    }

    /// <summary>
    /// <paramref name="wanted"/> of <paramref name="available"/> indices drawn uniformly without replacement, in
    /// increasing order (all of them when <paramref name="wanted"/> is null or equal).
    /// </summary>
    public static int[] PickSequences(int available, int? wanted, ulong seed)
    {
        int k = wanted ?? available;
        if (k > available) throw new UserError($"eval-set: {k} sequences wanted but the input makes only {available}");
        if (k == available) return Enumerable.Range(0, available).ToArray();
        var rng = new SplitMix64(seed ^ 0x5EED5EC0E4CE5ul);
        var picked = SampleWithoutReplacement(available, k, rng);
        Array.Sort(picked);
        return picked;
    }

    /// <summary>
    /// Targets (M, 2) flattened: for each sequence in order, <paramref name="perSequence"/> positions drawn uniformly
    /// without replacement from 1..seqLen-1 and listed in increasing order; every position when null ("all").
    /// </summary>
    public static int[] DrawTargets(int sequences, int seqLen, int? perSequence, ulong seed)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(sequences);
        ArgumentOutOfRangeException.ThrowIfLessThan(seqLen, 2);
        int k = perSequence ?? seqLen - 1;
        if (k < 1 || k > seqLen - 1)
            throw new UserError($"eval-set: --per-sequence must be in 1..{seqLen - 1} for seq-len {seqLen} (got {k})");
        var targets = new int[checked(sequences * k * 2)];
        var rng = new SplitMix64(seed);
        for (int s = 0; s < sequences; s++)
        {
            int[] pos;
            if (k == seqLen - 1)
            {
                pos = Enumerable.Range(1, k).ToArray();
            }
            else
            {
                pos = SampleWithoutReplacement(seqLen - 1, k, rng);
                for (int i = 0; i < k; i++) pos[i] += 1;
                Array.Sort(pos);
            }
            for (int i = 0; i < k; i++)
            {
                targets[(s * k + i) * 2] = s;
                targets[(s * k + i) * 2 + 1] = pos[i];
            }
        }
        return targets;
    }

    /// <summary>k distinct values of 0..n-1 by a partial Fisher-Yates shuffle (order as drawn).</summary>
    private static int[] SampleWithoutReplacement(int n, int k, SplitMix64 rng)
    {
        // A dictionary of swapped slots keeps this O(k) in memory, so drawing 100,000 of 10 million costs little.
        var swapped = new Dictionary<int, int>();
        var result = new int[k];
        for (int i = 0; i < k; i++)
        {
            int j = i + (int)rng.NextBelow((ulong)(n - i));
            int vj = swapped.TryGetValue(j, out int a) ? a : j;
            int vi = swapped.TryGetValue(i, out int b) ? b : i;
            swapped[j] = vi;
            result[i] = vj;
        }
        return result;
    }
}

/// <summary>
/// SplitMix64: a tiny generator with a fixed definition, so an eval set made from a seed is the same on every
/// machine and .NET version (System.Random's sequence is not a documented contract).
/// </summary>
public sealed class SplitMix64(ulong seed)
{
    private ulong _state = seed;

    public ulong Next()
    {
        ulong z = _state += 0x9E3779B97F4A7C15ul;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ul;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBul;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform in 0..n-1 (n > 0), without modulo bias (rejection of the short last block).</summary>
    public ulong NextBelow(ulong n)
    {
        ArgumentOutOfRangeException.ThrowIfZero(n);
        ulong limit = ulong.MaxValue - ulong.MaxValue % n;
        ulong x;
        do x = Next(); while (x >= limit);
        return x % n;
    }
}

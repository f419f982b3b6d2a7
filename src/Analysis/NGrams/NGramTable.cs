using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace LearningCurves.Analysis.NGrams;

/// <summary>
/// One order of the n-gram trie: an open-addressing (linear probing) hash table from an exact 64-bit key
/// (id of the (n-1)-gram prefix in the order below, shifted 32 bits, OR the last token id) to a dense entry id and a
/// count. Slots hold key, id and count together (16 bytes) so an insert touches one cache line.
/// </summary>
internal sealed class NGramTable
{
    private const ulong Empty = ulong.MaxValue; // never a real key: token ids stay below 2^31
    private const double MaxLoad = 0.75;

    [StructLayout(LayoutKind.Sequential)]
    internal struct Slot
    {
        public ulong Key;
        public uint Id;
        public uint Count;
    }

    private Slot[] _slots;
    private int _shift;
    private int _mask;
    private int _limit;

    public NGramTable(int capacityLog2 = 12)
    {
        _slots = Allocate(capacityLog2);
    }

    /// <summary>Entries (distinct n-grams) in the table; ids are 0..Count-1.</summary>
    public int Count { get; private set; }

    public long Capacity => _slots.Length;

    public long Bytes => (long)_slots.Length * Unsafe.SizeOf<Slot>();

    internal Slot[] Slots => _slots;

    public static ulong Key(uint prefixId, int token) => ((ulong)prefixId << 32) | (uint)token;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int SlotOf(ulong key) => (int)((key * 0x9E3779B97F4A7C15UL) >> _shift);

    /// <summary>Hints the CPU to fetch the key's home slot; lets the four orders' lookups for one token overlap.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public unsafe void Prefetch(ulong key)
    {
        if (System.Runtime.Intrinsics.X86.Sse.IsSupported)
            System.Runtime.Intrinsics.X86.Sse.Prefetch0(Unsafe.AsPointer(ref _slots[SlotOf(key)]));
    }

    /// <summary>Adds <paramref name="add"/> to the key's count (creating the entry) and returns its id.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public uint Add(ulong key, uint add)
    {
        var slots = _slots;
        int s = SlotOf(key);
        while (true)
        {
            ref var slot = ref slots[s];
            if (slot.Key == key)
            {
                slot.Count += add;
                return slot.Id;
            }
            if (slot.Key == Empty) return Insert(ref slot, key, add);
            s = (s + 1) & _mask;
        }
    }

    /// <summary>The slot index holding the key, or -1.</summary>
    public int Find(ulong key)
    {
        var slots = _slots;
        int s = SlotOf(key);
        while (true)
        {
            ulong k = slots[s].Key;
            if (k == key) return s;
            if (k == Empty) return -1;
            s = (s + 1) & _mask;
        }
    }

    public ref Slot At(int slot) => ref _slots[slot];

    private uint Insert(ref Slot slot, ulong key, uint add)
    {
        if (Count == int.MaxValue) throw new InvalidOperationException("more than 2^31 distinct n-grams of one order");
        uint id = (uint)Count++;
        slot.Key = key;
        slot.Id = id;
        slot.Count = add;
        if (Count > _limit) Grow();
        return id;
    }

    private void Grow()
    {
        var old = _slots;
        int log2 = 64 - _shift + 1;
        if (log2 > 30) throw new InvalidOperationException("an n-gram order outgrew 2^30 slots (about 800 million distinct n-grams)");
        _slots = Allocate(log2);
        foreach (ref readonly var e in old.AsSpan())
            if (e.Key != Empty) Place(e);
    }

    private void Place(in Slot e)
    {
        int s = SlotOf(e.Key);
        while (_slots[s].Key != Empty) s = (s + 1) & _mask;
        _slots[s] = e;
    }

    /// <summary>
    /// Keeps the entries with count &gt;= <paramref name="minCount"/> (and <paramref name="keepId"/>) whose prefix
    /// survived (<paramref name="prefixRemap"/>[old prefix id] &gt;= 0, or every prefix when null); re-keys them with the
    /// prefix's new id and renumbers them densely. Returns the old-id -> new-id map (-1 = dropped).
    /// </summary>
    public int[] Prune(uint minCount, int[]? prefixRemap, uint keepId)
    {
        var remap = new int[Count];
        Array.Fill(remap, -1);
        var old = _slots;
        int survivors = 0;
        foreach (ref readonly var e in old.AsSpan())
            if (e.Key != Empty && Survives(e, minCount, prefixRemap, keepId)) survivors++;
        int log2 = 12;
        while ((1L << log2) * MaxLoad < survivors + 1) log2++;
        _slots = Allocate(log2);
        Count = 0;
        foreach (ref readonly var e in old.AsSpan())
        {
            if (e.Key == Empty || !Survives(e, minCount, prefixRemap, keepId)) continue;
            ulong key = prefixRemap is null ? e.Key : Key((uint)prefixRemap[(int)(e.Key >> 32)], (int)(uint)e.Key);
            remap[e.Id] = Count;
            Place(new Slot { Key = key, Id = (uint)Count, Count = e.Count });
            Count++;
        }
        return remap;
    }

    private static bool Survives(in Slot e, uint minCount, int[]? prefixRemap, uint keepId) =>
        (e.Count >= minCount || e.Id == keepId) && (prefixRemap is null || prefixRemap[(int)(e.Key >> 32)] >= 0);

    private Slot[] Allocate(int log2)
    {
        var slots = GC.AllocateUninitializedArray<Slot>(1 << log2);
        slots.AsSpan().Fill(new Slot { Key = Empty });
        _shift = 64 - log2;
        _mask = (1 << log2) - 1;
        _limit = (int)((1L << log2) * MaxLoad);
        return slots;
    }
}

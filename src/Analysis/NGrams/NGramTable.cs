using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace LearningCurves.Analysis.NGrams;

/// <summary>
/// One order of the n-gram trie: an open-addressing (linear probing) hash table from an exact 64-bit key
/// (id of the (n-1)-gram prefix in the order below, shifted 32 bits, OR the last token id) to a dense entry id and a
/// count. Slots hold key, id and count together (16 bytes) so an insert touches one cache line. The slot array lives
/// in native memory (<see cref="SlotMemory"/>) so that on Linux it can be backed by transparent huge pages: with
/// tables of hundreds of MB, 4 KB pages would add a TLB miss to nearly every lookup.
/// </summary>
internal sealed unsafe class NGramTable : IDisposable
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

    private SlotMemory _memory;
    private Slot* _slots;
    private int _length;
    private int _shift;
    private int _mask;
    private int _limit;

    public NGramTable(int capacityLog2 = 12)
    {
        _memory = Allocate(capacityLog2);
        _slots = _memory.Pointer;
    }

    public void Dispose() => _memory.Dispose();

    /// <summary>Entries (distinct n-grams) in the table; ids are 0..Count-1.</summary>
    public int Count { get; private set; }

    public long Capacity => _length;

    public long Bytes => (long)_length * sizeof(Slot);

    internal ReadOnlySpan<Slot> Slots => new(_slots, _length);

    public static ulong Key(uint prefixId, int token) => ((ulong)prefixId << 32) | (uint)token;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int SlotOf(ulong key) => (int)((key * 0x9E3779B97F4A7C15UL) >> _shift);

    /// <summary>Hints the CPU to fetch the key's home slot; lets the four orders' lookups for one token overlap.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public unsafe void Prefetch(ulong key)
    {
        if (System.Runtime.Intrinsics.X86.Sse.IsSupported)
            System.Runtime.Intrinsics.X86.Sse.Prefetch0(_slots + SlotOf(key));
    }

    /// <summary>Adds <paramref name="add"/> to the key's count (creating the entry) and returns its id.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public uint Add(ulong key, uint add)
    {
        var slots = _slots;
        int s = SlotOf(key);
        while (true)
        {
            Slot* slot = slots + s;
            if (slot->Key == key)
            {
                slot->Count += add;
                return slot->Id;
            }
            if (slot->Key == Empty) return Insert(slot, key, add);
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


    private uint Insert(Slot* slot, ulong key, uint add)
    {
        if (Count == int.MaxValue) throw new InvalidOperationException("more than 2^31 distinct n-grams of one order");
        uint id = (uint)Count++;
        slot->Key = key;
        slot->Id = id;
        slot->Count = add;
        if (Count > _limit) Grow();
        return id;
    }

    private void Grow()
    {
        var old = _memory;
        int oldLength = _length;
        int log2 = 64 - _shift + 1;
        if (log2 > 30) throw new InvalidOperationException("an n-gram order outgrew 2^30 slots (about 800 million distinct n-grams)");
        _memory = Allocate(log2);
        _slots = _memory.Pointer;
        foreach (ref readonly var e in new ReadOnlySpan<Slot>(old.Pointer, oldLength))
            if (e.Key != Empty) Place(e);
        old.Dispose();
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
        var oldMemory = _memory;
        var old = new ReadOnlySpan<Slot>(oldMemory.Pointer, _length);
        int survivors = 0;
        foreach (ref readonly var e in old)
            if (e.Key != Empty && Survives(e, minCount, prefixRemap, keepId)) survivors++;
        int log2 = 12;
        while ((1L << log2) * MaxLoad < survivors + 1) log2++;
        _memory = Allocate(log2);
        _slots = _memory.Pointer;
        Count = 0;
        foreach (ref readonly var e in old)
        {
            if (e.Key == Empty || !Survives(e, minCount, prefixRemap, keepId)) continue;
            ulong key = prefixRemap is null ? e.Key : Key((uint)prefixRemap[(int)(e.Key >> 32)], (int)(uint)e.Key);
            remap[e.Id] = Count;
            Place(new Slot { Key = key, Id = (uint)Count, Count = e.Count });
            Count++;
        }
        oldMemory.Dispose();
        return remap;
    }

    private static bool Survives(in Slot e, uint minCount, int[]? prefixRemap, uint keepId) =>
        (e.Count >= minCount || e.Id == keepId) && (prefixRemap is null || prefixRemap[(int)(e.Key >> 32)] >= 0);

    private SlotMemory Allocate(int log2)
    {
        var memory = new SlotMemory(1 << log2);
        new Span<Slot>(memory.Pointer, 1 << log2).Fill(new Slot { Key = Empty });
        _length = 1 << log2;
        _shift = 64 - log2;
        _mask = (1 << log2) - 1;
        _limit = (int)((1L << log2) * MaxLoad);
        return memory;
    }
}

/// <summary>
/// Native memory for a slot array, 2 MB aligned and (on Linux, from 2 MB up) advised for transparent huge pages.
/// Freed by Dispose or the finalizer; the GC is told of its size so large tables count toward collection pressure.
/// </summary>
internal sealed unsafe partial class SlotMemory : SafeHandle
{
    private const nuint HugePage = 2 << 20;
    private const int MadvHugePage = 14; // MADV_HUGEPAGE (Linux)
    private readonly long _bytes;

    public SlotMemory(int slots) : base(IntPtr.Zero, ownsHandle: true)
    {
        _bytes = (long)slots * sizeof(NGramTable.Slot);
        void* p = NativeMemory.AlignedAlloc((nuint)_bytes, HugePage);
        SetHandle((IntPtr)p);
        GC.AddMemoryPressure(_bytes);
        // Advice only: where it fails (no THP, another OS) the table works the same, just with more TLB misses.
        if (OperatingSystem.IsLinux() && (nuint)_bytes >= HugePage) _ = Madvise(p, (nuint)_bytes, MadvHugePage);
    }

    public NGramTable.Slot* Pointer => (NGramTable.Slot*)handle;

    public override bool IsInvalid => handle == IntPtr.Zero;

    protected override bool ReleaseHandle()
    {
        NativeMemory.AlignedFree((void*)handle);
        GC.RemoveMemoryPressure(_bytes);
        return true;
    }

    [LibraryImport("libc", EntryPoint = "madvise")]
    private static partial int Madvise(void* address, nuint length, int advice);
}

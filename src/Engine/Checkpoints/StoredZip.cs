using System.Buffers.Binary;
using System.Text;
using LearningCurves.Formats.IO;
using LearningCurves.Formats;

namespace LearningCurves.Engine.Checkpoints;

/// <summary>One entry of a <see cref="StoredZip"/>: its name and where its bytes lie in the file.</summary>
public sealed record StoredZipEntry(string Name, long DataOffset, long Length);

/// <summary>
/// A memory-mapped zip archive whose entries are all stored (method 0, no compression), as torch.save writes them
/// (PyTorchStreamWriter, built on miniz: every record stored, its data padded to a 64-byte boundary by an extra field in
/// the local header). Each entry is a span of the mapping at its offset: nothing is copied or inflated. Reads the end
/// of central directory record (ZIP64 when the 32-bit fields are saturated), every central directory entry, and each
/// local header (for where the data starts). A compressed, encrypted or overlapping entry, a name given twice, or an
/// offset outside the file is a <see cref="UserError"/> naming the file.
/// </summary>
public sealed unsafe class StoredZip : IDisposable
{
    private const uint LocalSig = 0x04034b50, CentralSig = 0x02014b50, EndSig = 0x06054b50;
    private const uint Zip64EndSig = 0x06064b50, Zip64LocatorSig = 0x07064b50;

    private readonly MappedFile _file;
    private readonly Dictionary<string, StoredZipEntry> _entries;
    private bool _disposed;

    private StoredZip(string path, MappedFile file, List<StoredZipEntry> entries)
    {
        Path = path;
        _file = file;
        Length = file.Length;
        Entries = entries;
        _entries = entries.ToDictionary(e => e.Name, StringComparer.Ordinal);
    }

    public string Path { get; }

    public long Length { get; }

    /// <summary>Entries in central directory order.</summary>
    public IReadOnlyList<StoredZipEntry> Entries { get; }

    public bool TryGet(string name, out StoredZipEntry entry) => _entries.TryGetValue(name, out entry!);

    /// <summary>True when the file starts with a zip local header signature.</summary>
    public static bool LooksLikeZip(ReadOnlySpan<byte> head) => head.Length >= 4 && BinaryPrimitives.ReadUInt32LittleEndian(head) == LocalSig;

    public static StoredZip Open(string path)
    {
        var file = MappedFile.Open(path, 22, "not a zip archive", "an end of central directory record");
        try
        {
            return new StoredZip(path, file, ReadDirectory(path, file.Base, file.Length));
        }
        catch (Exception e) when (e is OverflowException)
        {
            file.Dispose();
            throw UserError.InFile(path, "not a readable zip archive: a size or offset overflows 64 bits");
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>The bytes of <paramref name="e"/>, straight from the mapping (valid until this archive is disposed).</summary>
    public ReadOnlySpan<byte> Bytes(StoredZipEntry e) => Bytes(e, 0, e.Length);

    /// <summary><paramref name="count"/> bytes of <paramref name="e"/> from <paramref name="offset"/>.</summary>
    public ReadOnlySpan<byte> Bytes(StoredZipEntry e, long offset, long count)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(e);
        if (offset < 0 || count < 0 || offset > e.Length - count) throw new ArgumentOutOfRangeException(nameof(offset));
        if (count > int.MaxValue) throw UserError.InFile(Path, $"entry '{e.Name}': a read of {count} bytes is larger than 2 GB; not supported");
        return new ReadOnlySpan<byte>(_file.Base + e.DataOffset + offset, (int)count);
    }

    private static List<StoredZipEntry> ReadDirectory(string path, byte* p, long length)
    {
        UserError Bad(string what) => UserError.InFile(path, $"not a readable zip archive: {what}");
        ReadOnlySpan<byte> At(long offset, int count)
        {
            // Compared as offset > length - count: an offset near 2^63 (from a ZIP64 field) would overflow offset + count.
            if (offset < 0 || count < 0 || count > length || offset > length - count) throw Bad($"a record at byte {offset} runs past the end of the file");
            return new ReadOnlySpan<byte>(p + offset, count);
        }

        // The end of central directory record is in the last 22 + 65535 bytes (its comment is at most 65535 bytes).
        long eocd = -1;
        for (long o = length - 22; o >= Math.Max(0, length - 22 - 65535); o--)
        {
            if (BinaryPrimitives.ReadUInt32LittleEndian(At(o, 4)) == EndSig)
            {
                eocd = o;
                break;
            }
        }
        if (eocd < 0) throw Bad("no end of central directory record (truncated?)");
        var end = At(eocd, 22);
        long count = BinaryPrimitives.ReadUInt16LittleEndian(end[10..]);
        long cdSize = BinaryPrimitives.ReadUInt32LittleEndian(end[12..]);
        long cdOffset = BinaryPrimitives.ReadUInt32LittleEndian(end[16..]);
        if (BinaryPrimitives.ReadUInt16LittleEndian(end[4..]) != 0 || BinaryPrimitives.ReadUInt16LittleEndian(end[6..]) != 0)
            throw Bad("multi-disk archives are not supported");
        if (count == 0xFFFF || cdSize == 0xFFFFFFFF || cdOffset == 0xFFFFFFFF)
        {
            // ZIP64: a locator just before the end record points at the ZIP64 end record with 64-bit fields.
            if (eocd < 20) throw Bad("ZIP64 fields without a ZIP64 locator");
            var loc = At(eocd - 20, 20);
            if (BinaryPrimitives.ReadUInt32LittleEndian(loc) != Zip64LocatorSig) throw Bad("ZIP64 fields without a ZIP64 locator");
            long z64 = checked((long)BinaryPrimitives.ReadUInt64LittleEndian(loc[8..]));
            var rec = At(z64, 56);
            if (BinaryPrimitives.ReadUInt32LittleEndian(rec) != Zip64EndSig) throw Bad("the ZIP64 locator does not point at a ZIP64 end record");
            count = checked((long)BinaryPrimitives.ReadUInt64LittleEndian(rec[32..]));
            cdSize = checked((long)BinaryPrimitives.ReadUInt64LittleEndian(rec[40..]));
            cdOffset = checked((long)BinaryPrimitives.ReadUInt64LittleEndian(rec[48..]));
        }
        if (cdOffset < 0 || cdSize < 0 || cdOffset > length || cdSize > length - cdOffset) throw Bad($"the central directory [{cdOffset}, +{cdSize}) lies outside the file");
        // Each central entry takes at least 46 bytes, which bounds the count before anything is allocated.
        if (count > cdSize / 46) throw Bad($"{count} entries cannot fit in a central directory of {cdSize} bytes");

        var entries = new List<StoredZipEntry>((int)count);
        var names = new HashSet<string>(StringComparer.Ordinal);
        long at = cdOffset;
        var utf8 = new UTF8Encoding(false, true);
        for (long i = 0; i < count; i++)
        {
            var h = At(at, 46);
            if (BinaryPrimitives.ReadUInt32LittleEndian(h) != CentralSig) throw Bad($"central directory entry {i} has a bad signature");
            int flags = BinaryPrimitives.ReadUInt16LittleEndian(h[8..]);
            int method = BinaryPrimitives.ReadUInt16LittleEndian(h[10..]);
            long csize = BinaryPrimitives.ReadUInt32LittleEndian(h[20..]);
            long usize = BinaryPrimitives.ReadUInt32LittleEndian(h[24..]);
            int nameLen = BinaryPrimitives.ReadUInt16LittleEndian(h[28..]);
            int extraLen = BinaryPrimitives.ReadUInt16LittleEndian(h[30..]);
            int commentLen = BinaryPrimitives.ReadUInt16LittleEndian(h[32..]);
            long local = BinaryPrimitives.ReadUInt32LittleEndian(h[42..]);
            string name;
            try
            {
                name = utf8.GetString(At(at + 46, nameLen));
            }
            catch (DecoderFallbackException)
            {
                throw Bad($"central directory entry {i} has a name that is not UTF-8");
            }
            // ZIP64 extended information: the saturated fields, in this order, as 64-bit values.
            var extra = At(at + 46 + nameLen, extraLen);
            while (extra.Length >= 4)
            {
                int id = BinaryPrimitives.ReadUInt16LittleEndian(extra);
                int size = BinaryPrimitives.ReadUInt16LittleEndian(extra[2..]);
                if (4 + size > extra.Length) throw Bad($"entry '{name}' has a truncated extra field");
                if (id == 1)
                {
                    var z = extra.Slice(4, size);
                    long Next(ref ReadOnlySpan<byte> s)
                    {
                        if (s.Length < 8) throw Bad($"entry '{name}' has a short ZIP64 extra field");
                        long v = checked((long)BinaryPrimitives.ReadUInt64LittleEndian(s));
                        s = s[8..];
                        return v;
                    }
                    if (usize == 0xFFFFFFFF) usize = Next(ref z);
                    if (csize == 0xFFFFFFFF) csize = Next(ref z);
                    if (local == 0xFFFFFFFF) local = Next(ref z);
                }
                extra = extra[(4 + size)..];
            }
            at += 46 + nameLen + extraLen + commentLen;

            if ((flags & 1) != 0) throw Bad($"entry '{name}' is encrypted");
            if (method != 0) throw Bad($"entry '{name}' is compressed (method {method}); torch.save stores every entry uncompressed");
            if (csize != usize) throw Bad($"entry '{name}' is stored but its sizes differ ({csize} and {usize})");
            if (!names.Add(name)) throw Bad($"entry '{name}' appears twice");

            var lh = At(local, 30);
            if (BinaryPrimitives.ReadUInt32LittleEndian(lh) != LocalSig) throw Bad($"entry '{name}': no local header at byte {local}");
            long data = local + 30 + BinaryPrimitives.ReadUInt16LittleEndian(lh[26..]) + BinaryPrimitives.ReadUInt16LittleEndian(lh[28..]);
            if (usize < 0 || data > cdOffset || usize > cdOffset - data) throw Bad($"entry '{name}' data [{data}, +{usize}) runs into the central directory");
            entries.Add(new StoredZipEntry(name, data, usize));
        }
        // Data ranges must not overlap (a crafted archive could otherwise alias one entry's bytes as another's).
        long prevEnd = 0;
        string prevName = "";
        foreach (var e in entries.OrderBy(e => e.DataOffset))
        {
            if (e.DataOffset < prevEnd && e.Length > 0) throw Bad($"entries '{prevName}' and '{e.Name}' overlap");
            if (e.Length > 0)
            {
                prevEnd = e.DataOffset + e.Length;
                prevName = e.Name;
            }
        }
        return entries;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _file.Dispose();
    }
}

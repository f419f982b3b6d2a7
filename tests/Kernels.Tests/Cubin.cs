using System.Buffers.Binary;
using System.Text;

namespace LearningCurves.Kernels.Tests;

/// <summary>
/// The little a test needs from a CUDA cubin (an ELF64 file, machine EM_CUDA = 190), read from the ELF itself: the
/// architecture (e_flags' low byte, 90 = sm_90); per kernel (a FUNC symbol with a .text.NAME section) the registers and
/// the stack frame from the .nv.info section's attributes (EIATTR_REGCOUNT 0x2f, EIATTR_FRAME_SIZE 0x11, each a
/// symbol index and a 32-bit value), and the static shared memory (the size of .nv.shared.NAME, the driver's reserved
/// 1 KiB included on sm_80+).
/// </summary>
internal sealed record Cubin(int Arch, IReadOnlyDictionary<string, Cubin.Function> Functions)
{
    internal sealed record Function(string Name, int Registers, int FrameBytes, long StaticShared);

    public static Cubin Parse(byte[] image)
    {
        ArgumentNullException.ThrowIfNull(image);
        var s = image.AsSpan();
        if (s.Length < 64 || s[0] != 0x7f || s[1] != (byte)'E' || s[2] != (byte)'L' || s[3] != (byte)'F')
            throw new FormatException("not an ELF file");
        if (s[4] != 2) throw new FormatException("not a 64-bit ELF file");
        ushort machine = BinaryPrimitives.ReadUInt16LittleEndian(s[18..]);
        if (machine != 190) throw new FormatException($"ELF machine {machine}, not CUDA (190)");
        uint flags = BinaryPrimitives.ReadUInt32LittleEndian(s[48..]);
        long shoff = (long)BinaryPrimitives.ReadUInt64LittleEndian(s[40..]);
        int shentsize = BinaryPrimitives.ReadUInt16LittleEndian(s[58..]);
        int shnum = BinaryPrimitives.ReadUInt16LittleEndian(s[60..]);
        int shstrndx = BinaryPrimitives.ReadUInt16LittleEndian(s[62..]);
        if (shoff <= 0 || shentsize < 64 || shoff + (long)shnum * shentsize > s.Length) throw new FormatException("section headers outside the file");
        ReadOnlySpan<byte> Header(int i) => image.AsSpan((int)(shoff + (long)i * shentsize), 64);
        var strHeader = Header(shstrndx);
        long strOff = (long)BinaryPrimitives.ReadUInt64LittleEndian(strHeader[24..]);
        string Name(uint off)
        {
            int start = (int)(strOff + off);
            int end = Array.IndexOf(image, (byte)0, start);
            return Encoding.ASCII.GetString(image, start, end - start);
        }

        var sections = new List<(string Name, uint Type, long Offset, long Size, uint Link)>();
        for (int i = 0; i < shnum; i++)
        {
            var h = Header(i);
            sections.Add((Name(BinaryPrimitives.ReadUInt32LittleEndian(h)), BinaryPrimitives.ReadUInt32LittleEndian(h[4..]),
                (long)BinaryPrimitives.ReadUInt64LittleEndian(h[24..]), (long)BinaryPrimitives.ReadUInt64LittleEndian(h[32..]),
                BinaryPrimitives.ReadUInt32LittleEndian(h[40..])));
        }
        // Symbol index -> name, for the FUNC symbols (st_info's low nibble 2).
        var symbols = new Dictionary<uint, string>();
        foreach (var sec in sections.Where(x => x.Type == 2))
        {
            long names = sections[(int)sec.Link].Offset;
            for (uint k = 0; k * 24 < sec.Size; k++)
            {
                var e = image.AsSpan((int)(sec.Offset + k * 24), 24);
                if ((e[4] & 0xf) != 2) continue;
                int start = (int)(names + BinaryPrimitives.ReadUInt32LittleEndian(e));
                symbols[k] = Encoding.ASCII.GetString(image, start, Array.IndexOf(image, (byte)0, start) - start);
            }
        }
        var regs = new Dictionary<string, int>(StringComparer.Ordinal);
        var frames = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var sec in sections.Where(x => x.Name == ".nv.info"))
        {
            for (long o = sec.Offset; o + 4 <= sec.Offset + sec.Size;)
            {
                byte format = image[o], attr = image[o + 1];
                int size = BinaryPrimitives.ReadUInt16LittleEndian(image.AsSpan((int)o + 2));
                if (format == 3) { o += 4; continue; } // EIFMT_HVAL: the value is the 16-bit field itself
                if (format == 4 && size >= 8)          // EIFMT_SVAL: symbol index, value
                {
                    uint sym = BinaryPrimitives.ReadUInt32LittleEndian(image.AsSpan((int)o + 4));
                    int val = (int)BinaryPrimitives.ReadUInt32LittleEndian(image.AsSpan((int)o + 8));
                    if (symbols.TryGetValue(sym, out var fn))
                    {
                        if (attr == 0x2f) regs[fn] = val;
                        else if (attr == 0x11) frames[fn] = val;
                    }
                }
                o += 4 + size;
            }
        }
        var shared = sections.Where(x => x.Name.StartsWith(".nv.shared.", StringComparison.Ordinal)).ToDictionary(x => x.Name[11..], x => x.Size, StringComparer.Ordinal);
        var functions = sections.Where(x => x.Name.StartsWith(".text.", StringComparison.Ordinal) && symbols.ContainsValue(x.Name[6..]))
            .Select(x => x.Name[6..])
            .ToDictionary(n => n, n => new Function(n, regs.GetValueOrDefault(n), frames.GetValueOrDefault(n), shared.GetValueOrDefault(n)), StringComparer.Ordinal);
        return new Cubin((int)(flags & 0xff), functions);
    }
}

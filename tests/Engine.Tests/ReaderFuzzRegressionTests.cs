using System.Buffers.Binary;
using System.Text;
using LearningCurves.Engine.Checkpoints;
using LearningCurves.Tests.Common;
using Xunit;
using LearningCurves.Formats;

namespace LearningCurves.Engine.Tests;

/// <summary>
/// Inputs that broke the checkpoint readers with something other than a UserError, found while fuzzing them
/// (tests/fuzz, build.ps1 fuzz; docs/checkpoints-and-scoring.md, "Fuzzing"). Each is kept here as it was, built
/// byte by byte, and must now be refused with one line naming the file.
/// </summary>
public class ReaderFuzzRegressionTests
{
    private const uint LocalSig = 0x04034b50, CentralSig = 0x02014b50, EndSig = 0x06054b50;
    private const uint Zip64EndSig = 0x06064b50, Zip64LocatorSig = 0x07064b50;

    // An offset or size near 2^63: offset + length wraps to a negative number, which passed the old bounds checks.
    private const long NearMax = 0x7FFFFFFFFFFFFFF0;

    private static void Refused(Action open, string path, string fragment)
    {
        var e = Assert.Throws<UserError>(open);
        Assert.StartsWith(path + ": ", e.Message);
        Assert.Contains(fragment, e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
    }

    private static string Write(byte[] bytes, string name)
    {
        var path = Path.Combine(TestPaths.TempDir(), name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    /// <summary>A safetensors file whose data_offsets hold a string, null, an array or a bool instead of a number:
    /// JsonElement.TryGetInt64 threw InvalidOperationException.</summary>
    [Theory]
    [InlineData("""["a",8]""")]
    [InlineData("""[0,null]""")]
    [InlineData("""[[0],8]""")]
    [InlineData("""[true,8]""")]
    public void Safetensors_data_offsets_that_are_not_numbers_are_refused(string offsets)
    {
        var json = Encoding.UTF8.GetBytes("""{"w":{"dtype":"F32","shape":[2],"data_offsets":""" + offsets + "}}");
        var bytes = new byte[8 + json.Length + 8];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)json.Length);
        json.CopyTo(bytes, 8);
        var path = Write(bytes, "model.safetensors");
        Refused(() => SafeTensorsFile.Open(path).Dispose(), path, "are not non-negative integers");
    }

    private static byte[] EndRecord(int count, uint cdSize, uint cdOffset)
    {
        var end = new byte[22];
        BinaryPrimitives.WriteUInt32LittleEndian(end, EndSig);
        BinaryPrimitives.WriteUInt16LittleEndian(end.AsSpan(8), (ushort)count);
        BinaryPrimitives.WriteUInt16LittleEndian(end.AsSpan(10), (ushort)count);
        BinaryPrimitives.WriteUInt32LittleEndian(end.AsSpan(12), cdSize);
        BinaryPrimitives.WriteUInt32LittleEndian(end.AsSpan(16), cdOffset);
        return end;
    }

    private static byte[] LocalHeader()
    {
        var h = new byte[30];
        BinaryPrimitives.WriteUInt32LittleEndian(h, LocalSig);
        return h;
    }

    private static byte[] Zip64Locator(long recordOffset)
    {
        var loc = new byte[20];
        BinaryPrimitives.WriteUInt32LittleEndian(loc, Zip64LocatorSig);
        BinaryPrimitives.WriteInt64LittleEndian(loc.AsSpan(8), recordOffset);
        BinaryPrimitives.WriteUInt32LittleEndian(loc.AsSpan(16), 1);
        return loc;
    }

    /// <summary>A ZIP64 locator pointing at byte 2^63 - 16: the record read went past the mapping (a wild read).</summary>
    [Fact]
    public void Zip64_locator_far_past_the_end_is_refused()
    {
        byte[] bytes = [.. LocalHeader(), .. Zip64Locator(NearMax), .. EndRecord(0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF)];
        var path = Write(bytes, "pytorch_model.bin");
        Refused(() => StoredZip.Open(path).Dispose(), path, "runs past the end of the file");
        Refused(() => TorchFile.Open(path).Dispose(), path, "runs past the end of the file");
    }

    /// <summary>A ZIP64 end record whose central directory offset is 2^63 - 16: its entries were read from far outside
    /// the file.</summary>
    [Fact]
    public void Zip64_central_directory_offset_far_past_the_end_is_refused()
    {
        var rec = new byte[56];
        BinaryPrimitives.WriteUInt32LittleEndian(rec, Zip64EndSig);
        BinaryPrimitives.WriteUInt64LittleEndian(rec.AsSpan(4), 44);
        BinaryPrimitives.WriteUInt64LittleEndian(rec.AsSpan(24), 1);
        BinaryPrimitives.WriteUInt64LittleEndian(rec.AsSpan(32), 1);
        BinaryPrimitives.WriteUInt64LittleEndian(rec.AsSpan(40), 46);
        BinaryPrimitives.WriteInt64LittleEndian(rec.AsSpan(48), NearMax);
        byte[] bytes = [.. LocalHeader(), .. rec, .. Zip64Locator(30), .. EndRecord(0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF)];
        var path = Write(bytes, "pytorch_model.bin");
        Refused(() => StoredZip.Open(path).Dispose(), path, "lies outside the file");
    }

    /// <summary>An entry whose ZIP64 extra field gives it 2^63 - 16 bytes: data + size wrapped below the central
    /// directory's offset, so the entry was accepted and reading it went far outside the mapping.</summary>
    [Fact]
    public void Zip64_entry_size_far_past_the_end_is_refused()
    {
        var name = "x/y"u8.ToArray();
        var cd = new byte[46 + name.Length + 20];
        BinaryPrimitives.WriteUInt32LittleEndian(cd, CentralSig);
        BinaryPrimitives.WriteUInt32LittleEndian(cd.AsSpan(20), 0xFFFFFFFF); // compressed size: in the extra field
        BinaryPrimitives.WriteUInt32LittleEndian(cd.AsSpan(24), 0xFFFFFFFF); // uncompressed size: in the extra field
        BinaryPrimitives.WriteUInt16LittleEndian(cd.AsSpan(28), (ushort)name.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(cd.AsSpan(30), 20);
        name.CopyTo(cd, 46);
        var extra = cd.AsSpan(46 + name.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(extra, 1);
        BinaryPrimitives.WriteUInt16LittleEndian(extra[2..], 16);
        BinaryPrimitives.WriteInt64LittleEndian(extra[4..], NearMax);
        BinaryPrimitives.WriteInt64LittleEndian(extra[12..], NearMax);
        byte[] bytes = [.. LocalHeader(), .. cd, .. EndRecord(1, (uint)cd.Length, 30)];
        var path = Write(bytes, "pytorch_model.bin");
        Refused(() => StoredZip.Open(path).Dispose(), path, "runs into the central directory");
    }
}

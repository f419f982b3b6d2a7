using System.Buffers.Binary;
using System.Text;
using LearningCurves.Engine;
using LearningCurves.Engine.Checkpoints;
using LearningCurves.Tests.Common;
using Xunit;
using LearningCurves.Formats;

namespace LearningCurves.Engine.Tests;

public class SafeTensorsTests
{
    /// <summary>A crafted file: an explicit header length (or the JSON's own), the header bytes, then the data bytes.</summary>
    private static string Craft(string dir, byte[] header, byte[] data, ulong? declaredLength = null, string name = "x.safetensors")
    {
        var path = Path.Combine(dir, name);
        var bytes = new byte[8 + header.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, declaredLength ?? (ulong)header.Length);
        header.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + header.Length);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static string Craft(string dir, string json, int dataBytes, ulong? declaredLength = null) =>
        Craft(dir, Encoding.UTF8.GetBytes(json), new byte[dataBytes], declaredLength);

    private static void Rejects(string path, string fragment)
    {
        var e = Assert.Throws<UserError>(() => SafeTensorsFile.Open(path).Dispose());
        Assert.StartsWith(path + ": ", e.Message);
        Assert.Contains(fragment, e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
    }

    private const string Good = """{"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"b":{"dtype":"F16","shape":[4],"data_offsets":[24,32]}}""";

    [Fact]
    public void Accepts_a_well_formed_file_and_reads_it()
    {
        var dir = TestPaths.TempDir();
        var data = new byte[32];
        for (int i = 0; i < 6; i++) BinaryPrimitives.WriteSingleLittleEndian(data.AsSpan(4 * i), i + 0.5f);
        for (int i = 0; i < 4; i++) BinaryPrimitives.WriteHalfLittleEndian(data.AsSpan(24 + 2 * i), (Half)(i - 1.25f));
        var path = Craft(dir, Encoding.UTF8.GetBytes(Good), data);
        using var f = SafeTensorsFile.Open(path);
        Assert.Equal(["a", "b"], f.Tensors.Select(t => t.Name));
        Assert.Equal([2L, 3L], f.Info("a").Shape);
        Assert.Equal([0.5f, 1.5f, 2.5f, 3.5f, 4.5f, 5.5f], f.ReadFloats("a"));
        Assert.Equal([-1.25f, -0.25f, 0.75f, 1.75f], f.ReadFloats("b"));
        Assert.Empty(f.Metadata);
    }

    [Fact]
    public void Rejects_a_file_shorter_than_the_length_prefix()
    {
        var dir = TestPaths.TempDir();
        var path = Path.Combine(dir, "short.safetensors");
        File.WriteAllBytes(path, [1, 2, 3]);
        Rejects(path, "shorter than the 8-byte header length");
    }

    [Fact]
    public void Rejects_a_header_over_100MB() =>
        Rejects(Craft(TestPaths.TempDir(), "{}", 0, declaredLength: 100_000_001), "larger than the 100 MB limit");

    [Fact]
    public void Rejects_a_header_length_past_the_end_of_the_file() =>
        Rejects(Craft(TestPaths.TempDir(), Good, 32, declaredLength: 5000), "header length 5000 exceeds the file size");

    [Fact]
    public void A_file_cut_inside_a_multibyte_header_character_is_reported_as_too_short_not_as_bad_utf8()
    {
        // The header is valid UTF-8 as written; the file ends in the middle of its two-byte 'é'.
        var json = Encoding.UTF8.GetBytes("{\"a\u00e9\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}");
        string path = Craft(TestPaths.TempDir(), json, []);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(8 + Array.IndexOf(json, (byte)0xC3) + 1)]);
        Rejects(path, $"header length {json.Length} exceeds the file size");
    }

    [Fact]
    public void Rejects_a_header_that_is_not_utf8()
    {
        var json = Encoding.UTF8.GetBytes("{\"a\u00e9\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}");
        int i = Array.IndexOf(json, (byte)0xC3);
        json[i] = 0xFF;
        Rejects(Craft(TestPaths.TempDir(), json, []), "not valid UTF-8");
    }

    [Fact]
    public void Rejects_a_header_not_starting_with_a_brace() =>
        Rejects(Craft(TestPaths.TempDir(), " " + Good, 32), "does not start with '{'");

    [Fact]
    public void Rejects_invalid_json() =>
        Rejects(Craft(TestPaths.TempDir(), """{"a":{"dtype":"F32",""", 0), "not valid JSON");

    [Theory]
    [InlineData("F33")]
    [InlineData("f32")]
    [InlineData("11")]
    [InlineData("BOOL, U8")]
    public void Rejects_unknown_dtypes(string dtype) =>
        Rejects(Craft(TestPaths.TempDir(), $$$"""{"a":{"dtype":"{{{dtype}}}","shape":[1],"data_offsets":[0,4]}}""", 4), "unknown dtype");

    [Fact]
    public void Rejects_offsets_not_starting_at_zero() =>
        Rejects(Craft(TestPaths.TempDir(), """{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", 8), "leave a hole after byte 0");

    [Fact]
    public void Rejects_a_hole_between_tensors() =>
        Rejects(Craft(TestPaths.TempDir(),
            """{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}""", 12),
            "tensor 'b' data_offsets [8, 12] leave a hole after byte 4");

    [Fact]
    public void Rejects_overlapping_tensors() =>
        Rejects(Craft(TestPaths.TempDir(),
            """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", 8),
            "overlap the previous tensor");

    [Fact]
    public void Rejects_a_byte_size_that_does_not_match_the_shape() =>
        Rejects(Craft(TestPaths.TempDir(), """{"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}}""", 20),
            "needs 24 bytes but data_offsets [0, 20] span 20");

    [Fact]
    public void Rejects_a_shape_whose_size_overflows() =>
        Rejects(Craft(TestPaths.TempDir(), """{"a":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}}""", 8),
            "overflows");

    [Fact]
    public void Rejects_trailing_bytes() =>
        Rejects(Craft(TestPaths.TempDir(), Good, 33), "1 trailing bytes after the last tensor");

    [Fact]
    public void Rejects_a_truncated_data_section() =>
        Rejects(Craft(TestPaths.TempDir(), Good, 31), "truncated");

    [Fact]
    public void Rejects_duplicate_names() =>
        Rejects(Craft(TestPaths.TempDir(),
            """{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", 8),
            "duplicate tensor name 'a'");

    [Fact]
    public void Rejects_metadata_that_is_not_a_string_map()
    {
        Rejects(Craft(TestPaths.TempDir(), """{"__metadata__":{"format":1},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", 4),
            "__metadata__ must be a map of strings to strings");
        Rejects(Craft(TestPaths.TempDir(), """{"__metadata__":["pt"]}""", 0), "__metadata__ must be a map of strings to strings");
    }

    [Fact]
    public void Rejects_offsets_that_end_before_they_begin() =>
        Rejects(Craft(TestPaths.TempDir(), """{"a":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}}""", 4), "end before they begin");

    [Fact]
    public void Rejects_negative_or_fractional_dimensions()
    {
        Rejects(Craft(TestPaths.TempDir(), """{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}""", 4), "not a non-negative integer");
        Rejects(Craft(TestPaths.TempDir(), """{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}""", 4), "not a non-negative integer");
    }

    [Fact]
    public void Rejects_entries_missing_a_field() =>
        Rejects(Craft(TestPaths.TempDir(), """{"a":{"dtype":"F32","shape":[1]}}""", 4), "missing 'data_offsets'");

    [Fact]
    public void Unsupported_weight_dtypes_are_named_when_read_as_floats()
    {
        var path = Craft(TestPaths.TempDir(), """{"a":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}""", 8);
        using var f = SafeTensorsFile.Open(path);
        var e = Assert.Throws<UserError>(() => f.ReadFloats("a"));
        Assert.Contains("dtype I64", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(StoreDType.F32)]
    [InlineData(StoreDType.F16)]
    [InlineData(StoreDType.BF16)]
    public void Writer_round_trips_every_store_type(StoreDType dtype)
    {
        var dir = TestPaths.TempDir();
        int seed = Random.Shared.Next();
        var rng = new Random(seed);
        // Sizes that hit the vector body and every scalar tail of the widening loops.
        int[] sizes = [0, 1, 7, 15, 16, 17, 33, 257];
        var arrays = sizes.Select(n => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 8 - 4)).ToArray()).ToArray();
        var w = new SafeTensorsWriter();
        w.Metadata["format"] = "pt";
        for (int i = 0; i < sizes.Length; i++) w.Add($"t{i}", arrays[i], dtype, sizes[i]);
        var path = Path.Combine(dir, "w.safetensors");
        w.Save(path);
        Assert.Equal(["w.safetensors"], Directory.GetFiles(dir).Select(Path.GetFileName));

        using var f = SafeTensorsFile.Open(path);
        Assert.Equal("pt", f.Metadata["format"]);
        Assert.Equal(0, f.DataStart % 8);
        for (int i = 0; i < sizes.Length; i++)
        {
            var got = f.ReadFloats($"t{i}");
            Assert.Equal(dtype.ToString(), f.Info($"t{i}").DType.ToString());
            for (int j = 0; j < got.Length; j++)
            {
                float want = dtype switch
                {
                    StoreDType.F32 => arrays[i][j],
                    StoreDType.F16 => (float)(Half)arrays[i][j],
                    _ => BitConverter.UInt32BitsToSingle((uint)SafeTensorsWriter.ToBf16(arrays[i][j]) << 16),
                };
                Assert.True(want == got[j], $"seed {seed}: t{i}[{j}] = {got[j]}, want {want} (from {arrays[i][j]})");
                float tol = dtype switch { StoreDType.F32 => 0, StoreDType.F16 => 2e-3f, _ => 1.6e-2f };
                Assert.True(Math.Abs(got[j] - arrays[i][j]) <= tol * Math.Abs(arrays[i][j]) + 1e-7f, $"seed {seed}: t{i}[{j}] rounding too far");
            }
        }
    }

    [Fact]
    public void Bf16_rounds_to_nearest_even()
    {
        // 1 + 2^-8 is exactly halfway between two bf16 values: ties go to the even mantissa (1.0).
        Assert.Equal(0x3F80, SafeTensorsWriter.ToBf16(1f + 1f / 256));
        Assert.Equal(0x3F82, SafeTensorsWriter.ToBf16(1f + 3f / 256));
        Assert.Equal(0x3F81, SafeTensorsWriter.ToBf16(1f + 1f / 256 + 1f / 65536));
        Assert.True(float.IsNaN(BitConverter.UInt32BitsToSingle((uint)SafeTensorsWriter.ToBf16(float.NaN) << 16)));
    }

    [Fact]
    public void Aligned_f32_tensors_are_read_without_copying()
    {
        var dir = TestPaths.TempDir();
        var data = new float[] { 1, 2, 3, 4 };
        var path = Path.Combine(dir, "a.safetensors");
        new SafeTensorsWriter().Add("a", data, StoreDType.F32, 2, 2).Add("h", new float[] { 1 }, StoreDType.F16, 1).Save(path);
        using var f = SafeTensorsFile.Open(path);
        Assert.True(f.TryGetFloatSpan("a", out var span));
        Assert.Equal(data, span.ToArray());
        Assert.False(f.TryGetFloatSpan("h", out _));
    }

    [Fact]
    public void Sharded_checkpoints_load_through_the_index()
    {
        var dir = TestPaths.TempDir();
        new SafeTensorsWriter().Add("a", new float[] { 1, 2 }, StoreDType.F32, 2).Save(Path.Combine(dir, "model-00001-of-00002.safetensors"));
        new SafeTensorsWriter().Add("b", new float[] { 3 }, StoreDType.BF16, 1).Save(Path.Combine(dir, "model-00002-of-00002.safetensors"));
        File.WriteAllText(Path.Combine(dir, SafeTensorsCheckpoint.IndexFileName),
            """{"metadata":{"total_size":6},"weight_map":{"a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors"}}""");
        using var ck = SafeTensorsCheckpoint.Open(dir);
        Assert.Equal(["a", "b"], ck.Names.Order(StringComparer.Ordinal));
        var (fa, ia) = ck.Get("a");
        Assert.Equal([1f, 2f], fa.ReadFloats(ia.Name));
        var (fb, ib) = ck.Get("b");
        Assert.Equal([3f], fb.ReadFloats(ib.Name));
    }

    [Fact]
    public void Sharded_checkpoints_name_missing_and_unlisted_tensors()
    {
        var dir = TestPaths.TempDir();
        var shard = Path.Combine(dir, "s1.safetensors");
        new SafeTensorsWriter().Add("a", new float[] { 1 }, StoreDType.F32, 1).Add("extra", new float[] { 1 }, StoreDType.F32, 1).Save(shard);
        var index = Path.Combine(dir, SafeTensorsCheckpoint.IndexFileName);
        File.WriteAllText(index, """{"weight_map":{"a":"s1.safetensors"}}""");
        var e = Assert.Throws<UserError>(() => SafeTensorsCheckpoint.Open(dir).Dispose());
        Assert.Equal($"{shard}: tensor 'extra' is not listed in {SafeTensorsCheckpoint.IndexFileName}", e.Message);

        File.WriteAllText(index, """{"weight_map":{"a":"s1.safetensors","extra":"s1.safetensors","b":"s1.safetensors"}}""");
        e = Assert.Throws<UserError>(() => SafeTensorsCheckpoint.Open(dir).Dispose());
        Assert.Equal($"{shard}: tensor 'b' listed in {SafeTensorsCheckpoint.IndexFileName} is missing from this shard", e.Message);

        File.WriteAllText(index, """{"weight_map":{"a":"../s1.safetensors"}}""");
        e = Assert.Throws<UserError>(() => SafeTensorsCheckpoint.Open(dir).Dispose());
        Assert.StartsWith(index + ": shard file", e.Message);
    }

    [Fact]
    public void A_folder_without_weights_is_named()
    {
        var dir = TestPaths.TempDir();
        var e = Assert.Throws<UserError>(() => SafeTensorsCheckpoint.Open(dir).Dispose());
        Assert.StartsWith(dir + ": no model.safetensors", e.Message);
    }

    [Fact]
    public void Reads_the_real_hugging_face_file()
    {
        var dir = TestPaths.SharedFixture("tiny-random-gpt2");
        using var f = SafeTensorsFile.Open(Path.Combine(dir, "model.safetensors"));
        Assert.Equal([1000L, 32L], f.Info("transformer.wte.weight").Shape);
        Assert.Equal(SafeTensorsDType.F32, f.Info("transformer.wte.weight").DType);
        Assert.Equal("pt", f.Metadata["format"]);
    }
}

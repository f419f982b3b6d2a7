using System.Runtime.InteropServices;
using LearningCurves.Engine.Backends;
using LearningCurves.Engine.Checkpoints;
using LearningCurves.Engine.Model;
using LearningCurves.Formats;
using LearningCurves.Tests.Common;
using Architecture = LearningCurves.Engine.Model.Architecture;
using Xunit;
using static LearningCurves.Kernels.Tests.GpuTestSupport;

namespace LearningCurves.Kernels.Tests;

/// <summary>
/// Big checkpoints (issue 23 item 7) on every backend: <see cref="IBackend.WriteStored"/> from every stored type into
/// every buffer type (bf16 bits unwidened, the rest rounded as Write rounds), at an offset, nothing written outside
/// the range; a model streamed from its files (<see cref="CheckpointTensors"/>) scores bit for bit as the float32
/// path for every fixture and stored dtype; the memory check before an upload names what would fit.
/// </summary>
[Trait("Category", "Gpu")]
[Collection("GPU")]
public class StreamedLoadTests(ITestOutputHelper output)
{
    private static IBackend Make(string backend, Precision p) => backend == "cpu" ? new CpuBackend(p) : Open(p);

    /// <summary>Random values with a spread of magnitudes, NaN and infinities, as float32 then as the stored type's
    /// bytes (and the float32 each stored value stands for).</summary>
    private static (byte[] Bytes, float[] Values) Stored(Random rng, int n, StoredType t)
    {
        var x = new float[n];
        for (int i = 0; i < n; i++)
        {
            x[i] = (float)((rng.NextDouble() - 0.5) * Math.Pow(10, rng.Next(-4, 4)));
            if (rng.Next(64) == 0) x[i] = rng.Next(3) switch { 0 => float.NaN, 1 => float.PositiveInfinity, _ => -0f };
        }
        switch (t)
        {
            case StoredType.F32:
                return (MemoryMarshal.AsBytes(x.AsSpan()).ToArray(), x);
            case StoredType.F16:
                {
                    var h = x.Select(v => (Half)v).ToArray();
                    return (MemoryMarshal.AsBytes(h.AsSpan()).ToArray(), h.Select(v => (float)v).ToArray());
                }
            default:
                {
                    var b = new ushort[n];
                    Bf16.FromFloat(x, b);
                    return (MemoryMarshal.AsBytes(b.AsSpan()).ToArray(), b.Select(Bf16.ToFloat).ToArray());
                }
        }
    }

    [Theory]
    [InlineData("cpu")]
    [InlineData("cuda")]
    public void WriteStored_converts_every_stored_type_into_every_buffer_type(string backend)
    {
        int seed = Random.Shared.Next();
        var rng = new Random(seed);
        output.WriteLine($"seed {seed}");
        using var be = Make(backend, Precision.Bf16);
        // Sizes hitting every vector remainder, and (once) a staging chunk boundary of the CUDA backend (16 MB).
        var sizes = new List<int> { 1, 7, 31, 32, 33, 1000, 4097 };
        if (backend == "cuda") sizes.Add((1 << 22) + 5);
        foreach (var st in Enum.GetValues<StoredType>())
        {
            foreach (var dt in new[] { DType.F32, DType.Bf16 })
            {
                foreach (int n in sizes)
                {
                    int offset = rng.Next(0, 5), after = 3;
                    var (bytes, values) = Stored(rng, n, st);
                    using var d = Poisoned(be, offset + n + after, dt);
                    be.WriteStored(d, offset, bytes, st);
                    var got = Get(be, d, offset + n + after);
                    var want = values.ToArray();
                    if (dt == DType.Bf16) CpuOps.RoundToBf16(want);
                    var ctx = $"{backend} {st} -> {dt} n={n} offset={offset} seed {seed}";
                    for (int i = 0; i < n; i++)
                    {
                        float g = got[offset + i], w = want[i];
                        bool same = float.IsNaN(w) ? float.IsNaN(g) : BitConverter.SingleToInt32Bits(g) == BitConverter.SingleToInt32Bits(w);
                        Assert.True(same, $"{ctx}: [{i}] stored {values[i]} -> {g}, want {w}");
                    }
                    Assert.True(got.Take(offset).All(float.IsNaN), $"{ctx}: wrote before the offset");
                    Assert.True(got.Skip(offset + n).All(float.IsNaN), $"{ctx}: wrote past offset + n");
                }
            }
        }
    }

    [Theory]
    [InlineData("cpu")]
    [InlineData("cuda")]
    public void WriteStored_refuses_a_range_outside_the_buffer_and_int_buffers(string backend)
    {
        using var be = Make(backend, Precision.Fp32);
        using var f = be.Allocate(8, DType.F32);
        using var i = be.Allocate(8, DType.I32);
        Assert.Contains("outside", Assert.Throws<ArgumentException>(() => be.WriteStored(f, 5, new byte[16], StoredType.F32)).Message, StringComparison.Ordinal);
        Assert.Contains("outside", Assert.Throws<ArgumentException>(() => be.WriteStored(f, -1, new byte[4], StoredType.F32)).Message, StringComparison.Ordinal);
        Assert.Contains("whole number", Assert.Throws<ArgumentException>(() => be.WriteStored(f, 0, new byte[3], StoredType.Bf16)).Message, StringComparison.Ordinal);
        Assert.Contains("I32", Assert.Throws<ArgumentException>(() => be.WriteStored(i, 0, new byte[4], StoredType.F32)).Message, StringComparison.Ordinal);
    }

    public static TheoryData<string, string, Precision> Fixtures()
    {
        var d = new TheoryData<string, string, Precision>();
        var root = Path.Combine(TestPaths.RepoRoot, "tests", "fixtures");
        var dirs = new[] { "parity", "parity-neox", "parity-llama", "torch-bin" }
            .Select(g => Path.Combine(root, g))
            .Where(Directory.Exists)
            .SelectMany(Directory.GetDirectories)
            .Where(x => File.Exists(Path.Combine(x, "config.json")))
            .Order(StringComparer.Ordinal)
            .Select(x => Path.GetRelativePath(root, x));
        foreach (var dir in dirs)
        {
            foreach (var b in new[] { "cpu", "cuda" })
            {
                d.Add(dir, b, Precision.Fp32);
                d.Add(dir, b, Precision.Bf16);
            }
        }
        return d;
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void A_streamed_model_scores_as_the_float32_path(string fixture, string backend, Precision p)
    {
        var dir = Path.Combine(TestPaths.RepoRoot, "tests", "fixtures", fixture);
        ModelWeights w;
        try
        {
            w = HfCheckpoint.Load(dir);
        }
        catch (UserError e)
        {
            // A fixture made to be refused is refused by the streamed path too, with the same line.
            var streamed = Assert.Throws<UserError>(() => CheckpointTensors.Open(dir));
            Assert.Equal(e.Message, streamed.Message);
            return;
        }
        int seed = Random.Shared.Next();
        var rng = new Random(seed);
        int len = Math.Min(w.Config.MaxPositions, 24);
        var seqs = Enumerable.Range(0, 3).Select(_ => Enumerable.Range(0, len).Select(_ => rng.Next(w.Config.VocabSize)).ToArray()).ToList();
        using var be = Make(backend, p);
        float[][] want, got;
        using (var m = new DecoderModel(be, w)) want = m.ScoreAll(seqs);
        using (var ck = CheckpointTensors.Open(dir))
        {
            Assert.Equal(w.LmHead is not null, ck.Untied);
            Assert.Equal(w.Config, ck.Config);
            using var m = new DecoderModel(be, ck);
            got = m.ScoreAll(seqs);
        }
        for (int s = 0; s < seqs.Count; s++)
        {
            for (int i = 0; i < want[s].Length; i++)
            {
                Assert.True(BitConverter.SingleToInt32Bits(want[s][i]) == BitConverter.SingleToInt32Bits(got[s][i]),
                    $"{fixture} {backend} {p} seed {seed}: sequence {s} token {i}: streamed {got[s][i]}, float32 path {want[s][i]}");
            }
        }
    }

    /// <summary>The memory check before an upload, on the CUDA backend's own free memory (the software GPU's is small):
    /// a model whose fp32 weights do not fit but whose bf16 ones do is told to use bf16; one that fits in no precision
    /// is told so; one that fits passes.</summary>
    [Fact]
    public void An_out_of_memory_card_gets_one_line_naming_what_would_fit()
    {
        using var be = Open(Precision.Fp32);
        long free = be.FreeMemoryBytes ?? throw new InvalidOperationException("the CUDA backend knows its free memory");
        // A LLaMA-shaped config grown a layer at a time until its fp32 weights no longer fit (bf16 halves the matrices).
        var fp32Only = new ModelConfig { Architecture = Architecture.Llama, VocabSize = 1000, MaxPositions = 64, Embd = 256, Layers = 1, Heads = 4, Inner = 512 };
        while (BatchSizing.Fits(free, fp32Only, false, 16, Precision.Fp32)) fp32Only = fp32Only with { Layers = fp32Only.Layers + 1 };
        Assert.True(BatchSizing.Fits(free, fp32Only, false, 16, Precision.Bf16), "the bf16 case must fit in bf16");
        var e = Assert.Throws<UserError>(() => BatchSizing.CheckFits(be, fp32Only, false, 16, "/models/x"));
        output.WriteLine(e.Message);
        Assert.DoesNotContain('\n', e.Message);
        Assert.StartsWith("/models/x: does not fit the GPU", e.Message, StringComparison.Ordinal);
        Assert.Contains("use --precision bf16", e.Message, StringComparison.Ordinal);

        var none = fp32Only with { Layers = fp32Only.Layers * 4 };
        var e2 = Assert.Throws<UserError>(() => BatchSizing.CheckFits(be, none, false, 16, "/models/y"));
        output.WriteLine(e2.Message);
        Assert.Contains("--backend cpu", e2.Message, StringComparison.Ordinal);

        var small = new ModelConfig { Architecture = Architecture.Llama, VocabSize = 1000, MaxPositions = 64, Embd = 64, Layers = 1, Heads = 4, Inner = 128 };
        BatchSizing.CheckFits(be, small, false, 16, "/models/z");
    }
}

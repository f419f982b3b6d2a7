using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using LearningCurves.Engine.EvalSets;
using LearningCurves.Engine.Sweeps;
using LearningCurves.Formats.EvalSets;
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
/// path for every fixture and stored dtype, and so do a sweep (the same curve file, records and manifest bytes, repeated
/// weights found by the same hash) and generation; the memory check before an upload names what would fit, and a sweep
/// that does not fit the card is refused in one line before any work.
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

    /// <summary>Every checkpoint fixture (relative to tests/fixtures): every architecture, container and stored dtype.</summary>
    private static IEnumerable<string> FixtureDirs()
    {
        var root = Path.Combine(TestPaths.RepoRoot, "tests", "fixtures");
        return new[] { "parity", "parity-neox", "parity-llama", "torch-bin" }
            .Select(g => Path.Combine(root, g))
            .Where(Directory.Exists)
            .SelectMany(Directory.GetDirectories)
            .Where(x => File.Exists(Path.Combine(x, "config.json")))
            .Order(StringComparer.Ordinal)
            .Select(x => Path.GetRelativePath(root, x));
    }

    public static TheoryData<string> FixtureNames() => new(FixtureDirs());

    public static TheoryData<string, string, Precision> Fixtures()
    {
        var d = new TheoryData<string, string, Precision>();
        foreach (var dir in FixtureDirs())
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

    private static string FixturePath(string fixture) => Path.Combine(TestPaths.RepoRoot, "tests", "fixtures", fixture);

    /// <summary>The float32 weights of a fixture, or null for one made to be refused.</summary>
    private static ModelWeights? LoadOrNull(string dir)
    {
        try
        {
            return HfCheckpoint.Load(dir);
        }
        catch (UserError)
        {
            return null;
        }
    }

    /// <summary>The hash the sweep finds repeated weights by, computed from the stored bytes a piece at a time, is
    /// the one of the float32 weights (and so the one earlier sweeps recorded).</summary>
    [Theory]
    [MemberData(nameof(FixtureNames))]
    public void The_content_hash_of_the_stored_bytes_is_the_float32_weights_hash(string fixture)
    {
        var dir = FixturePath(fixture);
        var w = LoadOrNull(dir);
        if (w is null) return; // refused alike: A_streamed_model_scores_as_the_float32_path
        Assert.NotEmpty(w.ContentHash);
        using var ck = CheckpointTensors.Open(dir);
        Assert.Equal(w.ContentHash, ck.ContentHash());
        // Hashing lets go of the pages it read: the tensors are still readable, and hash the same again.
        Assert.Equal(w.ContentHash, ck.ContentHash());
    }

    /// <summary>A run of a fixture's checkpoint twice (step0, step10: the same weights, found by their hash and
    /// copied) and, when it loads, other weights of its config stored in BF16 (step20), with an eval set its
    /// vocabulary and positions cover.</summary>
    private static (string Run, EvalSet Eval) SweepData(string root, string fixture, ModelWeights? w)
    {
        var src = FixturePath(fixture);
        string run = Path.Combine(root, "run");
        foreach (var step in new[] { "step0", "step10" })
        {
            Directory.CreateDirectory(Path.Combine(run, step));
            foreach (var f in Directory.GetFiles(src)) File.Copy(f, Path.Combine(run, step, Path.GetFileName(f)));
        }
        if (w is not null)
        {
            var wte = w.Wte.Select(x => x * 1.5f + 0.01f).ToArray();
            HfCheckpoint.Save(Path.Combine(run, "step20"), w.With(TensorRole.Wte, wte), StoreDType.BF16);
        }
        var cfg = w?.Config;
        int vocab = Math.Min(cfg?.VocabSize ?? 16, 64), seqLen = Math.Min(cfg?.MaxPositions ?? 8, 12), seqs = 5;
        var tokens = Enumerable.Range(0, seqs * seqLen).Select(i => (i * 7 + 3) % vocab).ToArray();
        new EvalSet(tokens, seqs, seqLen, EvalSetBuilder.DrawTargets(seqs, seqLen, 3, 11), vocab).Save(Path.Combine(root, "eval"), new JsonObject());
        return (run, EvalSet.Load(Path.Combine(root, "eval")));
    }

    /// <summary>Every file a sweep leaves (temporary and lock files aside), by path under its folder.</summary>
    private static SortedDictionary<string, byte[]> Snapshot(string outDir)
    {
        var d = new SortedDictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var f in Directory.EnumerateFiles(outDir, "*", SearchOption.AllDirectories))
        {
            if (Path.GetFileName(f).StartsWith('.')) continue;
            d[Path.GetRelativePath(outDir, f)] = File.ReadAllBytes(f);
        }
        return d;
    }

    /// <summary>
    /// A sweep whose checkpoints stream from their files into the model's device buffers (the GPU default) writes the
    /// same bytes as one that widens each checkpoint to float32 host weights first: curve file, steps, row records
    /// (weights hashes included) and manifest, with the same notes (the repeated checkpoint copied, not scored), for
    /// every fixture (a refused one gives the same failed rows and reasons), in fp32 and bf16, on every backend.
    /// </summary>
    [Theory]
    [MemberData(nameof(Fixtures))]
    public void A_streamed_sweep_writes_the_bytes_of_the_float32_sweep(string fixture, string backend, Precision p)
    {
        string root = TestPaths.TempDir();
        var w = LoadOrNull(FixturePath(fixture));
        var (run, eval) = SweepData(root, fixture, w);
        using var be = Make(backend, p);
        (SortedDictionary<string, byte[]> Files, List<string> Notes, SweepSummary Summary) Sweep(bool stream)
        {
            string outDir = Path.Combine(root, stream ? "streamed" : "float32");
            var notes = new SweepNotes();
            var summary = new SweepDriver(be, new HfCheckpointReader(), notes).Run(new SweepOptions
            {
                OutDir = outDir, EvalSet = eval, Runs = [new SweepRunSpec("r", run)], BatchSequences = 2, StreamWeights = stream,
            });
            return (Snapshot(outDir), notes.Lines.Select(l => l.Replace(outDir, "OUT", StringComparison.Ordinal)).ToList(), summary);
        }
        var want = Sweep(stream: false);
        var got = Sweep(stream: true);
        int checkpoints = w is null ? 2 : 3;
        Assert.Equal(checkpoints, want.Summary.Done + want.Summary.Failed);
        if (w is not null)
        {
            Assert.Equal(checkpoints, want.Summary.Done);
            Assert.Contains(want.Notes, l => l.Contains("the same weights as step 0", StringComparison.Ordinal));
        }
        Assert.Equal(want.Notes, got.Notes);
        Assert.Equal(want.Summary.Failures.Select(f => f.Reason), got.Summary.Failures.Select(f => f.Reason));
        Assert.Equal(want.Files.Keys, got.Files.Keys);
        foreach (var (name, bytes) in want.Files)
        {
            var other = got.Files[name];
            int at = Enumerable.Range(0, Math.Min(bytes.Length, other.Length)).FirstOrDefault(i => bytes[i] != other[i], -1);
            Assert.True(at < 0 && bytes.Length == other.Length,
                $"{fixture} {backend} {p}: {name} differs (float32 {bytes.Length} bytes, streamed {other.Length}; first at byte {at})");
        }
    }

    /// <summary>Generation (what `generate` and analyze's generation stage run) from a streamed model gives the same
    /// tokens as from the float32 weights, greedy and sampled, for every fixture and stored dtype.</summary>
    [Theory]
    [MemberData(nameof(Fixtures))]
    public void A_streamed_model_generates_as_the_float32_path(string fixture, string backend, Precision p)
    {
        var dir = FixturePath(fixture);
        var w = LoadOrNull(dir);
        if (w is null) return; // refused alike: A_streamed_model_scores_as_the_float32_path
        int seed = Random.Shared.Next();
        var rng = new Random(seed);
        int longest = Math.Min(5, w.Config.MaxPositions - 1);
        var prompts = new[] { 1, 3, longest }.Select(n => Enumerable.Range(0, Math.Min(n, longest)).Select(_ => rng.Next(w.Config.VocabSize)).ToArray()).ToList();
        using var be = Make(backend, p);
        foreach (double temperature in new[] { 0.0, 0.8 })
        {
            var options = new GenerationOptions { Temperature = temperature, MaxTokens = 6, Seed = seed };
            int[][] want, got;
            using (var m = new DecoderModel(be, w)) want = m.Generate(prompts, options);
            using (var ck = CheckpointTensors.Open(dir))
            using (var m = new DecoderModel(be, ck))
                got = m.Generate(prompts, options);
            for (int i = 0; i < prompts.Count; i++)
                Assert.True(want[i].SequenceEqual(got[i]),
                    $"{fixture} {backend} {p} temperature {temperature} seed {seed}: prompt {i}: streamed [{string.Join(' ', got[i])}], float32 path [{string.Join(' ', want[i])}]");
        }
    }

    /// <summary>
    /// `sweep --backend cuda` on a card too small for a run's model (the software GPU told it has
    /// <c>LC_SOFTGPU_MEMORY_MIB</c>): exit 2, one line naming the checkpoint and what would fit, nothing written; the
    /// check reads only config.json, so the checkpoints here are configs alone. Then a card big enough for the bf16
    /// weights is told to use them.
    /// </summary>
    [Fact]
    public async Task A_sweep_that_does_not_fit_the_card_is_refused_in_one_line_before_any_work()
    {
        using (var be = Open(Precision.Fp32))
            Assert.SkipUnless(IsSoftwareGpu(be), "the card's memory is set only on the software GPU (LC_SOFTGPU_MEMORY_MIB)");
        string root = TestPaths.TempDir();
        const long Mib = 1L << 20;
        const int CardMib = 2048;
        // A LLaMA shape grown until its fp32 weights do not fit even the whole card; its bf16 ones fit with room to spare.
        var cfg = new ModelConfig { Architecture = Architecture.Llama, VocabSize = 32000, MaxPositions = 64, Embd = 512, Layers = 1, Heads = 8, Inner = 1408, TieWordEmbeddings = false };
        while (BatchSizing.Fits(CardMib * Mib, cfg, true, 16, Precision.Fp32)) cfg = cfg with { Layers = cfg.Layers + 1 };
        Assert.True(BatchSizing.Fits((CardMib - 256) * Mib, cfg, true, 16, Precision.Bf16), "the bf16 weights must fit");
        var huge = cfg with { Layers = cfg.Layers * 8 };
        var tokens = Enumerable.Range(0, 2 * 16).Select(i => i % 50).ToArray();
        new EvalSet(tokens, 2, 16, EvalSetBuilder.DrawTargets(2, 16, 3, 5), 50).Save(Path.Combine(root, "eval"), new JsonObject());

        foreach (var (name, model, advice) in new[] { ("fits-bf16", cfg, "use --precision bf16"), ("fits-none", huge, "no precision fits this card") })
        {
            string run = Path.Combine(root, name), step0 = Path.Combine(run, "step0");
            HfConfig.Save(step0, model);
            HfConfig.Save(Path.Combine(run, "step10"), model);
            string outDir = Path.Combine(root, "out-" + name);
            var (exit, stdout, err) = await RunCliOnCard(CardMib,
                "sweep", "--run", $"r={run}", "--eval", Path.Combine(root, "eval"), "--out", outDir, "--backend", "cuda", "--precision", "fp32");
            output.WriteLine(err);
            Assert.True(exit == 2, $"{name}: exit {exit}\n{stdout}\n{err}");
            var line = Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.StartsWith($"learning-curves sweep: {step0}: does not fit the GPU: the weights need ", line, StringComparison.Ordinal);
            Assert.Contains(advice, line, StringComparison.Ordinal);
            Assert.False(Directory.Exists(outDir), $"{name}: {outDir} was written before the refusal");
        }
    }

    /// <summary>
    /// `sweep --backend cuda` without --batch sizes its batch before its first checkpoint is on the card; while it scores,
    /// one model's weights are resident (each next checkpoint is streamed into the same buffers), so that is what it
    /// holds back. On a card where the weights are a large share of the free memory, the batch it reports (the JSON
    /// summary's "batch") is what fits the card less the bytes a model of that config really takes on the device
    /// (measured here by uploading one), not less two models; and the sweep at that batch, over more sequences than a
    /// batch and two checkpoints, runs without running out of memory.
    /// </summary>
    [Fact]
    public async Task A_sweep_without_batch_holds_back_one_model_and_runs_at_the_batch_it_chose()
    {
        long resident, baseline;
        const int T = 128;
        // Tied embeddings over a large vocabulary: weights of about 50 MiB, little compute per token.
        var cfg = new ModelConfig { Architecture = Architecture.Llama, VocabSize = 51200, MaxPositions = T, Embd = 256, Layers = 1, Heads = 4, Inner = 688, TieWordEmbeddings = true };
        var first = ModelWeights.Random(cfg, 11);
        using (var be = Open(Precision.Fp32))
        {
            Assert.SkipUnless(IsSoftwareGpu(be), "the card's memory is set only on the software GPU (LC_SOFTGPU_MEMORY_MIB)");
            long before = be.FreeMemoryBytes!.Value;
            baseline = be.Device.TotalMemoryBytes - before;
            using (new DecoderModel(be, first)) resident = before - be.FreeMemoryBytes!.Value;
        }
        const long Mib = 1L << 20;
        const int CardMib = 970;
        long card = CardMib * Mib;
        // The batch fits the card less what the backend holds before any model (at most what it holds here) and less
        // one model as really resident.
        int most = BatchSizing.FitOrZero(card - resident, cfg, T), least = BatchSizing.FitOrZero(card - baseline - resident, cfg, T);
        output.WriteLine($"model resident {resident / (double)Mib:F2} MiB, backend before any model {baseline / (double)Mib:F2} MiB, "
            + $"per sequence {BatchSizing.BytesPerSequence(cfg, T) / (double)Mib:F2} MiB: batch {least}..{most} on {CardMib} MiB "
            + $"(two models held back: {BatchSizing.FitOrZero(card - 2 * resident, cfg, T)})");
        Assert.True(least >= 2 && BatchSizing.FitOrZero(card - 2 * resident, cfg, T) < least, "the case must tell one model held back from two");

        string root = TestPaths.TempDir(), run = Path.Combine(root, "run"), outDir = Path.Combine(root, "out");
        HfCheckpoint.Save(Path.Combine(run, "step0"), first);
        HfCheckpoint.Save(Path.Combine(run, "step10"), ModelWeights.Random(cfg, 12));
        int sequences = most + 3;
        var rng = new Random(5);
        var tokens = Enumerable.Range(0, sequences * T).Select(_ => rng.Next(50)).ToArray();
        new EvalSet(tokens, sequences, T, EvalSetBuilder.DrawTargets(sequences, T, 2, 5), 50).Save(Path.Combine(root, "eval"), new JsonObject());

        var (exit, stdout, err) = await RunCliOnCard(CardMib,
            "sweep", "--run", $"r={run}", "--eval", Path.Combine(root, "eval"), "--out", outDir, "--backend", "cuda", "--precision", "fp32", "--json");
        output.WriteLine(err);
        Assert.True(exit == 0, $"exit {exit}\n{stdout}\n{err}");
        var summary = JsonNode.Parse(stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1])!;
        Assert.Equal("summary", (string?)summary["event"]);
        int batch = (int)summary["batch"]!;
        output.WriteLine($"the sweep chose batch {batch}");
        Assert.True(batch >= least && batch <= most, $"batch {batch}: expected {least}..{most} (the card less one model)");
        Assert.True((int)summary["done"]! == 2 && (int)summary["failed"]! == 0, stdout);
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

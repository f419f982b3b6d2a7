using LearningCurves.Engine.Backends;
using LearningCurves.Engine.Checkpoints;
using LearningCurves.Engine.Model;
using LearningCurves.Tests.Common;
using Xunit;

namespace LearningCurves.Engine.Tests;

/// <summary>
/// The LLaMA family (llama, olmo, olmo2, qwen2) in every stored format a suite ships (issue 23): each parity-llama fixture re-saved as torch.save
/// storages (pytorch_model.bin, as TinyLlama's intermediate checkpoints are: random transposed strides, packed 1-D
/// storages, one or two shards) loads to exactly the weights of its safetensors and still matches the float64 reference;
/// the same weights stored as F16, BF16 and F32 by the engine's writer load back as the stored values say, and their
/// .bin twins load to the same bits.
/// </summary>
public class LlamaFamilyFormatsTests
{
    private static string Fixture(string name) => Path.Combine(TestPaths.RepoRoot, "tests", "fixtures", "parity-llama", name);

    /// <summary>The single-file fixtures (the sharded one is a safetensors index, covered by the parity tests).</summary>
    public static readonly TheoryData<string> SingleFile = new(
        "llama-gqa-untied-f32", "llama-tied-bias-bf16", "llama-odd-heads-headdim-f32", "olmo-clip-f32", "olmo2-gqa-f32", "qwen2-gqa-untied-f32", "qwen2-tied-mqa-bf16",
        "llama-rope-linear-f32", "llama-rope-llama3-f32");

    /// <summary>A copy of the fixture's config, ids and references, with the weights as .bin storages.</summary>
    private static (string Dir, string What) AsBin(string safetensorsDir, string name, Random rng)
    {
        var dir = TestPaths.TempDir(name);
        foreach (var f in Directory.EnumerateFiles(safetensorsDir).Where(f => !f.EndsWith(".safetensors", StringComparison.Ordinal)))
            File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
        string what = TorchBinTests.WriteBinFrom(Path.Combine(safetensorsDir, "model.safetensors"), dir, rng, shareHead: false);
        Assert.False(File.Exists(Path.Combine(dir, "model.safetensors")));
        return (dir, what);
    }

    [Theory]
    [MemberData(nameof(SingleFile))]
    public void A_torch_bin_twin_loads_the_same_weights_and_matches_the_float64_reference(string name)
    {
        int seed = Random.Shared.Next();
        var (bin, what) = AsBin(Fixture(name), name, new Random(seed));
        string ctx = $"{name} as .bin ({what}), seed {seed}";
        var a = HfCheckpoint.Load(Fixture(name));
        var b = HfCheckpoint.Load(bin);
        Assert.True(a.ContentHash == b.ContentHash, $"{ctx}: the weights' hashes differ");
        using var model = new DecoderModel(new CpuBackend(Precision.Fp32), b);
        TestContext.Current.SendDiagnosticMessage(ctx + ": " + ParityCheck.Run(model, bin, batchSize: 5));
    }

    [Theory]
    [InlineData("llama-gqa-untied-f32", StoreDType.F16)]
    [InlineData("llama-tied-bias-bf16", StoreDType.F16)]
    [InlineData("olmo-clip-f32", StoreDType.BF16)]
    [InlineData("olmo2-gqa-f32", StoreDType.F16)]
    [InlineData("llama-odd-heads-headdim-f32", StoreDType.F32)]
    [InlineData("qwen2-tied-mqa-bf16", StoreDType.F16)]
    [InlineData("qwen2-gqa-untied-f32", StoreDType.BF16)]
    [InlineData("llama-rope-linear-f32", StoreDType.BF16)]
    [InlineData("llama-rope-llama3-f32", StoreDType.F16)]
    public void Every_stored_dtype_loads_as_stored_in_safetensors_and_bin(string name, StoreDType dtype)
    {
        int seed = Random.Shared.Next();
        var rng = new Random(seed);
        var w = HfCheckpoint.Load(Fixture(name));
        var st = TestPaths.TempDir(name + "-st");
        HfCheckpoint.Save(st, w, dtype);
        var back = HfCheckpoint.Load(st);
        string ctx = $"{name} saved as {dtype}, seed {seed}";
        Assert.Equal(w.Config, back.Config);

        // Every value is the stored type's rounding of the float32 it came from (to nearest even), nothing else.
        Func<float, float> round = dtype switch
        {
            StoreDType.F16 => v => (float)(Half)v,
            StoreDType.BF16 => v =>
            {
                Span<float> one = [v];
                CpuOps.RoundToBf16(one);
                return one[0];
            },
            _ => v => v,
        };
        int compared = 0;
        foreach (var spec in w.Specs)
        {
            float[] want = w[spec], got = back[spec];
            string key = spec.Name;
            Assert.True(want.Length == got.Length, $"{ctx}: {key} has {got.Length} values, not {want.Length}");
            for (int i = 0; i < want.Length; i++)
            {
                float r = round(want[i]);
                if (BitConverter.SingleToInt32Bits(r) != BitConverter.SingleToInt32Bits(got[i]))
                    Assert.Fail($"{ctx}: {key}[{i}] loads as {got[i]:R}, the stored rounding of {want[i]:R} is {r:R}");
            }
            compared += want.Length;
        }
        Assert.True(compared > 1000, $"{ctx}: only {compared} values compared");

        var (bin, what) = AsBin(st, name, rng);
        var fromBin = HfCheckpoint.Load(bin);
        Assert.True(back.ContentHash == fromBin.ContentHash, $"{ctx}: .bin twin ({what}) loads other weights");
        using var ma = new DecoderModel(new CpuBackend(Precision.Fp32), back);
        using var mb = new DecoderModel(new CpuBackend(Precision.Fp32), fromBin);
        var seq = Enumerable.Range(0, Math.Min(w.Config.MaxPositions, 24)).Select(_ => rng.Next(w.Config.VocabSize)).ToArray();
        Assert.Equal(ma.ScoreAll([seq])[0], mb.ScoreAll([seq])[0]);
    }
}

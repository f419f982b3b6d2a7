using LearningCurves.Engine.Backends;
using LearningCurves.Engine.Checkpoints;
using LearningCurves.Engine.Model;
using LearningCurves.Tests.Common;
using Xunit;
using LearningCurves.Formats.Tokenization;

namespace LearningCurves.Engine.Tests;

/// <summary>
/// The forward pass against the independent float64 reference (tests/reference/gpt2_reference.py), through the
/// committed fixtures in tests/fixtures/parity. Logits: max|ours - ref| / max|ref| per row &lt;= 1e-5.
/// Surprisal: |ours - ref| &lt;= 1e-4 bits.
/// </summary>
public class ParityTests
{
    public static string FixtureDir(string name) => ParityCheck.FixtureDir(name);

    public static TheoryData<string> RandomCases => new(
        "tied-prefix-f32", "inner-untied-noprefix-f16", "inverse-idx-bf16", "legacy-nctx-unscaled-bf16-untied");

    [Theory]
    [MemberData(nameof(RandomCases))]
    public void Random_tiny_models_match_the_reference(string name)
    {
        var dir = FixtureDir(name);
        Check(HfCheckpoint.Load(dir), dir, batchSize: 5);
    }

    [Fact]
    public void The_hugging_face_tiny_random_gpt2_matches_the_reference()
    {
        var model = TestPaths.SharedFixture("tiny-random-gpt2");
        Check(HfCheckpoint.Load(model), FixtureDir("tiny-random-gpt2-reference"), batchSize: 4);
    }

    [Fact]
    public void The_fixtures_cover_every_required_variant()
    {
        var configs = RandomCases.Select(c => (Name: c.Data, Cfg: HfConfig.LoadFromFolder(FixtureDir(c.Data)))).ToList();
        Assert.Contains(configs, c => c.Cfg.Inner > 0);
        Assert.Contains(configs, c => !c.Cfg.TieWordEmbeddings);
        Assert.Contains(configs, c => c.Cfg.ScaleAttnByInverseLayerIdx);
        var dtypes = new HashSet<SafeTensorsDType>();
        bool prefixed = false, bare = false;
        foreach (var (name, cfg) in configs)
        {
            using var f = SafeTensorsFile.Open(Path.Combine(FixtureDir(name), "model.safetensors"));
            dtypes.Add(f.Info(f.Names.First(n => n.EndsWith("wte.weight", StringComparison.Ordinal))).DType);
            prefixed |= f.Contains("transformer.wte.weight");
            bare |= f.Contains("wte.weight");
            var lengths = TokenIdsFile.Read(Path.Combine(FixtureDir(name), "ids.txt")).Select(s => s.Length).ToHashSet();
            Assert.True(Enumerable.Range(1, cfg.MaxPositions).All(lengths.Contains), $"{name}: lengths 1..{cfg.MaxPositions} not all present");
        }
        Assert.Superset(new HashSet<SafeTensorsDType> { SafeTensorsDType.F32, SafeTensorsDType.F16, SafeTensorsDType.BF16 }, dtypes);
        Assert.True(prefixed && bare, "fixtures need keys both with and without the transformer. prefix");
    }

    private static void Check(ModelWeights weights, string refDir, int batchSize)
    {
        using var model = new DecoderModel(new CpuBackend(Precision.Fp32), weights);
        TestContext.Current.SendDiagnosticMessage(ParityCheck.Run(model, refDir, batchSize));
    }
}

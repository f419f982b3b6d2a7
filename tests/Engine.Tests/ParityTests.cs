using LearningCurves.Engine.Backends;
using LearningCurves.Engine.Checkpoints;
using LearningCurves.Engine.IO;
using LearningCurves.Engine.Model;
using LearningCurves.Engine.Tokenization;
using LearningCurves.Tests.Common;
using Xunit;

namespace LearningCurves.Engine.Tests;

/// <summary>
/// The forward pass against the independent float64 reference (tests/reference/gpt2_reference.py), through the
/// committed fixtures in tests/fixtures/parity. Logits: max|ours - ref| / max|ref| per row &lt;= 1e-5.
/// Surprisal: |ours - ref| &lt;= 1e-4 bits.
/// </summary>
public class ParityTests
{
    public const double LogitRelTol = 1e-5;
    public const double SurprisalAbsTol = 1e-4;

    public static string FixtureDir(string name) => Path.Combine(TestPaths.RepoRoot, "tests", "fixtures", "parity", name);

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

    private static void Check(Gpt2Weights weights, string refDir, int batchSize)
    {
        var sequences = TokenIdsFile.Read(Path.Combine(refDir, "ids.txt"));
        var (wantSurprisal, _) = Npy.ReadDoubles(Path.Combine(refDir, "surprisal.npy"));
        var (rows, rowShape) = Npy.ReadInt64(Path.Combine(refDir, "logit_rows.npy"));
        var (wantLogits, logitShape) = Npy.ReadDoubles(Path.Combine(refDir, "logits.npy"));
        int v = weights.Config.VocabSize;
        Assert.Equal(rowShape[0], logitShape[0]);
        Assert.Equal(v, logitShape[1]);

        using var model = new Gpt2Model(new CpuBackend(Precision.Fp32), weights);

        // Surprisal, in batches of mixed lengths (sequences of length 1 have no targets).
        var got = new List<float>();
        for (int i = 0; i < sequences.Count; i += batchSize)
        {
            var batch = sequences.Skip(i).Take(batchSize).ToList();
            foreach (var s in model.ScoreAll(batch)) got.AddRange(s);
        }
        Assert.Equal(wantSurprisal.Length, got.Count);
        double maxErr = 0;
        int worst = -1;
        for (int i = 0; i < got.Count; i++)
        {
            double err = Math.Abs(got[i] - wantSurprisal[i]);
            if (err > maxErr) (maxErr, worst) = (err, i);
        }
        Assert.True(maxErr <= SurprisalAbsTol,
            $"{refDir}: surprisal max abs error {maxErr:E3} bits at target {worst} (ours {got[worst]}, reference {wantSurprisal[worst]})");

        // Logits of the stored rows, all sequences at once.
        int r = (int)rowShape[0];
        var positions = Enumerable.Range(0, sequences.Count).Select(_ => new List<int>()).ToArray();
        for (int k = 0; k < r; k++) positions[rows[2 * k]].Add((int)rows[2 * k + 1]);
        var logits = model.Logits(sequences, positions.Select(p => p.ToArray()).ToArray());
        // Model output is in sequence order; the reference rows are too (written sequence by sequence).
        double worstRel = 0;
        string where = "";
        for (int k = 0; k < r; k++)
        {
            double maxDiff = 0, maxRef = 0;
            for (int j = 0; j < v; j++)
            {
                double want = wantLogits[(long)k * v + j];
                maxDiff = Math.Max(maxDiff, Math.Abs(logits[(long)k * v + j] - want));
                maxRef = Math.Max(maxRef, Math.Abs(want));
            }
            double rel = maxDiff / maxRef;
            if (rel > worstRel)
            {
                worstRel = rel;
                where = $"sequence {rows[2 * k]} position {rows[2 * k + 1]}: max diff {maxDiff:E3}, max |ref| {maxRef:G4}, first logits ours " +
                        $"[{string.Join(", ", logits.Skip(k * v).Take(3))}] ref [{string.Join(", ", wantLogits.Skip(k * v).Take(3))}]";
            }
        }
        Assert.True(worstRel <= LogitRelTol, $"{refDir}: logits relative error {worstRel:E3} > {LogitRelTol:E0} at {where}");
    }
}

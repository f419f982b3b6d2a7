using System.Globalization;
using LearningCurves.Engine.Backends;
using LearningCurves.Engine.Checkpoints;
using LearningCurves.Engine.IO;
using LearningCurves.Engine.Model;
using LearningCurves.Engine.Tokenization;
using LearningCurves.Tests.Common;
using Xunit;

namespace LearningCurves.Kernels.Tests;

/// <summary>
/// The forward pass on the emulated kernels (EmuBackend, fp32) against the float64 reference outputs committed in
/// tests/fixtures/parity (tests/reference/gpt2_reference.py), with the engine's parity tolerances: surprisal within
/// 1e-4 bits, logits within 1e-5 of the row's largest |logit|. The measured errors are printed.
/// </summary>
public class EmuParityTests
{
    private const double SurprisalAbsTol = 1e-4;
    private const double LogitRelTol = 1e-5;

    public EmuParityTests() => EmuLibrary.Require();

    private static string FixtureDir(string name) => Path.Combine(TestPaths.RepoRoot, "tests", "fixtures", "parity", name);

    public static TheoryData<string, bool> Cases => new()
    {
        { "tied-prefix-f32", true },
        { "tied-prefix-f32", false },
        { "inner-untied-noprefix-f16", true },
        { "inverse-idx-bf16", true },
        { "legacy-nctx-unscaled-bf16-untied", false },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Committed_fixtures_match_the_reference(string name, bool fusedAttention)
    {
        var dir = FixtureDir(name);
        Assert.True(Directory.Exists(dir), $"missing committed fixture {dir}");
        Check(HfCheckpoint.Load(dir), dir, fusedAttention, batch: 6);
    }

    [Fact]
    public void The_hugging_face_tiny_random_gpt2_matches_the_reference()
    {
        var model = TestPaths.SharedFixture("tiny-random-gpt2");
        // One sequence per batch: lengths 1..512 padded to 512 would emulate four times the work.
        Check(HfCheckpoint.Load(model), FixtureDir("tiny-random-gpt2-reference"), fusedAttention: true, batch: 1);
    }

    /// <summary>Scores the sequences <paramref name="batch"/> at a time (mixed lengths share a batch: padding must not
    /// leak into real positions) and compares surprisal and the stored logit rows with the reference.</summary>
    private static void Check(Gpt2Weights weights, string refDir, bool fusedAttention, int batch)
    {
        var sequences = TokenIdsFile.Read(Path.Combine(refDir, "ids.txt"));
        var (wantSurprisal, _) = Npy.ReadDoubles(Path.Combine(refDir, "surprisal.npy"));
        var (rows, rowShape) = Npy.ReadInt64(Path.Combine(refDir, "logit_rows.npy"));
        var (wantLogits, logitShape) = Npy.ReadDoubles(Path.Combine(refDir, "logits.npy"));
        int v = weights.Config.VocabSize;
        Assert.Equal(v, logitShape[1]);

        using var backend = new EmuBackend(Precision.Fp32, fusedAttention, headChunk: 384);
        using var model = new Gpt2Model(backend, weights);
        var got = new List<float>();
        int r = (int)rowShape[0];
        var positions = Enumerable.Range(0, sequences.Count).Select(_ => new List<int>()).ToArray();
        for (int k = 0; k < r; k++) positions[rows[2 * k]].Add((int)rows[2 * k + 1]);
        var logits = new List<float>(); // the stored rows' logits, in the reference's order (sequence by sequence)
        for (int i = 0; i < sequences.Count; i += batch)
        {
            var seqs = sequences.Skip(i).Take(batch).ToList();
            foreach (var s in model.ScoreAll(seqs)) got.AddRange(s);
            logits.AddRange(model.Logits(seqs, positions.Skip(i).Take(batch).Select(p => p.ToArray()).ToArray()));
        }
        Assert.Equal(wantSurprisal.Length, got.Count);
        double maxErr = 0, sumErr = 0;
        int worst = 0;
        for (int i = 0; i < got.Count; i++)
        {
            double err = Math.Abs(got[i] - wantSurprisal[i]);
            sumErr += err;
            if (err > maxErr) (maxErr, worst) = (err, i);
        }
        var summary = string.Create(CultureInfo.InvariantCulture,
            $"{Path.GetFileName(refDir)} ({(fusedAttention ? "fused" : "unfused")} attention): surprisal abs error mean {sumErr / got.Count:E2}, max {maxErr:E2} bits over {got.Count} targets");
        TestContext.Current.SendDiagnosticMessage(summary);
        Assert.True(maxErr <= SurprisalAbsTol, $"{summary}; worst target {worst}: ours {got[worst]}, reference {wantSurprisal[worst]}");

        Assert.Equal(r * v, logits.Count);
        double worstRel = 0;
        for (int k = 0; k < r; k++)
        {
            double maxDiff = 0, maxRef = 0;
            for (int j = 0; j < v; j++)
            {
                double want = wantLogits[(long)k * v + j];
                maxDiff = Math.Max(maxDiff, Math.Abs(logits[k * v + j] - want));
                maxRef = Math.Max(maxRef, Math.Abs(want));
            }
            worstRel = Math.Max(worstRel, maxDiff / maxRef);
        }
        Assert.True(worstRel <= LogitRelTol, $"{Path.GetFileName(refDir)}: logits relative error {worstRel:E3} > {LogitRelTol:E0}");
    }
}

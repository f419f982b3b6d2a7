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
    public EmuParityTests() => EmuLibrary.Require();

    private static string FixtureDir(string name) => ParityCheck.FixtureDir(name);

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

    /// <summary>GPT-NeoX (tests/reference/gpt_neox_reference.py): the same kernels plus rotary and the exact GELU
    /// (backend defaults over host copies where the kernels have none).</summary>
    [Theory]
    [InlineData("parallel-rot025-f32")]
    [InlineData("sequential-rot1-f16")]
    [InlineData("odd-parallel-tanh-bf16")]
    [InlineData("pythia-like-bin-f32")]
    public void Neox_fixtures_match_the_reference(string name)
    {
        var dir = Path.Combine(TestPaths.RepoRoot, "tests", "fixtures", "parity-neox", name);
        Assert.True(Directory.Exists(dir), $"missing committed fixture {dir}");
        Check(HfCheckpoint.Load(dir), dir, fusedAttention: true, batch: 6);
    }

    private static void Check(Gpt2Weights weights, string refDir, bool fusedAttention, int batch)
    {
        using var backend = new EmuBackend(Precision.Fp32, fusedAttention, headChunk: 384);
        using var model = new Gpt2Model(backend, weights);
        var summary = ParityCheck.Run(model, refDir, batch);
        TestContext.Current.SendDiagnosticMessage($"{summary} ({(fusedAttention ? "fused" : "unfused")} attention)");
    }
}

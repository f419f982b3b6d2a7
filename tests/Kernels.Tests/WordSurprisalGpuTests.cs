using LearningCurves.Engine.Backends;
using LearningCurves.Engine.Checkpoints;
using LearningCurves.Engine.Model;
using LearningCurves.Tests.Common;
using Xunit;
using static LearningCurves.Kernels.Tests.GpuTestSupport;

namespace LearningCurves.Kernels.Tests;

/// <summary>Word surprisal through the CUDA backend (the software GPU where there is no device) against the float64
/// reference, the same check as the CPU's Engine.Tests.WordSurprisalTests.</summary>
[Trait("Category", "Gpu")]
[Collection("GPU")]
public class WordSurprisalGpuTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    public void Word_surprisal_matches_the_float64_reference_on_the_gpu(int batch)
    {
        using var be = Open(Precision.Fp32);
        using var model = new DecoderModel(be, HfCheckpoint.Load(ParityCheck.FixtureDir(WordSurprisalCheck.Case)));
        TestContext.Current.SendDiagnosticMessage(WordSurprisalCheck.Run(model, batch));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(32)]
    public void SentencePiece_word_surprisal_matches_the_float64_reference_on_the_gpu(int batch)
    {
        using var be = Open(Precision.Fp32);
        using var model = new DecoderModel(be, HfCheckpoint.Load(ParityCheck.FixtureDir(WordSurprisalCheck.SentencePieceCase)));
        TestContext.Current.SendDiagnosticMessage(WordSurprisalCheck.RunSentencePiece(model, batch));
    }
}

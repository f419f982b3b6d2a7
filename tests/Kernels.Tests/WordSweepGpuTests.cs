using LearningCurves.Engine.Backends;
using LearningCurves.Tests.Common;
using Xunit;
using static LearningCurves.Kernels.Tests.GpuTestSupport;

namespace LearningCurves.Kernels.Tests;

/// <summary>Word-target sweeps through the runner process with --backend cuda (the software GPU where there is no
/// device): the curve file's values are the word surprisals `score --words` gives for the same checkpoints on the
/// same backend, the body of Runner.Tests.WordSweepTests. Tolerances: 1e-3 bits at fp32, 1e-2 at bf16/tf32 (the two
/// commands run sequences of different lengths in different batches, for which a real GPU's cuBLAS may choose other
/// algorithms); the software GPU measured at most 7.6e-6 bits (the curve's float32 rounding).</summary>
[Trait("Category", "Gpu")]
[Collection("GPU")]
public class WordSweepGpuTests
{
    [Theory]
    [InlineData(null, "fp32", 1e-3)]
    [InlineData("sp-bpe", "fp32", 1e-3)]
    [InlineData(null, "bf16", 1e-2)]
    [InlineData("sp-bpe", "bf16", 1e-2)]
    [InlineData("sp-bpe", "tf32", 1e-2)]
    public void A_word_target_sweep_on_the_gpu_gives_the_word_surprisals_of_score_words(string? tokenizer, string precision, double tolerance)
    {
        using (Open(Precision.Fp32))
        {
            // Only opened to skip (or fail on the software GPU) the same way as every GPU test; the runner opens its own.
        }
        TestContext.Current.SendDiagnosticMessage(WordSweepCheck.Run("cuda", precision, tokenizer, tolerance));
    }
}

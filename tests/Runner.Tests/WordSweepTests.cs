using LearningCurves.Tests.Common;
using Xunit;

namespace LearningCurves.Runner.Tests;

/// <summary>Word-target sweeps through the runner on the CPU backend: the curve file's values are the word
/// surprisals `score --words` gives for the same checkpoints (the CUDA backend runs the same body in
/// Kernels.Tests.WordSweepGpuTests on the software GPU).</summary>
public class WordSweepTests
{
    [Theory]
    [InlineData(null, "fp32", 1e-4)]
    [InlineData("sp-bpe", "fp32", 1e-4)]
    [InlineData("llama-json-metaspace", "fp32", 1e-4)]
    [InlineData(null, "bf16", 1e-4)]
    [InlineData("sp-bpe", "bf16", 1e-4)]
    public void A_word_target_sweep_gives_the_word_surprisals_of_score_words(string? tokenizer, string precision, double tolerance) =>
        TestContext.Current.SendDiagnosticMessage(WordSweepCheck.Run("cpu", precision, tokenizer, tolerance));
}

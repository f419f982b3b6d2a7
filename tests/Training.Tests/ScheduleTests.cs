using LearningCurves.Engine;
using Xunit;
using LearningCurves.Formats;

namespace LearningCurves.Training.Tests;

public sealed class ScheduleTests
{
    [Fact]
    public void PaperFormulaGivesItsKnownSteps()
    {
        // step(n) = round(s0 t1/(s1-s0) (exp(n (s1-s0)/t1) - 1)): n = 0 -> 0, n = 1 -> 101, the 222nd (n = 221) just under 1M.
        Assert.Equal(0, CheckpointSchedule.PaperStep(0));
        Assert.Equal(101, CheckpointSchedule.PaperStep(1));
        Assert.InRange(CheckpointSchedule.PaperStep(221), 980_000, 1_000_000);
        Assert.True(CheckpointSchedule.PaperStep(222) > 1_000_000);
        Assert.Equal(221.75, CheckpointSchedule.PaperLastN, 2);
    }

    [Fact]
    public void ExponentialRescaledByHand()
    {
        // N = 1000, K = 4: step_k = round(1000 (250^(k/4) - 1) / 249) = 12, 59, 248, 1000.
        Assert.Equal(new long[] { 0, 12, 59, 248, 1000 }, CheckpointSchedule.Steps(ScheduleKind.Exponential, 1000, 4));
    }

    [Theory]
    [InlineData(ScheduleKind.Exponential, 500, 25)]
    [InlineData(ScheduleKind.Exponential, 30, 29)]
    [InlineData(ScheduleKind.Log, 1000, 20)]
    [InlineData(ScheduleKind.Linear, 100, 7)]
    [InlineData(ScheduleKind.Exponential, 1_000_000, 221)]
    public void StepsStartAtZeroEndAtNAndIncrease(ScheduleKind kind, int n, int k)
    {
        var s = CheckpointSchedule.Steps(kind, n, k);
        Assert.Equal(k + 1, s.Length);
        Assert.Equal(0, s[0]);
        Assert.Equal(n, s[^1]);
        for (int i = 1; i < s.Length; i++) Assert.True(s[i] > s[i - 1], $"step {i}: {s[i]} after {s[i - 1]}");
        if (kind == ScheduleKind.Exponential && n > 10 * k)
        {
            // Gaps grow: the last gap is much larger than the first.
            Assert.True(s[^1] - s[^2] > 10 * (s[2] - s[1]), string.Join(",", s));
        }
    }

    [Fact]
    public void LinearIsEven() => Assert.Equal(new long[] { 0, 25, 50, 75, 100 }, CheckpointSchedule.Steps(ScheduleKind.Linear, 100, 4));

    [Fact]
    public void BadSchedulesAreUserErrors()
    {
        Assert.Throws<UserError>(() => CheckpointSchedule.Steps(ScheduleKind.Linear, 5, 6));
        Assert.Throws<UserError>(() => CheckpointSchedule.Parse("cosine"));
    }

    [Fact]
    public void LearningRateWarmsUpThenDecaysLinearly()
    {
        var o = new OptimizerSettings { LearningRate = 1f, WarmupSteps = 4, FinalLearningRateFraction = 0.1f };
        Assert.Equal(0.25f, o.LearningRateAt(1, 14), 6);
        Assert.Equal(1f, o.LearningRateAt(4, 14), 6);
        Assert.Equal(0.55f, o.LearningRateAt(9, 14), 6);
        Assert.Equal(0.1f, o.LearningRateAt(14, 14), 6);
        Assert.Throws<ArgumentOutOfRangeException>(() => o.LearningRateAt(15, 14));
    }
}

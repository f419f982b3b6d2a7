using LearningCurves.Engine;
using LearningCurves.Formats;

namespace LearningCurves.Training;

/// <summary>Which steps a pre-training run saves.</summary>
public enum ScheduleKind
{
    /// <summary>The paper's schedule: step(n) = round(s0 t1 / (s1 - s0) (exp(n (s1 - s0) / t1) - 1)).</summary>
    Exponential,
    /// <summary>Log-spaced from step 1 to the last step.</summary>
    Log,
    /// <summary>Evenly spaced.</summary>
    Linear,
}

/// <summary>Checkpoint steps: step 0 plus K more, the last at the final step, strictly increasing.</summary>
public static class CheckpointSchedule
{
    // The paper's constants (Chang, Tu & Bergen 2024): s0 = 100 steps between checkpoints at the start, s1 = 25,000 at
    // the end, t1 = 1M steps in all; n runs 0..221 for its 222 checkpoints.
    public const double S0 = 100, S1 = 25_000, T1 = 1_000_000;

    /// <summary>The paper's step(n) for its own 1M-step run.</summary>
    public static long PaperStep(double n) => (long)Math.Round(S0 * T1 / (S1 - S0) * (Math.Exp(n * (S1 - S0) / T1) - 1));

    /// <summary>The n at which the paper's step(n) reaches t1 (about 221.7).</summary>
    public static double PaperLastN => T1 / (S1 - S0) * Math.Log(1 + (S1 - S0) / S0);

    public static ScheduleKind Parse(string text) => text switch
    {
        "exponential" => ScheduleKind.Exponential,
        "log" => ScheduleKind.Log,
        "linear" => ScheduleKind.Linear,
        _ => throw new UserError($"--schedule must be exponential, log or linear (got '{text}')"),
    };

    /// <summary>
    /// Step 0 and <paramref name="checkpoints"/> more steps ending at <paramref name="steps"/>. Exponential: the paper's
    /// curve with n stretched so that k = 1..K maps to n = k * 221.7 / K and the step axis scaled so the last lands on
    /// <paramref name="steps"/>: step_k = round(N (exp(n_k r) - 1) / (exp(n_K r) - 1)), r = (s1 - s0) / t1. Steps that
    /// round onto an earlier one are pushed one past it, so all are distinct.
    /// </summary>
    public static long[] Steps(ScheduleKind kind, int steps, int checkpoints)
    {
        if (steps < 1) throw new UserError($"--steps must be positive (got {steps})");
        if (checkpoints < 1) throw new UserError($"--checkpoints must be positive (got {checkpoints})");
        if (checkpoints > steps) throw new UserError($"--checkpoints ({checkpoints}) cannot exceed --steps ({steps})");
        var result = new long[checkpoints + 1];
        double r = (S1 - S0) / T1, lastN = PaperLastN, denom = Math.Exp(lastN * r) - 1;
        for (int k = 1; k <= checkpoints; k++)
        {
            double f = (double)k / checkpoints;
            double x = kind switch
            {
                ScheduleKind.Exponential => steps * (Math.Exp(f * lastN * r) - 1) / denom,
                ScheduleKind.Log => Math.Exp(f * Math.Log(steps)),
                _ => steps * f,
            };
            result[k] = Math.Max((long)Math.Round(x), result[k - 1] + 1);
        }
        // Pushing collisions forward can overshoot; pull the tail back so it ends exactly at the last step.
        result[checkpoints] = steps;
        for (int k = checkpoints - 1; k >= 1; k--) result[k] = Math.Min(result[k], result[k + 1] - 1);
        return result;
    }
}

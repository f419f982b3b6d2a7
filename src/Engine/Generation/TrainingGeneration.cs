namespace LearningCurves.Engine.Generation;

/// <summary>
/// Which checkpoints and prompts generation along training uses: the checkpoints nearest each power of ten of the
/// step count, and prompts drawn evenly from the eval set (<see cref="GenerationStage"/> runs them).
/// </summary>
public static class TrainingGeneration
{
    /// <summary>The longest prompt used, in tokens.</summary>
    public const int MaxPromptTokens = 64;

    /// <summary>
    /// Indices of the checkpoints nearest (in log10 step) each power of ten from the first positive step's decade to
    /// the last step's, plus the last checkpoint (the trained model), each index once, in step order. Step 0 is never
    /// chosen (it has no log); a power further than half a decade from every checkpoint is skipped.
    /// </summary>
    public static int[] NearestToPowersOfTen(IReadOnlyList<long> steps)
    {
        ArgumentNullException.ThrowIfNull(steps);
        var positive = Enumerable.Range(0, steps.Count).Where(i => steps[i] > 0).ToList();
        if (positive.Count == 0) return [];
        double lo = positive.Min(i => Math.Log10(steps[i])), hi = positive.Max(i => Math.Log10(steps[i]));
        var chosen = new HashSet<int>();
        for (int k = (int)Math.Floor(lo); k <= (int)Math.Ceiling(hi); k++)
        {
            int best = positive.MinBy(i => Math.Abs(Math.Log10(steps[i]) - k));
            if (Math.Abs(Math.Log10(steps[best]) - k) <= 0.5) chosen.Add(best);
        }
        chosen.Add(positive.MaxBy(i => steps[i]));
        return chosen.OrderBy(i => steps[i]).ThenBy(i => i).ToArray();
    }

    /// <summary>
    /// Prompts from an eval set's sequences (rows of <paramref name="sequences"/>, each <paramref name="seqLen"/> long):
    /// <paramref name="count"/> sequences spread evenly over the set, each cut to its first
    /// min(<see cref="MaxPromptTokens"/>, seqLen / 2) tokens so a continuation has room.
    /// </summary>
    public static int[][] PromptsFromEvalSet(ReadOnlySpan<int> sequences, int seqLen, int count)
    {
        if (seqLen < 2) throw new ArgumentOutOfRangeException(nameof(seqLen), "sequences need at least 2 tokens");
        int n = sequences.Length / seqLen;
        if (n == 0 || count <= 0) return [];
        count = Math.Min(count, n);
        int len = Math.Min(MaxPromptTokens, seqLen / 2);
        var prompts = new int[count][];
        for (int i = 0; i < count; i++)
        {
            int s = (int)((long)i * n / count);
            prompts[i] = sequences.Slice(s * seqLen, len).ToArray();
        }
        return prompts;
    }
}

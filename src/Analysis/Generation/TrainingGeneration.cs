using LearningCurves.Engine;
using LearningCurves.Engine.Backends;
using LearningCurves.Engine.Model;

namespace LearningCurves.Analysis.Generation;

/// <summary>One checkpoint of a run: its training step and where its weights are.</summary>
public sealed record RunCheckpoint(long Step, string Path);

/// <summary>The text generated at one checkpoint and how repetitive it is (mean over prompts).</summary>
public sealed record CheckpointGeneration(string Run, long Step, string Path, int[][] Prompts, int[][] Outputs,
    RepetitionStats Mean, IReadOnlyList<RepetitionStats> PerPrompt);

/// <summary>
/// Generated text along training, the paper's section on generated text made measurable: at the checkpoints nearest
/// each power of ten of the step count, continue the same prompts (drawn from the eval set) and measure repetition.
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

    /// <summary>
    /// Generates from every prompt at each given checkpoint of each run. <paramref name="load"/> reads a checkpoint's
    /// weights (the caller's loader, e.g. HfCheckpoint.Load); <paramref name="log"/> gets one line per checkpoint.
    /// </summary>
    public static List<CheckpointGeneration> Run(IBackend backend, IReadOnlyList<(string Run, IReadOnlyList<RunCheckpoint> Checkpoints)> runs,
        IReadOnlyList<int[]> prompts, GenerationOptions options, Func<string, Gpt2Weights> load, TextWriter? log = null)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(runs);
        ArgumentNullException.ThrowIfNull(prompts);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(load);
        if (prompts.Count == 0) throw new UserError("generation needs at least one prompt");
        foreach (var p in prompts)
        {
            if (p.Length > MaxPromptTokens) throw new UserError($"a prompt has {p.Length} tokens; at most {MaxPromptTokens} are allowed");
        }
        var results = new List<CheckpointGeneration>();
        foreach (var (run, checkpoints) in runs)
        {
            foreach (var cp in checkpoints)
            {
                var sw = System.Diagnostics.Stopwatch.StartNew();
                var weights = load(cp.Path);
                using var gen = new Gpt2Generator(backend, weights);
                var outputs = gen.Generate(prompts, options);
                var per = outputs.Select(o => TextRepetition.Measure(o)).ToList();
                var mean = TextRepetition.Mean(per);
                results.Add(new CheckpointGeneration(run, cp.Step, cp.Path, prompts.ToArray(), outputs, mean, per));
                log?.WriteLine($"generate: {run} step {cp.Step}: {prompts.Count} prompts, repeated 2-grams {mean.RepeatedShare[1]:F2}, " +
                               $"distinct-2 {mean.DistinctN[1]:F2} ({sw.Elapsed.TotalSeconds:F1} s)");
            }
        }
        return results;
    }
}

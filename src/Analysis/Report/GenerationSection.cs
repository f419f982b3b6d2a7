using LearningCurves.Analysis.Generation;
using LearningCurves.Formats.Runs;

namespace LearningCurves.Analysis.Report;

/// <summary>
/// The generated-text section from the runs' generations.jsonl (written by the engine's generation stage): per run and
/// checkpoint, the repetition measures of each continuation (<see cref="TextRepetition"/>, on its token ids) averaged
/// over the prompts, and prompt 0 with its continuation as the sample.
/// </summary>
internal static class GenerationSection
{
    /// <summary>Null when no run has generated text.</summary>
    public static GenerationView? Read(IReadOnlyList<SweepRun> runs)
    {
        ArgumentNullException.ThrowIfNull(runs);
        var rows = new List<GenerationRow>();
        GenerationRecord? first = null;
        foreach (var run in runs)
        {
            if (!File.Exists(run.Generations)) continue;
            var records = GenerationsFile.Read(run.Generations);
            first ??= records.FirstOrDefault();
            // Records come checkpoint by checkpoint, in step order: each run of equal steps is one checkpoint.
            for (int i = 0; i < records.Count;)
            {
                int j = i;
                while (j < records.Count && records[j].Step == records[i].Step) j++;
                var group = records.GetRange(i, j - i);
                var mean = TextRepetition.Mean(group.Select(r => TextRepetition.Measure(r.Ids)).ToList());
                var sample = group.Find(r => r.Prompt == 0) ?? group[0];
                rows.Add(new GenerationRow(run.Name, records[i].Step, mean, group.Count, sample.PromptText, sample.Text));
                i = j;
            }
        }
        return first is null ? null : new GenerationView(rows, first.Temperature, first.MaxTokens, first.Seed);
    }
}

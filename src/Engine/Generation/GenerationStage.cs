using System.Diagnostics;
using System.Globalization;
using LearningCurves.Engine.Backends;
using LearningCurves.Engine.Checkpoints;
using LearningCurves.Engine.EvalSets;
using LearningCurves.Engine.Model;
using LearningCurves.Formats;
using LearningCurves.Formats.EvalSets;
using LearningCurves.Formats.Tokenization;
using LearningCurves.Formats.Runs;

namespace LearningCurves.Engine.Generation;

/// <summary>What the generation stage reads and how it samples.</summary>
public sealed record GenerationStageOptions
{
    public required string SweepDir { get; init; }

    /// <summary>The eval set the prompts come from; null: the one the run manifests name.</summary>
    public string? EvalSetDir { get; init; }

    /// <summary>A tokenizer folder for the texts (see TextTokenizer.Load); null: the eval set's tokenizer.</summary>
    public string? TokenizerDir { get; init; }

    public GenerationOptions Generation { get; init; } = new() { Temperature = 0.3, MaxTokens = 128, Seed = 0 };

    /// <summary>Prompts drawn from the eval set (<see cref="TrainingGeneration.PromptsFromEvalSet"/>).</summary>
    public int Prompts { get; init; } = 8;

    /// <summary>Only these runs (folder names); null: every run of the sweep.</summary>
    public IReadOnlyCollection<string>? Runs { get; init; }

    /// <summary>Keep a run's generations.jsonl when it already holds exactly what this stage would write (the same
    /// checkpoints, prompts and sampling settings); false: always generate anew.</summary>
    public bool KeepCurrent { get; init; }

    /// <summary>Called, once the backend is made and before any file is written, for each model config the stage will
    /// generate with (with the first checkpoint folder that has it): the backend, the config, whether its head is
    /// untied (config.json's tie_word_embeddings) and the longest sequence generated (the longest prompt plus
    /// <see cref="GenerationOptions.MaxTokens"/>, at most n_positions); a <see cref="UserError"/> it throws stops the
    /// stage. `analyze` and `generate-along` check that the weights and that sequence fit the GPU.</summary>
    public Action<IBackend, ModelConfig, bool, int, string>? CheckFits { get; init; }
}

/// <summary>What the stage did: one note per thing the report should say (runs without checkpoints, missing
/// folders), and the runs whose file it wrote or kept.</summary>
public sealed record GenerationStageResult(IReadOnlyList<string> Notes, IReadOnlyList<string> Written, IReadOnlyList<string> Kept);

/// <summary>
/// Generation along training, an engine stage: for each run of a sweep, at the checkpoints nearest each power of ten
/// of the step count (<see cref="TrainingGeneration.NearestToPowersOfTen"/>, from the run's manifest), continue the
/// same prompts from the eval set and write every continuation to the run's <c>generations.jsonl</c>
/// (<see cref="GenerationsFile"/>) next to its curve file. Analysis measures the text from that file; it never loads
/// a model. The backend is made only when something is generated.
/// </summary>
public static class GenerationStage
{
    public static GenerationStageResult Run(GenerationStageOptions o, Func<IBackend> backend, TextWriter log)
    {
        ArgumentNullException.ThrowIfNull(o);
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(log);
        o.Generation.Validate();
        var runs = SweepFolder.Runs(o.SweepDir).ToList();
        if (o.Runs is not null)
        {
            var unknown = o.Runs.Where(n => runs.All(r => r.Name != n)).ToList();
            if (unknown.Count > 0) throw UserError.InFile(o.SweepDir, $"no run folder named {string.Join(", ", unknown)}");
            runs = runs.Where(r => o.Runs.Contains(r.Name)).ToList();
        }
        var manifests = runs.Select(r => RunManifest.Read(r.Manifest)).ToList();
        var eval = EvalSet.Load(EvalSetSources.EvalSetDir(o.SweepDir, manifests, o.EvalSetDir));
        var tokenizer = EvalSetSources.Tokenizer(eval, o.TokenizerDir);
        var notes = new List<string>();
        var plans = Plan(runs, manifests, notes);
        if (plans.Count == 0)
        {
            notes.Add("no checkpoints were available for generation");
            return new GenerationStageResult(notes, [], []);
        }
        var prompts = TrainingGeneration.PromptsFromEvalSet(eval.Tokens, eval.SeqLen, o.Prompts);
        if (prompts.Length == 0) throw new UserError("generation needs at least one prompt");
        var promptTexts = prompts.Select(p => TokenText.Decode(tokenizer, p)).ToArray();

        var written = new List<string>();
        var kept = new List<string>();
        var todo = new List<(SweepRun Run, IReadOnlyList<(long Step, string Path)> Checkpoints)>();
        foreach (var (run, checkpoints) in plans)
        {
            if (o.KeepCurrent && IsCurrent(run.Generations, run.Name, checkpoints, prompts, promptTexts, o.Generation))
            {
                log.WriteLine($"generate: {run.Name}: {run.Generations} is up to date");
                kept.Add(run.Name);
                continue;
            }
            todo.Add((run, checkpoints));
        }
        if (todo.Count == 0) return new GenerationStageResult(notes, written, kept);

        using var be = backend();
        // Before any file is written: every model generated with must fit the device.
        if (o.CheckFits is { } fits)
        {
            int longestPrompt = prompts.Max(p => p.Length);
            var seen = new HashSet<ModelConfig>();
            foreach (var (_, path) in todo.SelectMany(r => r.Checkpoints))
            {
                var cfg = HfConfig.LoadFromFolder(path);
                if (seen.Add(cfg)) fits(be, cfg, !cfg.TieWordEmbeddings, Math.Max(1, Math.Min(cfg.MaxPositions, longestPrompt + o.Generation.MaxTokens)), path);
            }
        }
        foreach (var (run, checkpoints) in todo)
        {
            var records = new List<GenerationRecord>();
            foreach (var (step, path) in checkpoints)
            {
                var sw = Stopwatch.StartNew();
                int[][] outputs;
                // Streamed from the mapped files on a GPU backend, float32 host weights on the CPU.
                using (var gen = DecoderModel.Open(be, path)) outputs = gen.Generate(prompts, o.Generation);
                for (int i = 0; i < prompts.Length; i++)
                {
                    records.Add(new GenerationRecord(run.Name, step, path, i, prompts[i], promptTexts[i], outputs[i],
                        TokenText.Decode(tokenizer, outputs[i]), o.Generation.Temperature, o.Generation.MaxTokens, o.Generation.Seed));
                }
                long tokens = outputs.Sum(x => (long)x.Length);
                log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"generate: {run.Name} step {step}: {prompts.Length} prompts, {tokens} tokens ({sw.Elapsed.TotalSeconds:F1} s)"));
            }
            GenerationsFile.Write(run.Generations, records);
            written.Add(run.Name);
        }
        return new GenerationStageResult(notes, written, kept);
    }

    /// <summary>Per run, the chosen checkpoints whose folders still exist; a note for each run that lists none and
    /// for chosen folders that are gone.</summary>
    internal static List<(SweepRun Run, IReadOnlyList<(long Step, string Path)> Checkpoints)> Plan(IReadOnlyList<SweepRun> runs,
        IReadOnlyList<RunManifest?> manifests, List<string> notes)
    {
        var plans = new List<(SweepRun, IReadOnlyList<(long, string)>)>();
        for (int r = 0; r < runs.Count; r++)
        {
            var cps = manifests[r]?.Checkpoints;
            if (cps is null)
            {
                notes.Add($"run {runs[r].Name}: its manifest lists no checkpoints, so no text was generated for it");
                continue;
            }
            var picked = TrainingGeneration.NearestToPowersOfTen(cps.Select(c => c.Step).ToList());
            var present = picked.Select(i => cps[i]).Where(c => Directory.Exists(c.Path)).ToList();
            if (present.Count < picked.Length) notes.Add($"run {runs[r].Name}: {picked.Length - present.Count} chosen checkpoint folder(s) no longer exist; skipped");
            if (present.Count > 0) plans.Add((runs[r], present));
        }
        return plans;
    }

    /// <summary>Whether <paramref name="path"/> holds the records this stage would write: the same run, checkpoints in
    /// order, prompts (ids and text, so the same tokenizer) and sampling settings; the sampled ids are not compared
    /// (sampling is seeded). A missing or unreadable file is not current.</summary>
    internal static bool IsCurrent(string path, string run, IReadOnlyList<(long Step, string Path)> checkpoints, int[][] prompts,
        string[] promptTexts, GenerationOptions g)
    {
        if (!File.Exists(path)) return false;
        List<GenerationRecord> records;
        try
        {
            records = GenerationsFile.Read(path);
        }
        catch (UserError)
        {
            return false;
        }
        if (records.Count != checkpoints.Count * prompts.Length) return false;
        for (int k = 0, n = 0; k < checkpoints.Count; k++)
        {
            for (int i = 0; i < prompts.Length; i++, n++)
            {
                var r = records[n];
                if (r.Run != run || r.Step != checkpoints[k].Step || r.Checkpoint != checkpoints[k].Path || r.Prompt != i
                    || !r.PromptIds.AsSpan().SequenceEqual(prompts[i]) || r.PromptText != promptTexts[i]
                    || r.Temperature != g.Temperature || r.MaxTokens != g.MaxTokens || r.Seed != g.Seed)
                    return false;
            }
        }
        return true;
    }
}

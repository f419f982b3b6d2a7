using System.Diagnostics;
using LearningCurves.Analysis.Metrics;
using LearningCurves.Analysis.NGrams;
using LearningCurves.Analysis.Phases;
using LearningCurves.Analysis.Predictors;
using LearningCurves.Analysis.Statistics;
using LearningCurves.Formats;
using LearningCurves.Formats.IO;
using LearningCurves.Formats.EvalSets;
using LearningCurves.Formats.Curves;
using LearningCurves.Formats.Runs;

namespace LearningCurves.Analysis.Report;

/// <summary>What `analyze` reads and how.</summary>
public sealed record AnalyzeOptions
{
    public required string SweepDir { get; init; }
    public required string OutDir { get; init; }

    /// <summary>Training text files (tokenized, one sequence per line packed like the eval set); or use <see cref="TrainIds"/>.</summary>
    public IReadOnlyList<string> TrainText { get; init; } = [];

    /// <summary>Training token ids: .npy int32 (N, T) or a text file of whitespace-separated ids, one sequence per line.</summary>
    public string? TrainIds { get; init; }

    /// <summary>The eval set folder; null: the one the sweep's manifests name.</summary>
    public string? EvalSetDir { get; init; }

    /// <summary>A tokenizer folder (see TextTokenizer.Load); null: the eval set's tokenizer, else the built-in GPT-2 one.</summary>
    public string? TokenizerDir { get; init; }

    /// <summary>Chance surprisal in bits; null: log2 of the eval set's vocabulary size.</summary>
    public double? ChanceBits { get; init; }

    public int Last { get; init; } = 11;
    public bool PruneNGrams { get; init; }

    /// <summary>Report the text generated along training from each run's generations.jsonl (the engine's generation
    /// stage writes them; the runner runs it first); false: the section says it was skipped (--no-generate).</summary>
    public bool Generation { get; init; }

    /// <summary>Keep checkpoint rows the sweep marked duplicate_of (left out by default, with a note).</summary>
    public bool KeepDuplicates { get; init; }

    /// <summary>What the generation stage had to say (runs without checkpoints, missing folders), for the report's notes.</summary>
    public IReadOnlyList<string> GenerationNotes { get; init; } = [];

    /// <summary>The runs whose generations.jsonl the generation stage wrote or found current; null: every run that has
    /// one. A run left out (its checkpoints are gone) is not reported from an older file.</summary>
    public IReadOnlyCollection<string>? GenerationRuns { get; init; }

    /// <summary>Embed the smoothed curves with UMAP (metrics/umap.npy and the report's UMAP plots); false: a note says
    /// it was skipped (--no-umap).</summary>
    public bool Umap { get; init; } = true;

    /// <summary>Examples per block when writing the table.</summary>
    public int Block { get; init; } = 65536;
}

/// <summary>
/// `analyze`, a pipeline over files: the sweep's curve files -> metrics (MetricsRunner), predictors from the training
/// corpus (<see cref="TrainingCorpus"/>), regressions, learning phases, the generated text along training from the
/// runs' generations.jsonl (<see cref="GenerationSection"/>) -> the per-example table (<see cref="AnalysisTable"/>),
/// stats (<see cref="StatsJson"/>, <see cref="StatsMarkdown"/>), figures and report.html (<see cref="ReportWriter"/>).
/// It reads files and never runs a model. Each stage reports its time on the log. Every file appears only whole
/// (<see cref="AtomicFile"/>, <see cref="StagedFile"/>); the files that say the analysis finished (stats.json,
/// stats.md, report.html) are removed before anything is written and appear together, last, so an analysis stopped
/// part-way (a full disk) leaves none of them, not even an earlier run's.
/// </summary>
public static class Analyzer
{
    public const string TableCsv = "examples.csv";
    public const string TableParquet = "examples.parquet";
    public const string StatsJsonFile = "stats.json";
    public const string StatsMarkdownFile = "stats.md";
    public const string MetricsDir = "metrics";

    private static readonly string[] PerRunMetrics = Metric.Names(Metric.PerRun);

    /// <summary>The files whose presence says the analysis finished: written last, committed together.</summary>
    private static readonly string[] FinishedFiles = [StatsJsonFile, StatsMarkdownFile, ReportWriter.HtmlFile];

    /// <summary><paramref name="bytes"/> staged for <paramref name="path"/>: written, not yet visible.</summary>
    private static StagedFile Staged(string path, byte[] bytes)
    {
        var file = new StagedFile(path);
        try
        {
            File.WriteAllBytes(file.TempPath, bytes);
            return file;
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>The checks on the options that need no computation (the training corpus is given once and its files
    /// exist), so that a runner can make them before it runs anything else.</summary>
    public static void Check(AnalyzeOptions o)
    {
        ArgumentNullException.ThrowIfNull(o);
        if (o.TrainText.Count == 0 == (o.TrainIds is null))
            throw new UserError("analyze: give the training corpus as --train-text FILE... or --train-ids FILE (one of them)");
        foreach (var f in o.TrainIds is { } ids ? [ids] : o.TrainText)
        {
            if (!File.Exists(f)) throw UserError.InFile(f, "file not found");
        }
    }

    public static ReportData Run(AnalyzeOptions o, TextWriter log)
    {
        ArgumentNullException.ThrowIfNull(log);
        Check(o);
        var total = Stopwatch.StartNew();
        var clock = Stopwatch.StartNew();
        void Stage(string what)
        {
            log.WriteLine($"analyze: {what} ({clock.Elapsed.TotalSeconds:F1} s)");
            clock.Restart();
        }
        Directory.CreateDirectory(o.OutDir);
        var notes = new List<string>();

        // 1. The sweep: runs, steps, checkpoints, eval set.
        var runs = SweepFolder.Runs(o.SweepDir);
        var runNames = runs.Select(r => r.Name).ToList();
        long[] allSteps = MetricsInputs.ReadSteps(runs[0].Steps);
        // Duplicate checkpoints (an earlier branch serving a later step's weights) are left out unless asked for.
        var kept = MetricsInputs.KeptCheckpoints(runs, allSteps, o.KeepDuplicates, out string? duplicateNote);
        if (duplicateNote is not null) notes.Add(duplicateNote);
        long[] steps = kept.Select(i => allSteps[i]).ToArray();
        var manifests = runs.Select(r => RunManifest.Read(r.Manifest)).ToList();
        string evalDir = EvalSetSources.EvalSetDir(o.SweepDir, manifests, o.EvalSetDir);
        var eval = EvalSet.Load(evalDir);
        var tokenizer = EvalSetSources.Tokenizer(eval, o.TokenizerDir);
        double chance = o.ChanceBits ?? Math.Log2(eval.VocabSize);
        var curveHeader = Npy.ReadHeader(runs[0].Curves);
        if (curveHeader.Shape.Length != 2 || curveHeader.Shape[1] != eval.Examples)
            throw UserError.InFile(runs[0].Curves, $"shape ({string.Join(", ", curveHeader.Shape)}) does not match the eval set's {eval.Examples} examples ({evalDir})");
        int examples = eval.Examples;
        var pos = Annotations.PosTags(eval, tokenizer, notes);
        Stage($"{runs.Count} runs x {steps.Length} checkpoints x {examples} examples; eval set {evalDir}");

        // Nothing of an earlier analysis that reads as finished stays beside this one's outputs until they are all written.
        foreach (var f in FinishedFiles) File.Delete(Path.Combine(o.OutDir, f));

        // 2. The curves, read once for every stage; metrics (per run, run-averaged, cross-run), also written into OUT/metrics.
        var curves = ReadCurves(runs, kept, allSteps.Length);
        string metricsDir = Path.Combine(o.OutDir, MetricsDir);
        MetricsRunner.Run(curves, runs[0].Steps, steps, new MetricsOptions { Last = Math.Min(o.Last, steps.Length), ChanceBits = chance },
            metricsDir, null, out var metrics);
        var perRun = Metric.PerRun.ToDictionary(m => m.Name, metrics.PerRunValues, StringComparer.Ordinal);
        var averaged = Metric.All.ToDictionary(m => m.Name, metrics.AveragedValues, StringComparer.Ordinal);
        Stage("metrics");
        if (!o.Umap) notes.Add("the UMAP embedding of the curves was skipped (--no-umap)");
        var umap = o.Umap ? Annotations.Umap(metricsDir, examples, log, notes) : null;
        if (umap is not null) Stage("UMAP of the smoothed curves");

        // 3. Predictors from the training corpus.
        var train = TrainingCorpus.Read(o, tokenizer, eval);
        long trainTokens = train.Sum(s => (long)s.Length);
        var popts = new PredictorOptions(o.PruneNGrams ? new NGramOptions(Prune: true) : null);
        CorpusStatistics corpus;
        try
        {
            corpus = CorpusStatistics.Build(() => train.Select(s => (ReadOnlyMemory<int>)s), eval.VocabSize, popts);
        }
        catch (ArgumentOutOfRangeException e)
        {
            throw new UserError($"analyze: the training corpus has a token id outside the eval set's vocabulary ({eval.VocabSize}): {e.Message.Split('\n')[0]}");
        }
        var evalSeqs = Enumerable.Range(0, eval.SequenceCount).Select(s => (ReadOnlyMemory<int>)eval.Tokens.AsMemory(s * eval.SeqLen, eval.SeqLen)).ToList();
        var exampleList = Enumerable.Range(0, examples).Select(i => new Example(eval.Targets[2 * i], eval.Targets[2 * i + 1])).ToList();
        var predictors = PredictorTable.Compute(corpus, evalSeqs, exampleList, popts);
        var logFreq = exampleList.Select(ex =>
        {
            long c = corpus.NGrams.UnigramCount(eval.Tokens[ex.Sequence * eval.SeqLen + ex.Position]);
            return c > 0 ? Math.Log10(c) : double.NaN;
        }).ToArray();
        Stage($"predictors from {train.Count} training sequences ({trainTokens} tokens)");

        // 4. The per-example table.
        AnalysisTable.Write(o, eval, tokenizer, runNames, averaged, perRun, predictors, logFreq, pos);
        Stage($"table ({TableCsv}, {TableParquet})");

        // 5. Statistics.
        var posIndicators = pos is null ? null : Annotations.Indicators(pos);
        if (pos is not null) notes.Add($"POS indicators in the regressions: {(posIndicators!.Count == 0 ? "none (fewer than two tags with 20 examples)" : string.Join(", ", posIndicators.Select(p => p.Name)) + $"; reference level {Annotations.ReferenceLevel(pos)} (with the tags of fewer than {Annotations.MinIndicatorCount} examples)")}");
        var regression = Regressions.Fit(averaged, predictors, examples, notes, posIndicators);
        var posBreakdown = pos is null ? null : Annotations.Breakdown(pos, averaged);
        var correlations = MetricCorrelations.Compute(PerRunMetrics, PerRunMetrics.Select(m => (IReadOnlyList<double[]>)perRun[m]).ToList());
        Stage("regressions and correlations");

        // 6. Learning phases.
        var phases = LearningPhaseAnalysis.Compute(curves.Select(c => c.Rows).ToList(), predictors.NGramSurprisal, steps);
        var gallery = ExampleGallery.Build(steps, curves[0].Rows, perRun, averaged, chance, eval, tokenizer);
        curves.Clear(); // the largest arrays of the analysis; let them go before the report
        Stage("learning phases");

        // 7. Generated text along training.
        GenerationView? generation = null;
        if (!o.Generation)
        {
            notes.Add("generation along training was skipped (--no-generate)");
        }
        else
        {
            notes.AddRange(o.GenerationNotes);
            generation = GenerationSection.Read(o.GenerationRuns is { } only ? runs.Where(r => only.Contains(r.Name)).ToList() : runs);
            Stage("generated text");
        }

        var data = new ReportData
        {
            Title = $"Learning curves of {string.Join(", ", runNames)}",
            Suite = new SuiteSummary(runNames, steps.Length, steps.Min(), steps.Max(), examples, evalDir, trainTokens,
                o.TrainIds is not null ? Path.GetFileName(o.TrainIds) : string.Join(", ", o.TrainText.Select(Path.GetFileName)), chance),
            Gallery = gallery,
            Metrics = Metric.All.Select(m => new MetricSummary(m.Name, m.Description, averaged[m.Name])).ToList(),
            LogFrequency = logFreq,
            Correlations = new CorrelationView(PerRunMetrics, correlations.RunAveraged, correlations.Concatenated,
                PerRunMetrics.Select((m, i) => (m, correlations.BetweenRuns[i].Mean, correlations.BetweenRuns[i].Sd)).ToList()),
            Stats = regression is null ? null : ReportViews.ToView(regression),
            Phases = ReportViews.ToView(phases),
            Generation = generation,
            PosBreakdown = posBreakdown,
            UmapFigures = umap is null ? [] : Annotations.UmapFigures(umap, averaged, logFreq, pos),
            Notes = notes,
            Files =
            [
                (TableCsv, "one row per example: run-averaged metrics, per-run metrics, predictors, n-gram surprisals"),
                (TableParquet, "the same table as Parquet"),
                (StatsJsonFile, "regressions (statsmodels layout), metric correlations, learning phases, generation"),
                (StatsMarkdownFile, "the statistics as Markdown tables"),
                ($"{MetricsDir}/", "per_run.csv, examples.csv and smoothed.npy from the metrics stage, and umap.npy (the UMAP embedding of the smoothed curves)"),
            ],
        };
        var (page, _) = ReportWriter.WritePlots(data, o.OutDir);
        using (var statsJson = Staged(Path.Combine(o.OutDir, StatsJsonFile), StatsJson.Build(regression, correlations, phases, generation)))
        using (var statsMarkdown = Staged(Path.Combine(o.OutDir, StatsMarkdownFile),
            System.Text.Encoding.UTF8.GetBytes(StatsMarkdown.Text(regression, correlations, phases, generation)
                + (posBreakdown is null ? "" : Annotations.BreakdownMarkdown(posBreakdown)))))
        using (var html = Staged(Path.Combine(o.OutDir, ReportWriter.HtmlFile), page))
        {
            StagedFile.CommitAll(statsJson, statsMarkdown, html);
        }
        Stage("report");
        log.WriteLine($"analyze: done in {total.Elapsed.TotalSeconds:F1} s -> {Path.Combine(o.OutDir, ReportWriter.HtmlFile)}");
        return data;
    }

    /// <summary>The <paramref name="kept"/> checkpoints of each run's curve file of (<paramref name="checkpoints"/>,
    /// examples), in memory.</summary>
    private static List<LoadedCurves> ReadCurves(IReadOnlyList<SweepRun> runs, int[] kept, int checkpoints)
    {
        var files = new List<CurveFileReader>();
        try
        {
            for (int r = 0; r < runs.Count; r++) files.Add(new CurveFileReader(runs[r].Curves, CurveLayout.CheckpointsFirst, r, kept));
            MetricsRunner.CheckSameShape(files);
            foreach (var f in files)
            {
                if (f.StoredCheckpoints != checkpoints)
                    throw UserError.InFile(f.Path, $"expected ({checkpoints}, {f.Examples}) curves, found ({f.StoredCheckpoints}, {f.Examples})");
            }
            return files.Select(LoadedCurves.Read).ToList();
        }
        finally
        {
            foreach (var f in files) f.Dispose();
        }
    }
}

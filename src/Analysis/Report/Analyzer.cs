using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using LearningCurves.Analysis.Generation;
using LearningCurves.Analysis.Metrics;
using LearningCurves.Analysis.NGrams;
using LearningCurves.Analysis.Phases;
using LearningCurves.Analysis.Plots;
using LearningCurves.Analysis.Predictors;
using LearningCurves.Analysis.Smoothing;
using LearningCurves.Analysis.Statistics;
using LearningCurves.Engine;
using LearningCurves.Engine.Backends;
using LearningCurves.Engine.Checkpoints;
using LearningCurves.Engine.EvalSets;
using LearningCurves.Engine.IO;
using LearningCurves.Engine.Model;
using LearningCurves.Engine.Tokenization;

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

    /// <summary>A folder with vocab.json + merges.txt; null: the built-in GPT-2 tokenizer.</summary>
    public string? TokenizerDir { get; init; }

    /// <summary>Chance surprisal in bits; null: log2 of the eval set's vocabulary size.</summary>
    public double? ChanceBits { get; init; }

    public int Last { get; init; } = 11;
    public bool PruneNGrams { get; init; }

    /// <summary>Keep checkpoint rows the sweep marked duplicate_of (left out by default, with a note).</summary>
    public bool KeepDuplicates { get; init; }

    /// <summary>Generation along training: null skips it. Backend made on demand (it may be a GPU).</summary>
    public Func<IBackend>? Backend { get; init; }

    public GenerationOptions Generation { get; init; } = new() { Temperature = 0.3, MaxTokens = 128, Seed = 0 };
    public int GenerationPrompts { get; init; } = 8;

    /// <summary>Examples per block when writing the table.</summary>
    public int Block { get; init; } = 65536;
}

/// <summary>
/// `analyze`: the sweep's curve files -> metrics (MetricsRunner), predictors from the training corpus, regressions,
/// learning phases, generated text along training -> the per-example table (CSV, Parquet), stats (JSON, Markdown),
/// figures and report.html. Each stage reports its time on the log.
/// </summary>
public static class Analyzer
{
    public const string TableCsv = "examples.csv";
    public const string TableParquet = "examples.parquet";
    public const string StatsJson = "stats.json";
    public const string StatsMarkdown = "stats.md";
    public const string MetricsDir = "metrics";

    private static readonly string[] PerRunMetrics = ["final_surprisal", "within_run_var", "aoa", "forgettability"];
    private static readonly string[] AllMetrics = ["final_surprisal", "within_run_var", "aoa", "forgettability", "crossrun_var"];

    private static readonly Dictionary<string, string> Descriptions = new(StringComparer.Ordinal)
    {
        ["final_surprisal"] = "Mean surprisal (bits) over the last checkpoints: how well the token is predicted in the end.",
        ["within_run_var"] = "Standard deviation of surprisal over the last checkpoints: how much it still fluctuates within a run.",
        ["aoa"] = "Age of acquisition in log10(step): where the smoothed curve first falls halfway from chance to its minimum.",
        ["forgettability"] = "Total rise of the smoothed curve: how much the token is learned and then forgotten.",
        ["crossrun_var"] = "Mean squared difference of smoothed curves between runs: how much the runs disagree.",
    };

    public static ReportData Run(AnalyzeOptions o, TextWriter log)
    {
        ArgumentNullException.ThrowIfNull(o);
        ArgumentNullException.ThrowIfNull(log);
        if (o.TrainText.Count == 0 == (o.TrainIds is null))
            throw new UserError("analyze: give the training corpus as --train-text FILE... or --train-ids FILE (one of them)");
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
        var runs = MetricsInputs.SweepRuns(o.SweepDir);
        var runNames = runs.Select(r => r.Name).ToList();
        long[] allSteps = MetricsInputs.ReadSteps(runs[0].Steps);
        // Duplicate checkpoints (an earlier branch serving a later step's weights) are left out unless asked for.
        var kept = MetricsInputs.KeptCheckpoints(runs, allSteps, o.KeepDuplicates, out string? duplicateNote);
        if (duplicateNote is not null) notes.Add(duplicateNote);
        long[] steps = kept.Select(i => allSteps[i]).ToArray();
        var manifests = runs.Select(r => ReadManifest(Path.Combine(Path.GetDirectoryName(r.Curves)!, "manifest.json"))).ToList();
        string evalDir = o.EvalSetDir ?? manifests.Select(m => m?["eval_set"]?["path"]?.GetValue<string>()).FirstOrDefault(p => p is not null)
            ?? throw UserError.InFile(o.SweepDir, "the run manifests do not name the eval set; give --eval-set DIR");
        var eval = EvalSet.Load(evalDir);
        var tokenizer = o.TokenizerDir is not null ? Gpt2Tokenizer.FromFolder(o.TokenizerDir) : EvalSetTokenizer(eval);
        double chance = o.ChanceBits ?? Math.Log2(eval.VocabSize);
        var curveHeader = Npy.ReadHeader(runs[0].Curves);
        if (curveHeader.Shape.Length != 2 || curveHeader.Shape[1] != eval.Examples)
            throw UserError.InFile(runs[0].Curves, $"shape ({string.Join(", ", curveHeader.Shape)}) does not match the eval set's {eval.Examples} examples ({evalDir})");
        int examples = eval.Examples;
        Stage($"{runs.Count} runs x {steps.Length} checkpoints x {examples} examples; eval set {evalDir}");

        // 2. Metrics (per run, run-averaged, cross-run), written by the metrics library into OUT/metrics.
        string metricsDir = Path.Combine(o.OutDir, MetricsDir);
        MetricsRunner.Run(runs.Select(r => r.Curves).ToList(), CurveLayout.CheckpointsFirst, runs[0].Steps, steps,
            new MetricsOptions { Last = Math.Min(o.Last, steps.Length), ChanceBits = chance }, metricsDir, keepCheckpoints: kept);
        var perRunCsv = NumericCsv.ReadColumns(Path.Combine(metricsDir, MetricsRunner.PerRunFile), ["run", "example", .. PerRunMetrics]);
        var averagedCsv = NumericCsv.ReadColumns(Path.Combine(metricsDir, MetricsRunner.ExamplesFile), ["example", .. AllMetrics]);
        var perRun = PerRunMetrics.ToDictionary(m => m, _ => runs.Select(_ => new double[examples]).ToArray(), StringComparer.Ordinal);
        for (int i = 0; i < perRunCsv["run"].Length; i++)
        {
            int r = (int)perRunCsv["run"][i], e = (int)perRunCsv["example"][i];
            foreach (var m in PerRunMetrics) perRun[m][r][e] = perRunCsv[m][i];
        }
        var averaged = AllMetrics.ToDictionary(m => m, _ => new double[examples], StringComparer.Ordinal);
        for (int i = 0; i < averagedCsv["example"].Length; i++)
        {
            int e = (int)averagedCsv["example"][i];
            foreach (var m in AllMetrics) averaged[m][e] = averagedCsv[m][i];
        }
        Stage("metrics");

        // 3. Predictors from the training corpus.
        var train = ReadTraining(o, tokenizer, eval);
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
        WriteTable(o, eval, tokenizer, runNames, averaged, perRun, predictors, logFreq);
        Stage($"table ({TableCsv}, {TableParquet})");

        // 5. Statistics.
        var usable = PredictorTable.Names.Where(p => Distinct(predictors[p]) >= 2).ToList();
        foreach (var p in PredictorTable.Names.Except(usable)) notes.Add($"predictor {p} is constant or undefined on this data and was left out of the regressions");
        RegressionReport? regression = null;
        var cols = new Dictionary<string, double[]>(StringComparer.Ordinal);
        foreach (var m in AllMetrics) cols[m] = averaged[m];
        foreach (var p in usable) cols[p] = predictors[p];
        var targets = AllMetrics.Where(m => Distinct(averaged[m]) >= 2).ToList();
        if (usable.Count > 0 && examples > usable.Count + 2)
        {
            try
            {
                regression = RegressionAnalysis.Run(cols, targets, usable);
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException or UserError)
            {
                notes.Add($"the regressions could not be fitted: {e.Message}");
            }
        }
        else
        {
            notes.Add("too few examples or predictors for the regressions");
        }
        var correlations = MetricCorrelations.Compute(PerRunMetrics, PerRunMetrics.Select(m => (IReadOnlyList<double[]>)perRun[m]).ToList());
        Stage("regressions and correlations");

        // 6. Learning phases.
        var surprisal = runs.Select(r => kept.Select(ReadRows(r.Curves, allSteps.Length, examples).ElementAt).ToList()).ToList();
        var phases = LearningPhaseAnalysis.Compute(surprisal, predictors.NGramSurprisal, steps);
        var gallery = Gallery(steps, surprisal[0], perRun, averaged, chance, eval, tokenizer);
        surprisal.Clear(); // the largest arrays of the analysis; let them go before generation
        Stage("learning phases");

        // 7. Generated text along training.
        GenerationView? generation = null;
        if (o.Backend is null)
        {
            notes.Add("generation along training was skipped (--no-generate)");
        }
        else
        {
            generation = Generate(o, manifests, runNames, eval, tokenizer, notes, log);
            Stage("generation");
        }

        var data = new ReportData
        {
            Title = $"Learning curves of {string.Join(", ", runNames)}",
            Suite = new SuiteSummary(runNames, steps.Length, steps.Min(), steps.Max(), examples, evalDir, trainTokens,
                o.TrainIds is not null ? Path.GetFileName(o.TrainIds) : string.Join(", ", o.TrainText.Select(Path.GetFileName)), chance),
            Gallery = gallery,
            Metrics = AllMetrics.Select(m => new MetricSummary(m, Descriptions[m], averaged[m])).ToList(),
            LogFrequency = logFreq,
            Correlations = new CorrelationView(PerRunMetrics, correlations.RunAveraged, correlations.Concatenated,
                PerRunMetrics.Select((m, i) => (m, correlations.BetweenRuns[i].Mean, correlations.BetweenRuns[i].Sd)).ToList()),
            Stats = regression is null ? null : ToView(regression),
            Phases = ToView(phases),
            Generation = generation,
            Notes = notes,
            Files =
            [
                (TableCsv, "one row per example: run-averaged metrics, per-run metrics, predictors, n-gram surprisals"),
                (TableParquet, "the same table as Parquet"),
                (StatsJson, "regressions (statsmodels layout), metric correlations, learning phases, generation"),
                (StatsMarkdown, "the statistics as Markdown tables"),
                ($"{MetricsDir}/", "per_run.csv, examples.csv and smoothed.npy from the metrics stage"),
            ],
        };
        WriteStats(o.OutDir, regression, correlations, phases, generation);
        ReportWriter.Write(data, o.OutDir);
        Stage("report");
        log.WriteLine($"analyze: done in {total.Elapsed.TotalSeconds:F1} s -> {Path.Combine(o.OutDir, ReportWriter.HtmlFile)}");
        return data;
    }

    private static JsonObject? ReadManifest(string path)
    {
        if (!File.Exists(path)) return null;
        try
        {
            return JsonNode.Parse(File.ReadAllText(path)) as JsonObject;
        }
        catch (JsonException e)
        {
            throw UserError.InFile(path, $"invalid JSON ({e.Message})");
        }
    }

    /// <summary>The tokenizer the eval set was made with, when its manifest names files that still exist
    /// ("VOCAB + MERGES", as eval-set records it); otherwise the built-in GPT-2 tokenizer.</summary>
    private static Gpt2Tokenizer EvalSetTokenizer(EvalSet eval)
    {
        string? source = eval.Manifest?["tokenizer"]?.GetValue<string>();
        if (source is not null)
        {
            var parts = source.Split(" + ", StringSplitOptions.TrimEntries);
            if (parts.Length == 2 && File.Exists(parts[0]) && File.Exists(parts[1])) return Gpt2Tokenizer.FromFiles(parts[0], parts[1]);
        }
        return Gpt2Tokenizer.Default;
    }

    private static int Distinct(double[] v) => v.Where(double.IsFinite).Distinct().Take(2).Count();

    /// <summary>The training sequences: token ids (.npy (N, T) int32 or one sequence per line), or text files whose
    /// lines are tokenized and packed into eval-set-length sequences the paper's way (begin, line, sep, ...).</summary>
    private static List<int[]> ReadTraining(AnalyzeOptions o, Gpt2Tokenizer tokenizer, EvalSet eval)
    {
        if (o.TrainIds is { } ids)
        {
            if (!File.Exists(ids)) throw UserError.InFile(ids, "file not found");
            if (ids.EndsWith(".npy", StringComparison.OrdinalIgnoreCase))
            {
                var (data, shape) = Npy.ReadInt32(ids);
                if (shape.Length is not (1 or 2)) throw UserError.InFile(ids, "token ids must be a 1-D or 2-D int32 array");
                int len = shape.Length == 2 ? checked((int)shape[1]) : eval.SeqLen;
                if (len < 1) throw UserError.InFile(ids, "sequences are empty");
                var seqs = new List<int[]>();
                for (long s = 0; s + len <= data.Length; s += len) seqs.Add(data.AsSpan((int)s, len).ToArray());
                return seqs;
            }
            var list = TokenIdsFile.Read(ids);
            if (list.Count == 0) throw UserError.InFile(ids, "no token ids");
            return list;
        }
        // Pack like the eval set was packed (its begin/sep ids when recorded), else with end-of-text between lines.
        int sep = ManifestInt(eval, "sep_id") ?? tokenizer.EndOfTextId ?? 0;
        int begin = ManifestInt(eval, "begin_id") ?? sep;
        var lines = new List<int[]>();
        foreach (var file in o.TrainText)
        {
            if (!File.Exists(file)) throw UserError.InFile(file, "file not found");
            foreach (var line in File.ReadLines(file))
            {
                if (!string.IsNullOrWhiteSpace(line)) lines.Add(tokenizer.Encode(line));
            }
        }
        var packed = EvalSetBuilder.PackLines(lines, eval.SeqLen, begin, sep);
        if (packed.Count == 0)
        {
            // Too little text to fill one sequence: keep the lines themselves rather than nothing.
            packed = lines.Where(l => l.Length > 0).ToList();
        }
        if (packed.Count == 0) throw UserError.InFile(o.TrainText[0], "no training text");
        return packed;
    }

    private static int? ManifestInt(EvalSet eval, string key)
    {
        var node = eval.Manifest?[key];
        return node is JsonValue v && v.TryGetValue(out int i) ? i : null;
    }

    /// <summary>Every checkpoint row of a (checkpoints, examples) float32 curve file, one array per checkpoint.</summary>
    private static IReadOnlyList<float[]> ReadRows(string path, int checkpoints, int examples)
    {
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
        var h = Npy.ReadHeader(fs, path);
        if (h.DType != NpyDType.Float32 || h.Shape.Length != 2 || h.Shape[0] != checkpoints || h.Shape[1] != examples)
            throw UserError.InFile(path, $"expected float32 ({checkpoints}, {examples})");
        fs.Position = h.DataOffset;
        var rows = new List<float[]>(checkpoints);
        for (int k = 0; k < checkpoints; k++)
        {
            var row = new float[examples];
            fs.ReadExactly(System.Runtime.InteropServices.MemoryMarshal.AsBytes(row.AsSpan()));
            rows.Add(row);
        }
        return rows;
    }

    private static void WriteTable(AnalyzeOptions o, EvalSet eval, Gpt2Tokenizer tokenizer, IReadOnlyList<string> runNames,
        Dictionary<string, double[]> averaged, Dictionary<string, double[][]> perRun, PredictorTable predictors, double[] logFreq)
    {
        var columns = new List<TableColumn>
        {
            TableColumn.Long("example"), TableColumn.Long("sequence"), TableColumn.Long("position"), TableColumn.Long("token"),
            TableColumn.Text("token_text"),
        };
        columns.AddRange(AllMetrics.Select(TableColumn.Double));
        foreach (var m in PerRunMetrics)
        {
            foreach (var r in runNames) columns.Add(TableColumn.Double($"{m}.{r}"));
        }
        columns.AddRange(predictors.Columns.Select(TableColumn.Double));
        for (int n = 1; n <= predictors.NGramSurprisal.Length; n++) columns.Add(TableColumn.Double($"ngram{n}_surprisal"));
        columns.Add(TableColumn.Double("log10_frequency"));

        int examples = eval.Examples;
        using var w = new ExampleTableWriter(Path.Combine(o.OutDir, TableCsv), Path.Combine(o.OutDir, TableParquet), columns);
        for (int e0 = 0; e0 < examples; e0 += o.Block)
        {
            int n = Math.Min(o.Block, examples - e0);
            var block = new List<Array>(columns.Count);
            long[] L(Func<int, long> f) => Enumerable.Range(e0, n).Select(f).ToArray();
            double[] D(double[] src) => src.AsSpan(e0, n).ToArray();
            block.Add(L(i => i));
            block.Add(L(i => eval.Targets[2 * i]));
            block.Add(L(i => eval.Targets[2 * i + 1]));
            block.Add(L(i => eval.Tokens[eval.Targets[2 * i] * eval.SeqLen + eval.Targets[2 * i + 1]]));
            block.Add(Enumerable.Range(e0, n).Select(i => TokenText.Decode(tokenizer, [eval.Tokens[eval.Targets[2 * i] * eval.SeqLen + eval.Targets[2 * i + 1]]])).ToArray());
            foreach (var m in AllMetrics) block.Add(D(averaged[m]));
            foreach (var m in PerRunMetrics)
            {
                foreach (var r in perRun[m]) block.Add(D(r));
            }
            foreach (var c in predictors.Columns) block.Add(D(predictors[c]));
            foreach (var s in predictors.NGramSurprisal) block.Add(D(s));
            block.Add(D(logFreq));
            w.WriteBlock(block);
        }
        w.Complete();
    }

    /// <summary>Six example curves of run 0, from early- to late-acquired plus the most forgettable.</summary>
    private static List<CurvePanel> Gallery(long[] steps, IReadOnlyList<float[]> run0, Dictionary<string, double[][]> perRun,
        Dictionary<string, double[]> averaged, double chance, EvalSet eval, Gpt2Tokenizer tokenizer)
    {
        var aoa = perRun["aoa"][0];
        var order = Enumerable.Range(0, aoa.Length).Where(i => double.IsFinite(aoa[i])).OrderBy(i => aoa[i]).ToList();
        if (order.Count == 0) return [];
        var picks = new List<int>();
        foreach (double q in new[] { 0.05, 0.3, 0.55, 0.8, 0.97 })
        {
            int i = order[(int)Math.Round(q * (order.Count - 1))];
            if (!picks.Contains(i)) picks.Add(i);
        }
        var forget = perRun["forgettability"][0];
        int most = Enumerable.Range(0, forget.Length).Where(i => double.IsFinite(forget[i])).DefaultIfEmpty(-1).MaxBy(i => i < 0 ? 0 : forget[i]);
        if (most >= 0 && !picks.Contains(most)) picks.Add(most);

        int first = Array.FindIndex(steps, s => s > 0);
        if (first < 0 || steps.Length - first < 4) return [];
        var x = steps.Skip(first).Select(s => Math.Log10(s)).ToArray();
        var smoother = new SplineSmoother(x);
        var panels = new List<CurvePanel>();
        foreach (int e in picks)
        {
            var y = Enumerable.Range(first, steps.Length - first).Select(k => (double)run0[k][e]).ToArray();
            var fit = PenalizedSpline.Fit(smoother, y);
            double threshold = 0.5 * chance + 0.5 * fit.Grid.Min();
            int seq = eval.Targets[2 * e], pos = eval.Targets[2 * e + 1];
            var context = eval.Tokens.AsSpan(seq * eval.SeqLen + Math.Max(0, pos - 4), Math.Min(4, pos)).ToArray();
            string ctx = TokenText.Decode(tokenizer, context).ReplaceLineEndings(" ");
            string target = TokenText.Decode(tokenizer, [eval.Tokens[seq * eval.SeqLen + pos]]).ReplaceLineEndings(" ");
            string label = $"…{Clip(ctx, 24)} [{Clip(target, 12)}]  AoA {Math.Pow(10, aoa[e]):N0}";
            panels.Add(new CurvePanel(label, x, y, fit.GridX.ToArray(), fit.Grid.ToArray(), double.IsFinite(aoa[e]) ? aoa[e] : null, threshold));
        }
        return panels;
    }

    private static string Clip(string s, int n) => s.Length <= n ? s : "…" + s[^n..];

    private static GenerationView? Generate(AnalyzeOptions o, List<JsonObject?> manifests, List<string> runNames, EvalSet eval,
        Gpt2Tokenizer tokenizer, List<string> notes, TextWriter log)
    {
        var runs = new List<(string, IReadOnlyList<RunCheckpoint>)>();
        for (int r = 0; r < runNames.Count; r++)
        {
            var rows = manifests[r]?["rows"] as JsonArray;
            if (rows is null)
            {
                notes.Add($"run {runNames[r]}: its manifest lists no checkpoints, so no text was generated for it");
                continue;
            }
            var cps = rows.Select(n => new RunCheckpoint(n!["step"]!.GetValue<long>(), n["path"]!.GetValue<string>())).ToList();
            var picked = TrainingGeneration.NearestToPowersOfTen(cps.Select(c => c.Step).ToList());
            var present = picked.Select(i => cps[i]).Where(c => Directory.Exists(c.Path)).ToList();
            if (present.Count < picked.Length) notes.Add($"run {runNames[r]}: {picked.Length - present.Count} chosen checkpoint folder(s) no longer exist; skipped");
            if (present.Count > 0) runs.Add((runNames[r], present));
        }
        if (runs.Count == 0)
        {
            notes.Add("no checkpoints were available for generation");
            return null;
        }
        var prompts = TrainingGeneration.PromptsFromEvalSet(eval.Tokens, eval.SeqLen, o.GenerationPrompts);
        using var backend = o.Backend!();
        var results = TrainingGeneration.Run(backend, runs, prompts, o.Generation, HfCheckpoint.Load, log);
        var rowsOut = results.Select(g => new GenerationRow(g.Run, g.Step, g.Mean, g.Prompts.Length,
            TokenText.Decode(tokenizer, g.Prompts[0]), TokenText.Decode(tokenizer, g.Outputs[0]))).ToList();
        return new GenerationView(rowsOut, o.Generation.Temperature, o.Generation.MaxTokens, o.Generation.Seed);
    }

    private static StatsView ToView(RegressionReport r)
    {
        static List<Coefficient> Coefs(OlsFit f) => f.Names.Select((n, i) => new Coefficient(n, f.Params[i], f.StdErrors[i], f.TValues[i])).ToList();
        static Coefficient Slope(string name, OlsFit f)
        {
            int i = f.IndexOf(name);
            return new Coefficient(name, f.Params[i], f.StdErrors[i], f.TValues[i]);
        }
        var targets = r.Targets.Select(t => new RegressionView(t.Target, t.N, Coefs(t.Full), t.Full.RSquared, t.Full.RSquaredAdj,
            t.Single.Select(kv => Slope(kv.Key, kv.Value)).ToList(),
            t.OnBaselineResiduals.Select(kv => Slope(kv.Key, kv.Value)).ToList(),
            t.Sequential.Select(s => new SequentialRow(s.Added, s.RSquaredAdj, s.LrChi2, s.Df, s.P)).ToList())).ToList();
        return new StatsView(targets, r.Vif.Select(kv => (kv.Key, kv.Value)).ToList());
    }

    private static PhasesView ToView(LearningPhases p)
    {
        var steps = p.Steps.ToArray();
        var x = ReportMath.LogSteps(steps);
        int orders = p.MeanR.Length == 0 ? 0 : p.MeanR[0].Length;
        var series = Enumerable.Range(0, orders).Select(k => new Series($"{k + 1}-gram",
            p.MeanR.Select(row => row[k]).ToArray(), p.SdR.Select(row => row[k]).ToArray(), x[p.PeakIndex[k]])).ToList();
        bool cross = p.CrossRunR.Any(double.IsFinite);
        return new PhasesView(steps, series, cross ? p.CrossRunR : steps.Select(_ => double.NaN).ToArray(), cross ? p.CrossRunSd : null);
    }

    private static void WriteStats(string outDir, RegressionReport? regression, MetricCorrelations corr, LearningPhases phases, GenerationView? gen)
    {
        var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WritePropertyName("regression");
            if (regression is null) w.WriteNullValue();
            else RegressionJson.Write(regression, w);
            w.WriteStartObject("metric_correlations");
            w.WriteStartArray("metrics");
            foreach (var m in corr.Metrics) w.WriteStringValue(m);
            w.WriteEndArray();
            Matrix(w, "run_averaged", corr.RunAveraged);
            Matrix(w, "concatenated", corr.Concatenated);
            w.WriteStartObject("between_runs");
            for (int i = 0; i < corr.Metrics.Count; i++)
            {
                w.WriteStartObject(corr.Metrics[i]);
                Num(w, "mean", corr.BetweenRuns[i].Mean);
                Num(w, "sd", corr.BetweenRuns[i].Sd);
                w.WriteEndObject();
            }
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteStartObject("learning_phases");
            w.WriteStartArray("steps");
            foreach (var s in phases.Steps) w.WriteNumberValue(s);
            w.WriteEndArray();
            Rows(w, "ngram_r_mean", phases.MeanR);
            Rows(w, "ngram_r_sd", phases.SdR);
            NumArray(w, "crossrun_r_mean", phases.CrossRunR);
            NumArray(w, "crossrun_r_sd", phases.CrossRunSd);
            w.WriteStartArray("peak_step");
            foreach (var s in phases.PeakStep) w.WriteNumberValue(s);
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteStartArray("generation");
            foreach (var g in gen?.Rows ?? [])
            {
                w.WriteStartObject();
                w.WriteString("run", g.Run);
                w.WriteNumber("step", g.Step);
                w.WriteNumber("prompts", g.Prompts);
                NumArray(w, "repeated_share", g.Repetition.RepeatedShare);
                NumArray(w, "distinct_n", g.Repetition.DistinctN);
                Num(w, "longest_repeated_span", g.Repetition.LongestRepeatedSpan);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        ReportWriter.AtomicWrite(Path.Combine(outDir, StatsJson), buffer.ToArray());
        ReportWriter.AtomicWrite(Path.Combine(outDir, StatsMarkdown), Encoding.UTF8.GetBytes(StatsMarkdownText(regression, corr, phases, gen)));
    }

    private static void Num(Utf8JsonWriter w, string name, double v)
    {
        if (double.IsFinite(v)) w.WriteNumber(name, v);
        else w.WriteNull(name);
    }

    private static void NumArray(Utf8JsonWriter w, string name, IEnumerable<double> values)
    {
        w.WriteStartArray(name);
        foreach (var v in values)
        {
            if (double.IsFinite(v)) w.WriteNumberValue(v);
            else w.WriteNullValue();
        }
        w.WriteEndArray();
    }

    private static void Rows(Utf8JsonWriter w, string name, double[][] rows)
    {
        w.WriteStartArray(name);
        foreach (var row in rows)
        {
            w.WriteStartArray();
            foreach (var v in row)
            {
                if (double.IsFinite(v)) w.WriteNumberValue(v);
                else w.WriteNullValue();
            }
            w.WriteEndArray();
        }
        w.WriteEndArray();
    }

    private static void Matrix(Utf8JsonWriter w, string name, double[,] m)
    {
        var rows = Enumerable.Range(0, m.GetLength(0)).Select(i => Enumerable.Range(0, m.GetLength(1)).Select(j => m[i, j]).ToArray()).ToArray();
        Rows(w, name, rows);
    }

    internal static string StatsMarkdownText(RegressionReport? regression, MetricCorrelations corr, LearningPhases phases, GenerationView? gen)
    {
        var inv = CultureInfo.InvariantCulture;
        string G(double v) => double.IsFinite(v) ? v.ToString("G6", inv) : "";
        var sb = new StringBuilder();
        sb.Append("# Statistics\n\n");
        if (regression is null)
        {
            sb.Append("Regressions: not computed.\n\n");
        }
        else
        {
            foreach (var t in regression.Targets)
            {
                sb.Append(inv, $"## {t.Target} (n = {t.N}, R^2 = {G(t.Full.RSquared)}, adj. R^2 = {G(t.Full.RSquaredAdj)})\n\n");
                sb.Append("| predictor | coef | SE | t | alone | on unigram residuals |\n|---|---|---|---|---|---|\n");
                for (int i = 0; i < t.Full.Names.Count; i++)
                {
                    string n = t.Full.Names[i];
                    var alone = t.Single.FirstOrDefault(kv => kv.Key == n).Value;
                    var resid = t.OnBaselineResiduals.FirstOrDefault(kv => kv.Key == n).Value;
                    sb.Append(inv, $"| {n} | {G(t.Full.Params[i])} | {G(t.Full.StdErrors[i])} | {G(t.Full.TValues[i])} | ");
                    sb.Append(alone is null ? "" : G(alone.Param(n))).Append(" | ").Append(resid is null ? "" : G(resid.Param(n))).Append(" |\n");
                }
                sb.Append("\n| + predictor | adj. R^2 | LR chi^2 | df | p |\n|---|---|---|---|---|\n");
                foreach (var s in t.Sequential) sb.Append(inv, $"| {s.Added} | {G(s.RSquaredAdj)} | {G(s.LrChi2)} | {s.Df} | {G(s.P)} |\n");
                sb.Append('\n');
            }
            sb.Append("## VIF\n\n| predictor | VIF |\n|---|---|\n");
            foreach (var (k, v) in regression.Vif) sb.Append(inv, $"| {k} | {G(v)} |\n");
            sb.Append('\n');
        }
        sb.Append("## Metric correlations (run-averaged)\n\n| |").AppendJoin("", corr.Metrics.Select(m => $" {m} |")).Append("\n|---|").AppendJoin("", corr.Metrics.Select(_ => "---|")).Append('\n');
        for (int i = 0; i < corr.Metrics.Count; i++)
        {
            sb.Append(inv, $"| {corr.Metrics[i]} |");
            for (int j = 0; j < corr.Metrics.Count; j++) sb.Append(' ').Append(G(corr.RunAveraged[i, j])).Append(" |");
            sb.Append('\n');
        }
        sb.Append("\n## Correlation between runs (mean +- SD over pairs)\n\n| metric | mean | SD |\n|---|---|---|\n");
        for (int i = 0; i < corr.Metrics.Count; i++) sb.Append(inv, $"| {corr.Metrics[i]} | {G(corr.BetweenRuns[i].Mean)} | {G(corr.BetweenRuns[i].Sd)} |\n");
        sb.Append("\n## Learning phases: peak of the correlation with n-gram surprisal\n\n| n | peak step | peak r |\n|---|---|---|\n");
        for (int k = 0; k < phases.PeakStep.Length; k++)
            sb.Append(inv, $"| {k + 1} | {phases.PeakStep[k]} | {G(phases.MeanR[phases.PeakIndex[k]][k])} |\n");
        if (gen is not null)
        {
            sb.Append("\n## Generated text (mean over prompts)\n\n| run | step | rep. 1 | rep. 2 | rep. 3 | rep. 4 | distinct-1 | distinct-2 | longest span |\n|---|---|---|---|---|---|---|---|---|\n");
            foreach (var g in gen.Rows)
            {
                var r = g.Repetition;
                sb.Append(inv, $"| {g.Run} | {g.Step} | {G(r.RepeatedShare[0])} | {G(r.RepeatedShare[1])} | {G(r.RepeatedShare[2])} | {G(r.RepeatedShare[3])} | {G(r.DistinctN[0])} | {G(r.DistinctN[1])} | {G(r.LongestRepeatedSpan)} |\n");
            }
        }
        return sb.ToString();
    }
}

/// <summary>Token ids to display text, tolerant of ids past the tokenizer's vocabulary (shown as &lt;id&gt;).</summary>
public static class TokenText
{
    public static string Decode(Gpt2Tokenizer tokenizer, IReadOnlyList<int> ids)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(ids);
        var sb = new StringBuilder();
        var run = new List<int>();
        foreach (int id in ids)
        {
            if (id >= 0 && id < tokenizer.VocabSize)
            {
                run.Add(id);
                continue;
            }
            sb.Append(tokenizer.Decode(run));
            run.Clear();
            sb.Append(CultureInfo.InvariantCulture, $"<{id}>");
        }
        sb.Append(tokenizer.Decode(run));
        return sb.ToString();
    }
}

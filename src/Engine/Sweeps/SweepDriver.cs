using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using LearningCurves.Engine.Backends;
using LearningCurves.Engine.Checkpoints;
using LearningCurves.Engine.EvalSets;
using LearningCurves.Engine.Model;
using LearningCurves.Formats;
using LearningCurves.Formats.EvalSets;
using LearningCurves.Formats.IO;
using LearningCurves.Formats.Tokenization;
using LearningCurves.Formats.Curves;
using LearningCurves.Formats.Runs;

namespace LearningCurves.Engine.Sweeps;

/// <summary>One `--run NAME=DIR`.</summary>
public sealed record SweepRunSpec(string Name, string Path);

/// <summary>What to sweep and how.</summary>
public sealed class SweepOptions
{
    public required string OutDir { get; init; }
    public required EvalSet EvalSet { get; init; }
    public required IReadOnlyList<SweepRunSpec> Runs { get; init; }

    /// <summary>This process's share: (run, checkpoint) pairs numbered across runs in order, g % ShardCount == ShardIndex.</summary>
    public int ShardIndex { get; init; }

    public int ShardCount { get; init; } = 1;

    /// <summary>Sequences per forward pass.</summary>
    public int BatchSequences { get; init; } = 16;

    /// <summary>When set, the batch is this function of the largest model of the sweep (by parameters) and the eval
    /// set's sequence length instead of <see cref="BatchSequences"/>: `sweep` without --batch sizes it to the card.</summary>
    public Func<ModelConfig, int, int>? ChooseBatch { get; init; }

    /// <summary>Called once for each model config of the sweep (with the first checkpoint folder that has it) before
    /// any folder is written or checkpoint loaded; a <see cref="UserError"/> it throws refuses the sweep. `sweep` checks
    /// that the weights and one sequence fit the GPU's free memory.</summary>
    public Action<ModelConfig, string>? CheckFits { get; init; }

    /// <summary>How checkpoints reach the backend: true, streamed from the mapped files into the model's device
    /// buffers in their stored precision (<see cref="ICheckpointReader.Open"/>; the host never holds a model in
    /// float32); false, widened to float32 host weights first (<see cref="ICheckpointReader.Load"/>). Null: streamed on
    /// every backend but the CPU, whose weights are float32 host arrays. The rows and records are the same bytes either
    /// way.</summary>
    public bool? StreamWeights { get; init; }
}

/// <summary>The outcome of one checkpoint.</summary>
public sealed record CheckpointResult(
    string Run, int Row, long Step, string Path, RowStatus Status, string? Reason,
    double LoadSeconds, double LoadWaitSeconds, double ScoreSeconds, double WriteSeconds, long Tokens, long BytesRead,
    int Finished, int Total);

/// <summary>The whole sweep (this process's share); <see cref="Batch"/>: the sequences per forward pass it ran with.</summary>
public sealed record SweepSummary(
    int Total, int AlreadyDone, int Done, int Failed, int Recomputed,
    double WallSeconds, double LoadSeconds, double LoadWaitSeconds, double ScoreSeconds, double WriteSeconds,
    long Tokens, long BytesRead, IReadOnlyList<CheckpointResult> Failures, int Batch)
{
    public bool NothingToDo => Done + Failed == 0;

    public double TokensPerSecond => ScoreSeconds > 0 ? Tokens / ScoreSeconds : 0;
}

/// <summary>Receives progress from the sweep (the console reporter implements it).</summary>
public interface ISweepObserver
{
    /// <summary>Before work: how many rows this process will compute, of how many in its share.</summary>
    void Planned(int toDo, int share, int alreadyDone);

    /// <summary>Within a checkpoint: the fraction of its examples scored so far.</summary>
    void Scoring(string run, long step, double fraction);

    void Finished(CheckpointResult r);

    /// <summary>A one-line remark (e.g. a done row whose checksum no longer matches, recomputed).</summary>
    void Note(string line);
}

/// <summary>
/// Scores one eval set at every checkpoint of several runs into curve files (see <see cref="RunStore"/>), one row per
/// checkpoint, reading checkpoint k+1 from disk while checkpoint k is scored. One model serves the sweep: each next
/// checkpoint of the same config is written into its device buffers (streamed from the mapped files on a GPU backend,
/// float32 host weights on the CPU), so its captured graphs stay valid.
/// </summary>
public sealed class SweepDriver(IBackend backend, ICheckpointReader reader, ISweepObserver observer)
{
    private sealed record RunPlan(SweepRunSpec Spec, IReadOnlyList<Checkpoint> Checkpoints, RunStore Store, RunManifest Header)
    {
        /// <summary>Done rows of this run by weights hash (this process's and, as last read, other shards').</summary>
        public Dictionary<string, RowRecord> Scored { get; } = new(StringComparer.Ordinal);
    }

    private sealed record WorkItem(RunPlan Run, int Row);

    /// <summary>A checkpoint read ahead: float32 host weights or an open checkpoint to stream (owned by the sweep
    /// until disposed), the weights' content hash, or the error that stopped it; the time and bytes of the read.</summary>
    private sealed record Loaded(ModelWeights? Weights, CheckpointTensors? Tensors, string? Hash, string? Error, double Seconds, long Bytes);

    /// <summary>Plans the runs (refusing bad input before any work), finds this process's rows still to do, scores and
    /// records each, and sums up.</summary>
    public SweepSummary Run(SweepOptions o)
    {
        CheckOptions(o);
        var wall = Stopwatch.StartNew();
        var (plans, largest) = PlanRuns(o);
        var todo = FindWork(plans, o);
        observer.Planned(todo.Work.Count, todo.Share, todo.AlreadyDone);
        var (results, batch) = ScoreAll(todo.Work, o, largest);
        foreach (var plan in plans) WarnDuplicates(plan);
        var failures = results.Where(r => r.Status == RowStatus.Failed).ToList();
        return new SweepSummary(todo.Share, todo.AlreadyDone, results.Count - failures.Count, failures.Count, todo.Recomputed,
            wall.Elapsed.TotalSeconds, results.Sum(r => r.LoadSeconds), results.Sum(r => r.LoadWaitSeconds),
            results.Sum(r => r.ScoreSeconds), results.Sum(r => r.WriteSeconds), results.Sum(r => r.Tokens),
            results.Sum(r => r.BytesRead), failures, batch);
    }

    private static void CheckOptions(SweepOptions o)
    {
        ArgumentNullException.ThrowIfNull(o);
        if (o.ShardCount < 1 || o.ShardIndex < 0 || o.ShardIndex >= o.ShardCount)
            throw new UserError($"sweep: --shard must be I/N with 0 <= I < N (got {o.ShardIndex}/{o.ShardCount})");
        if (o.Runs.Count == 0) throw new UserError("sweep: give at least one --run NAME=DIR");
        if (o.BatchSequences < 1) throw new UserError("sweep: --batch must be at least 1");
    }

    /// <summary>Every run's checkpoints, checked against the eval set, and its output folder created or checked: all
    /// that can refuse the sweep happens here, before any row is computed. Also the largest model (for the batch).</summary>
    private (List<RunPlan> Plans, ModelConfig? Largest) PlanRuns(SweepOptions o)
    {
        var eval = o.EvalSet;
        ModelConfig? largest = null;
        var plans = new List<RunPlan>();
        var seen = new Dictionary<ModelConfig, string>(); // each config with the first checkpoint that has it, in order
        foreach (var spec in o.Runs)
        {
            if (plans.Any(p => p.Spec.Name == spec.Name)) throw new UserError($"sweep: run name '{spec.Name}' given twice");
            if (spec.Name.Length == 0 || spec.Name is "." or ".." || spec.Name.IndexOfAny(['/', '\\']) >= 0)
                throw new UserError($"sweep: run name '{spec.Name}' must be a plain folder name");
            var cps = CheckpointSeries.Discover(spec.Path);
            var configs = CheckConfigs(spec, cps, eval);
            var config = configs.Count > 0 ? configs[0].Config : null;
            if (config is not null && (largest is null || config.ParameterCount(true) > largest.ParameterCount(true))) largest = config;
            foreach (var (cfg, path) in configs) seen.TryAdd(cfg, path);
            plans.Add(new RunPlan(spec, cps, new RunStore(Path.Combine(o.OutDir, spec.Name)), Header(spec, cps.Count, config, eval)));
        }
        // Every model must fit the device before anything is written.
        if (o.CheckFits is { } fits)
        {
            foreach (var (cfg, path) in seen) fits(cfg, path);
        }
        foreach (var p in plans)
        {
            try
            {
                p.Store.Prepare(p.Header, p.Checkpoints, eval.Examples);
            }
            catch (IOException e) when (Durable.IsDiskFull(e))
            {
                throw DiskFull(p.Store.Dir, "its curve file, steps and manifest", RunStore.StartBytes(p.Checkpoints.Count, eval.Examples), e);
            }
        }
        return (plans, largest);
    }

    private sealed record ShareToDo(List<WorkItem> Work, int Share, int AlreadyDone, int Recomputed);

    /// <summary>This process's share of the rows, minus the rows already done (whose bytes still match their checksum).</summary>
    private ShareToDo FindWork(List<RunPlan> plans, SweepOptions o)
    {
        int examples = o.EvalSet.Examples;
        var work = new List<WorkItem>();
        int share = 0, alreadyDone = 0, recomputed = 0, g = 0;
        var buf = new float[examples];
        foreach (var plan in plans)
        {
            RowRecord[]? rows = null;
            for (int r = 0; r < plan.Checkpoints.Count; r++, g++)
            {
                if (g % o.ShardCount != o.ShardIndex) continue;
                share++;
                rows ??= plan.Store.ReadRows();
                plan.Store.CleanStaleTemps(r);
                if (rows[r].Status == RowStatus.Done)
                {
                    using var curve = CurveFileWriter.Open(plan.Store.SurprisalPath, plan.Checkpoints.Count, examples);
                    curve.ReadRow(r, buf);
                    if (CurveFileWriter.Checksum(buf) == rows[r].Checksum)
                    {
                        alreadyDone++;
                        continue;
                    }
                    observer.Note($"{plan.Spec.Name} step {rows[r].Step}: row {r} no longer matches its checksum; recomputing");
                    recomputed++;
                }
                work.Add(new WorkItem(plan, r));
            }
        }
        return new ShareToDo(work, share, alreadyDone, recomputed);
    }

    /// <summary>Each work item in turn: its checkpoint was read while the one before was scored; scored (or copied from
    /// a row with the same weights), written and recorded.</summary>
    private (List<CheckpointResult> Results, int Batch) ScoreAll(List<WorkItem> work, SweepOptions o, ModelConfig? largest)
    {
        var eval = o.EvalSet;
        var results = new List<CheckpointResult>();
        var curves = new Dictionary<RunPlan, CurveFileWriter>();
        // One model for the sweep: each next checkpoint of the same config is loaded into its device buffers, so its
        // activations and captured graphs serve every checkpoint of a run.
        DecoderModel? model = null;
        bool stream = o.StreamWeights ?? backend.Name != "cpu";
        Task<Loaded>? next = null;
        int batch;
        try
        {
            // Chosen before any checkpoint is on the device (ChooseBatch reads the free memory with no model loaded).
            batch = o.ChooseBatch is { } choose && largest is not null ? choose(largest, eval.SeqLen) : o.BatchSequences;
            if (batch < 1) throw new UserError("sweep: the batch must be at least 1");
            var scorer = new EvalScorer(eval, batch);
            next = work.Count > 0 ? StartLoad(work[0], stream) : null;
            for (int i = 0; i < work.Count; i++)
            {
                var item = work[i];
                var waited = Stopwatch.StartNew();
                var loaded = next!.GetAwaiter().GetResult();
                double waitSeconds = waited.Elapsed.TotalSeconds;
                // Read the next checkpoint while this one is scored.
                next = i + 1 < work.Count ? StartLoad(work[i + 1], stream) : null;
                if (!curves.TryGetValue(item.Run, out var curve))
                    curves[item.Run] = curve = CurveFileWriter.Open(item.Run.Store.SurprisalPath, item.Run.Checkpoints.Count, eval.Examples);

                ScoredRow scored;
                try
                {
                    scored = ScoreRow(item, loaded, scorer, curve, ref model);
                }
                finally
                {
                    loaded.Tensors?.Dispose(); // its bytes are on the device (or not needed): the mapping goes
                }
                var ws = Stopwatch.StartNew();
                var cp = item.Run.Checkpoints[item.Row];
                RowRecord record;
                try
                {
                    record = WriteAndRecord(item, scored, curve);
                }
                catch (IOException e) when (Durable.IsDiskFull(e))
                {
                    // The row's record is written only after its bytes, and the manifest only after the record, so
                    // this row stays pending (and is computed again by the next run) and every finished one is intact.
                    throw DiskFull(item.Run.Store.Dir, $"row {item.Row} (step {cp.Step})", item.Run.Store.RowBytesToWrite(curve.RowBytes), e);
                }
                var result = new CheckpointResult(item.Run.Spec.Name, item.Row, cp.Step, cp.Path, record.Status, record.Reason,
                    loaded.Seconds, waitSeconds, scored.Seconds, ws.Elapsed.TotalSeconds, scored.Tokens, loaded.Bytes, i + 1, work.Count);
                results.Add(result);
                observer.Finished(result);
                if (record.Status == RowStatus.Done && scored.Hash is not null) item.Run.Scored.TryAdd(scored.Hash, record);
            }
        }
        finally
        {
            // A read ahead that will not be used (the sweep stopped) closes its files when it finishes.
            next?.ContinueWith(t =>
            {
                if (t.IsCompletedSuccessfully) t.Result.Tensors?.Dispose();
            }, TaskScheduler.Default);
            model?.Dispose();
            foreach (var c in curves.Values) c.Dispose();
        }
        return (results, batch);
    }

    /// <summary>A row's values (NaN when it failed, with the reason), the weights' hash, and the scoring's time and tokens.</summary>
    private sealed record ScoredRow(float[] Values, string? Error, string? Hash, double Seconds, long Tokens);

    /// <summary>One checkpoint's row: a copy of a row already scored with the same weights, else a forward pass over the
    /// eval set with <paramref name="model"/>, the sweep's one model (a checkpoint of the same config is loaded into its
    /// device buffers, so its captured graphs stay valid; another config gets a new model); a checkpoint that could not
    /// be loaded or scored gives a NaN row and the reason.</summary>
    private ScoredRow ScoreRow(WorkItem item, Loaded loaded, EvalScorer scorer, CurveFileWriter curve, ref DecoderModel? model)
    {
        var cp = item.Run.Checkpoints[item.Row];
        float[] row = new float[curve.Cols];
        string? error = loaded.Error;
        string? hash = loaded.Hash is { Length: > 0 } h ? h : null;
        if (error is null && hash is not null && CopyOfTwin(item, hash, row, curve)) return new ScoredRow(row, null, hash, 0, 0);
        double seconds = 0;
        long tokens = 0;
        if (error is null)
        {
            var sw = Stopwatch.StartNew();
            try
            {
                // Float32 host weights (the CPU), or the open checkpoint streamed into the device buffers.
                var w = loaded.Weights;
                var ck = loaded.Tensors;
                var cfg = w?.Config ?? ck!.Config;
                bool untied = w is not null ? w.LmHead is not null : ck!.Untied;
                scorer.CheckModel(cfg, cp.Path);
                if (model is not null && model.Fits(cfg, untied))
                {
                    if (w is not null) model.Load(w);
                    else model.Load(ck!);
                }
                else
                {
                    model?.Dispose();
                    model = null; // a failed upload below must not leave a disposed model behind
                    model = w is not null ? new DecoderModel(backend, w) : new DecoderModel(backend, ck!);
                }
                scorer.Score(model, row, f => observer.Scoring(item.Run.Spec.Name, cp.Step, f));
                tokens = scorer.TokensPerCheckpoint;
            }
            catch (UserError e)
            {
                error = e.Message;
            }
            seconds = sw.Elapsed.TotalSeconds;
        }
        // A failed row holds NaN, as in a file where it was never written.
        if (error is not null) row.AsSpan().Fill(float.NaN);
        return new ScoredRow(row, error, hash, seconds, tokens);
    }

    /// <summary>When a row of the run already scored the same weights (and its bytes still match its checksum), copies
    /// it into <paramref name="row"/> instead of a second forward pass.</summary>
    private bool CopyOfTwin(WorkItem item, string hash, float[] row, CurveFileWriter curve)
    {
        var same = ScoredTwin(item.Run, hash, item.Row);
        if (same is null) return false;
        curve.ReadRow(same.Row, row);
        if (CurveFileWriter.Checksum(row) != same.Checksum) return false;
        observer.Note($"{item.Run.Spec.Name} step {item.Run.Checkpoints[item.Row].Step}: the same weights as step {same.Step} (hash {hash[..16]}); its row is copied, not scored again");
        return true;
    }

    /// <summary>Writes the row's bytes (durably), then its record: done with the checksum, or failed with the reason.</summary>
    private RowRecord WriteAndRecord(WorkItem item, ScoredRow scored, CurveFileWriter curve)
    {
        var cp = item.Run.Checkpoints[item.Row];
        curve.WriteRow(item.Row, scored.Values);
        var record = scored.Error is null
            ? new RowRecord(item.Row, cp.Step, cp.Path, RowStatus.Done, Checksum: CurveFileWriter.Checksum(scored.Values), Device: backend.DeviceName, WeightsHash: scored.Hash)
            : new RowRecord(item.Row, cp.Step, cp.Path, RowStatus.Failed, Reason: OneLine(scored.Error), Device: backend.DeviceName);
        item.Run.Store.Record(record);
        return record;
    }

    /// <summary>A done row of the run with these weights, other than <paramref name="row"/>; the record files are read
    /// again when this process has not seen the hash (another shard may have scored it since).</summary>
    private static RowRecord? ScoredTwin(RunPlan plan, string hash, int row)
    {
        if (plan.Scored.TryGetValue(hash, out var r) && r.Row != row) return r;
        foreach (var rec in plan.Store.ReadRows())
        {
            if (rec.Status == RowStatus.Done && rec.WeightsHash is not null && rec.Checksum is not null) plan.Scored.TryAdd(rec.WeightsHash, rec);
        }
        return plan.Scored.TryGetValue(hash, out r) && r.Row != row ? r : null;
    }

    /// <summary>One warning per group of rows serving identical weights.</summary>
    private void WarnDuplicates(RunPlan plan)
    {
        var rows = plan.Store.ReadRows();
        foreach (var g in rows.Where(r => r.DuplicateOf is not null).GroupBy(r => r.DuplicateOf!.Value).OrderBy(g => g.Key))
        {
            var steps = string.Join(", ", g.Select(r => r.Step));
            observer.Note($"warning: {plan.Spec.Name}: step(s) {steps} serve the same weights as step {g.Key}: marked \"duplicate_of\": {g.Key} in {plan.Store.ManifestPath}; metrics and analyze leave them out unless --keep-duplicates");
        }
    }

    /// <summary>
    /// Reads a checkpoint ahead, on another thread, while the one before is scored. Float32 weights: every tensor
    /// widened into host arrays (the whole model). Streamed: the checkpoint opened and checked from its headers, and
    /// its content hash computed from the mapped bytes a piece at a time, each tensor's pages let go once hashed
    /// (<see cref="CheckpointTensors.ContentHash"/>): the read-ahead holds no weights, and the files it read wait in the
    /// page cache for the upload.
    /// </summary>
    private Task<Loaded> StartLoad(WorkItem item, bool stream)
    {
        string dir = item.Run.Checkpoints[item.Row].Path;
        return Task.Run(() =>
        {
            var sw = Stopwatch.StartNew();
            try
            {
                long bytes = reader.BytesOnDisk(dir);
                if (!stream)
                {
                    var w = reader.Load(dir);
                    return new Loaded(w, null, w.ContentHash, null, sw.Elapsed.TotalSeconds, bytes);
                }
                var ck = reader.Open(dir);
                try
                {
                    string hash = ck.ContentHash();
                    return new Loaded(null, ck, hash, null, sw.Elapsed.TotalSeconds, bytes);
                }
                catch
                {
                    ck.Dispose();
                    throw;
                }
            }
            catch (Exception e) when (e is UserError or IOException or UnauthorizedAccessException or InvalidDataException or JsonException)
            {
                return new Loaded(null, null, null, e.Message, sw.Elapsed.TotalSeconds, 0);
            }
        });
    }

    /// <summary>The configs of a run's checkpoints that can be read (each with its folder, in order), each checked
    /// against the eval set; a tokenizer beside the run checked against it too.</summary>
    private List<(ModelConfig Config, string Path)> CheckConfigs(SweepRunSpec spec, IReadOnlyList<Checkpoint> cps, EvalSet eval)
    {
        // A tokenizer beside the run (its root, else its first checkpoint) must have the eval set's vocabulary: the
        // same ids must mean the same tokens. One that cannot be read is left to the user; the configs are still checked.
        string? tokDir = new[] { spec.Path, cps[0].Path }.FirstOrDefault(d => Directory.Exists(d) && TextTokenizer.FolderHasTokenizerFiles(d));
        if (tokDir is not null)
        {
            TextTokenizer? tok = null;
            try
            {
                tok = TextTokenizer.Load(tokDir);
            }
            catch (UserError)
            {
            }
            if (tok is not null && tok.VocabSize != eval.VocabSize)
                throw UserError.InFile(tokDir, $"run '{spec.Name}': its tokenizer has {tok.VocabSize} ids, the eval set's {eval.VocabSize}; refused before any work");
            // Word targets: the same ids must also be the same word boundaries.
            if (tok is not null) WordTargetMaker.CheckTokenizer(eval, tok, $"run '{spec.Name}'");
        }
        var configs = new List<(ModelConfig, string)>();
        foreach (var cp in cps)
        {
            ModelConfig cfg;
            try
            {
                cfg = reader.ReadConfig(cp.Path);
            }
            catch (Exception e) when (e is UserError or IOException or JsonException or InvalidDataException)
            {
                continue; // recorded as failed when its turn comes
            }
            configs.Add((cfg, cp.Path));
            if (cfg.VocabSize < eval.VocabSize)
                throw UserError.InFile(cp.Path, $"run '{spec.Name}': vocab_size {cfg.VocabSize} does not cover the eval set's vocabulary of {eval.VocabSize}; refused before any work");
            if (cfg.MaxPositions < eval.SeqLen)
                throw UserError.InFile(cp.Path, $"run '{spec.Name}': n_positions {cfg.MaxPositions} is shorter than the eval set's seq-len {eval.SeqLen}; refused before any work");
        }
        return configs;
    }

    private RunManifest Header(SweepRunSpec spec, int checkpoints, ModelConfig? cfg, EvalSet eval) => new()
    {
        Format = RunManifest.FormatName,
        Run = spec.Name,
        RunPath = Path.GetFullPath(spec.Path),
        EvalSet = new EvalSetEntry
        {
            Path = eval.Dir,
            Hash = eval.ContentHash,
            Sequences = eval.SequenceCount,
            SeqLen = eval.SeqLen,
            Examples = eval.Examples,
            VocabSize = eval.VocabSize,
        },
        ModelConfig = cfg is null ? null : new ModelConfigEntry
        {
            ModelType = cfg.ModelType,
            VocabSize = cfg.VocabSize,
            Positions = cfg.MaxPositions,
            Embd = cfg.Embd,
            Layers = cfg.Layers,
            Heads = cfg.Heads,
            Inner = cfg.InnerSize,
            LayerNormEpsilon = cfg.LayerNormEpsilon,
            ScaleAttnWeights = cfg.ScaleAttnWeights,
            ScaleAttnByInverseLayerIdx = cfg.ScaleAttnByInverseLayerIdx,
            TieWordEmbeddings = cfg.TieWordEmbeddings,
            RotaryDims = cfg.RotaryDims,
            RotaryBase = cfg.Architecture == Architecture.GptNeoX || cfg.IsLlamaFamily ? cfg.RotaryBase : null,
            RopeScaling = cfg.RotaryScaling is not { } rs ? null : new RopeScalingEntry
            {
                RopeType = rs.TypeName,
                Factor = rs.Factor,
                LowFreqFactor = rs.Type == RopeScalingType.Llama3 ? rs.LowFreqFactor : null,
                HighFreqFactor = rs.Type == RopeScalingType.Llama3 ? rs.HighFreqFactor : null,
                OriginalMaxPositions = rs.Type == RopeScalingType.Llama3 ? rs.OriginalMaxPositions : null,
            },
            ParallelResidual = cfg.ParallelResidual,
            Gelu = cfg.Gelu == GeluKind.Erf ? "erf" : "tanh",
        },
        EngineVersion = EngineInfo.Version,
        Backend = backend.Name,
        Precision = backend.Precision.ToString().ToLowerInvariant(),
        Device = backend.DeviceName,
        Surprisal = new SurprisalEntry { Shape = [checkpoints, eval.Examples] },
        Steps = new StepsEntry(),
    };

    private static string OneLine(string s) => s.ReplaceLineEndings(" | ");

    private static UserError DiskFull(string dir, string what, long needed, IOException e) =>
        new($"sweep: the disk is full: writing {what} in {dir} needed {needed.ToString("N0", CultureInfo.InvariantCulture)} bytes free there; " +
            "every finished row is kept and the unfinished one stays pending: free space and run the same command again", e);
}

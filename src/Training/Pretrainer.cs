using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using LearningCurves.Engine;
using LearningCurves.Engine.Checkpoints;
using LearningCurves.Engine.Model;
using LearningCurves.Training.Corpus;
using LearningCurves.Formats.IO;
using LearningCurves.Formats;

namespace LearningCurves.Training;

/// <summary>Everything one pre-training suite needs.</summary>
public sealed record PretrainOptions
{
    public required string CorpusDir { get; init; }
    public required ModelConfig Config { get; init; }
    /// <summary>The preset name or config file the config came from, for the manifest.</summary>
    public required string ConfigSource { get; init; }
    public required int[] Seeds { get; init; }
    public required int Steps { get; init; }
    public required ScheduleKind Schedule { get; init; }
    public required int Checkpoints { get; init; }
    public required string OutDir { get; init; }
    /// <summary>Sequences per step; each is n_positions tokens long.</summary>
    public int BatchSize { get; init; } = 16;
    public OptimizerSettings Optimizer { get; init; } = new();
    /// <summary>Train only the vocabulary entries the training text uses (exact: see <see cref="VocabularyMap"/>).</summary>
    public bool CompactVocabulary { get; init; } = true;
}

/// <summary>The tokenizer a suite uses: an encoder, the separator id, and the files copied into each checkpoint.</summary>
public sealed record TokenizerSpec(Func<string, int[]> Encode, int EndOfTextId, int VocabSize, string Description, string? FilesDir);

/// <summary>
/// Trains one small GPT-2 per seed on a corpus folder's train.txt and saves checkpoints on a schedule as
/// <c>OUT/run-&lt;seed&gt;/checkpoint-&lt;step&gt;/</c> (config.json, model.safetensors, vocab.json, merges.txt), plus
/// <c>OUT/manifest.json</c>. The seed sets both the initialization and the order of training windows. A run whose
/// <c>run.json</c> records the same settings is complete and skipped; any other run folder is redone from scratch.
/// </summary>
public sealed class Pretrainer
{
    private readonly PretrainOptions _o;
    private readonly TokenizerSpec _tok;
    private readonly TextWriter _log;

    public Pretrainer(PretrainOptions options, TokenizerSpec tokenizer, TextWriter log)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(log);
        _o = options;
        _tok = tokenizer;
        _log = log;
        options.Config.Validate(options.ConfigSource);
        if (options.Seeds.Length == 0) throw new UserError("pretrain: --seeds lists no seed");
        if (options.Seeds.Distinct().Count() != options.Seeds.Length) throw new UserError("pretrain: --seeds repeats a seed");
        if (options.BatchSize < 1) throw new UserError($"pretrain: --batch must be positive (got {options.BatchSize})");
        if (options.Config.VocabSize < tokenizer.VocabSize)
            throw UserError.InFile(options.ConfigSource, $"vocab_size {options.Config.VocabSize} is smaller than the tokenizer's {tokenizer.VocabSize}");
        StepsToSave = CheckpointSchedule.Steps(options.Schedule, options.Steps, options.Checkpoints);
    }

    /// <summary>The training token stream (int32, full GPT-2 ids) written beside the runs.</summary>
    public const string TrainTokensFile = "train-tokens.npy";

    /// <summary>The checkpoint steps, 0 first.</summary>
    public long[] StepsToSave { get; }

    /// <summary>The token stream of the training text: &lt;|endoftext|&gt; before every line, as the eval sets pack
    /// lines (begin token, line, separator, line, ...).</summary>
    public static int[] TokenizeLines(IReadOnlyList<string> lines, TokenizerSpec tok)
    {
        ArgumentNullException.ThrowIfNull(lines);
        ArgumentNullException.ThrowIfNull(tok);
        var pieces = new int[lines.Count][];
        // Lines are independent; the tokenizer is used from several threads (it only reads its tables).
        Parallel.For(0, lines.Count, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount },
            i => pieces[i] = tok.Encode(lines[i]));
        long total = pieces.Sum(p => (long)p.Length + 1);
        if (total > int.MaxValue) throw new UserError("pretrain: training text has more than 2^31 tokens");
        var stream = new int[total];
        int k = 0;
        foreach (var p in pieces)
        {
            stream[k++] = tok.EndOfTextId;
            p.CopyTo(stream, k);
            k += p.Length;
        }
        return stream;
    }

    /// <summary>Runs every seed; returns the manifest path.</summary>
    public string Run()
    {
        var cfg = _o.Config;
        int t = cfg.MaxPositions, b = _o.BatchSize;
        Directory.CreateDirectory(_o.OutDir);
        var corpusManifest = Path.Combine(_o.CorpusDir, CorpusBuilder.ManifestFile);
        var lines = CorpusBuilder.ReadLines(_o.CorpusDir, CorpusBuilder.TrainFile);
        var sw = Stopwatch.StartNew();
        var stream = TokenizeLines(lines, _tok);
        _log.WriteLine($"pretrain: {lines.Length:N0} training lines -> {stream.Length:N0} tokens ({sw.Elapsed.TotalSeconds:F1} s)");
        // The token stream in full ids, for n-gram statistics downstream (lines start at each <|endoftext|>).
        Npy.Write<int>(Path.Combine(_o.OutDir, TrainTokensFile), stream, stream.Length);
        // The model's vocabulary is the config's; the tokenizer's ids must fit in it.
        var map = _o.CompactVocabulary ? new VocabularyMap(cfg.VocabSize, stream) : VocabularyMap.Identity(cfg.VocabSize);
        map.Compact(stream);
        _log.WriteLine(_o.CompactVocabulary
            ? $"pretrain: the training text uses {map.Count:N0} of {cfg.VocabSize:N0} ids; the other {map.Unused:N0} keep zero embeddings (logit 0), so the head works on {map.Count:N0} rows"
            : $"pretrain: full vocabulary of {cfg.VocabSize:N0} in the head");
        int windows = (stream.Length - 1) / t;
        if (windows < b) throw UserError.InFile(_o.CorpusDir, $"training text has {stream.Length} tokens: fewer than one batch of {b} x {t + 1}");

        string settingsKey = SettingsKey(File.ReadAllText(corpusManifest));
        var runs = new JsonArray();
        foreach (int seed in _o.Seeds)
        {
            var runDir = Path.Combine(_o.OutDir, $"run-{seed}");
            var runJson = Path.Combine(runDir, "run.json");
            if (File.Exists(runJson) && ReadKey(runJson) == settingsKey)
            {
                _log.WriteLine($"pretrain: run-{seed} already complete with these settings; skipped");
                runs.Add(JsonNode.Parse(File.ReadAllText(runJson)));
                continue;
            }
            if (Directory.Exists(runDir)) Directory.Delete(runDir, recursive: true);
            runs.Add(TrainOne(seed, stream, windows, map, runDir, settingsKey));
        }
        var manifest = new JsonObject
        {
            ["format"] = "learning-curves pretraining suite v1",
            ["engine_version"] = EngineInfo.Version,
            ["config_source"] = _o.ConfigSource,
            ["config"] = JsonNode.Parse(HfConfig.ToJson(cfg)),
            ["parameters"] = new ParameterLayout(cfg).Count,
            ["corpus"] = Path.GetFullPath(_o.CorpusDir),
            ["corpus_manifest_sha256"] = CorpusBuilder.Sha256Hex(File.ReadAllBytes(corpusManifest)),
            ["train_tokens"] = stream.Length,
            ["vocabulary"] = _o.CompactVocabulary
                ? $"{map.Count} ids used by the training text are trained; the other {map.Unused} have zero embeddings throughout (logit 0), exactly as saved"
                : "all ids trained",
            ["tokenizer"] = _tok.Description,
            ["seeds"] = new JsonArray(_o.Seeds.Select(s => (JsonNode)s).ToArray()),
            ["seed_controls"] = "initialization (GPT-2 init, N(0, 0.02), projections / sqrt(2 n_layer)) and training data order " +
                                "(the shuffle of the non-overlapping n_positions+1-token windows, reshuffled each epoch)",
            ["data"] = $"train.txt lines tokenized, each preceded by <|endoftext|> ({_tok.EndOfTextId}), concatenated, cut into windows of {t + 1} tokens with stride {t}",
            ["batch_size"] = b,
            ["seq_len"] = t,
            ["tokens_per_step"] = b * t,
            ["steps"] = _o.Steps,
            ["schedule"] = _o.Schedule.ToString().ToLowerInvariant(),
            ["checkpoint_steps"] = new JsonArray(StepsToSave.Select(s => (JsonNode)s).ToArray()),
            ["optimizer"] = OptimizerJson(),
            ["runs"] = runs,
        };
        var path = Path.Combine(_o.OutDir, "manifest.json");
        AtomicFile.WriteAllText(path, manifest.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        return path;
    }

    private JsonObject OptimizerJson()
    {
        var s = _o.Optimizer;
        return new JsonObject
        {
            ["name"] = "AdamW (decay on matrices and embeddings only)",
            ["lr"] = s.LearningRate,
            ["final_lr_fraction"] = s.FinalLearningRateFraction,
            ["warmup_steps"] = s.WarmupSteps,
            ["schedule"] = "linear warmup, then linear decay",
            ["beta1"] = s.Beta1,
            ["beta2"] = s.Beta2,
            ["eps"] = s.Epsilon,
            ["weight_decay"] = s.WeightDecay,
            ["clip_norm"] = s.ClipNorm,
        };
    }

    /// <summary>A hash of everything that decides a run's checkpoints (seed aside).</summary>
    private string SettingsKey(string corpusManifest)
    {
        var text = string.Join("\n", HfConfig.ToJson(_o.Config), corpusManifest, _tok.Description, _o.Steps, _o.Schedule,
            _o.Checkpoints, _o.BatchSize, OptimizerJson().ToJsonString(), _o.CompactVocabulary, EngineInfo.Version, "trainer v1");
        return CorpusBuilder.Sha256Hex(Encoding.UTF8.GetBytes(text));
    }

    private static string? ReadKey(string runJson)
    {
        try
        {
            return JsonNode.Parse(File.ReadAllText(runJson))?["settings_key"]?.GetValue<string>();
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private JsonObject TrainOne(int seed, int[] stream, int windows, VocabularyMap map, string runDir, string settingsKey)
    {
        var cfg = _o.Config with { VocabSize = map.Count };
        int t = cfg.MaxPositions, b = _o.BatchSize, steps = _o.Steps;
        Directory.CreateDirectory(runDir);
        var model = TrainableGpt2.Initialize(cfg, seed, map.Unused);
        var adam = new AdamW(model.Layout, _o.Optimizer);
        // Data order gets its own stream, derived from the seed, so changing the init code never changes the order.
        var order = new WindowOrder(windows, unchecked(seed * 1_000_003 + 17));
        var inputs = new int[b * t];
        var targets = new int[b * t];
        var log = new StringBuilder("step,loss,lr,grad_norm,seconds\n");
        var sw = Stopwatch.StartNew();
        int next = 0;
        double lastLoss = double.NaN, smooth = double.NaN;
        SaveCheckpoint(model, map, runDir, 0, seed);
        next++;
        for (int step = 1; step <= steps; step++)
        {
            for (int i = 0; i < b; i++)
            {
                int w = order.Next();
                Array.Copy(stream, w * t, inputs, i * t, t);
                Array.Copy(stream, w * t + 1, targets, i * t, t);
            }
            double loss = model.ForwardBackward(inputs, targets, b, t);
            if (!double.IsFinite(loss)) throw new InvalidOperationException($"run-{seed}: loss is {loss} at step {step}");
            float lr = _o.Optimizer.LearningRateAt(step, steps);
            double norm = adam.Step(model.Parameters, model.Gradients, lr);
            lastLoss = loss;
            smooth = double.IsNaN(smooth) ? loss : 0.95 * smooth + 0.05 * loss;
            log.Append(CultureInfo.InvariantCulture, $"{step},{loss:R},{lr:R},{norm:R},{sw.Elapsed.TotalSeconds:F3}\n");
            if (next < StepsToSave.Length && StepsToSave[next] == step)
            {
                SaveCheckpoint(model, map, runDir, step, seed);
                next++;
            }
            if (step % 50 == 0 || step == steps)
            {
                double rate = step * (double)b * t / sw.Elapsed.TotalSeconds;
                _log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"pretrain: run-{seed} step {step}/{steps}  loss {smooth:F3} nats ({smooth / Math.Log(2):F2} bits)  lr {lr:G3}  {rate:N0} tok/s  {sw.Elapsed.TotalSeconds:F0} s"));
            }
        }
        AtomicFile.WriteAllText(Path.Combine(runDir, "train-log.csv"), log.ToString());
        var run = new JsonObject
        {
            ["seed"] = seed,
            ["init_seed"] = seed,
            ["data_order_seed"] = unchecked(seed * 1_000_003 + 17),
            ["settings_key"] = settingsKey,
            ["steps"] = steps,
            ["final_loss_nats"] = lastLoss,
            ["seconds"] = Math.Round(sw.Elapsed.TotalSeconds, 1),
            ["checkpoints"] = new JsonArray(StepsToSave.Select(s => (JsonNode)$"checkpoint-{s}").ToArray()),
        };
        // run.json last: its presence with a matching key is what marks the run complete.
        AtomicFile.WriteAllText(Path.Combine(runDir, "run.json"), run.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        return run;
    }

    private void SaveCheckpoint(TrainableGpt2 model, VocabularyMap map, string runDir, long step, int seed)
    {
        var final = Path.Combine(runDir, $"checkpoint-{step}");
        // Built under a hidden name and renamed, so a checkpoint folder that exists is complete.
        var tmp = Path.Combine(runDir, $".checkpoint-{step}.tmp");
        if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true);
        Directory.CreateDirectory(tmp);
        var meta = new Dictionary<string, string>
        {
            ["step"] = step.ToString(CultureInfo.InvariantCulture),
            ["seed"] = seed.ToString(CultureInfo.InvariantCulture),
            ["trainer"] = "learning-curves pretrain",
        };
        HfCheckpoint.Save(tmp, map.Expand(model.ToWeights($"run-{seed} step {step}")), metadata: meta);
        if (_tok.FilesDir is not null)
        {
            foreach (var f in new[] { "vocab.json", "merges.txt" })
                File.Copy(Path.Combine(_tok.FilesDir, f), Path.Combine(tmp, f));
        }
        if (Directory.Exists(final)) Directory.Delete(final, recursive: true);
        Directory.Move(tmp, final);
    }

    /// <summary>A seeded, epoch-wise shuffled order of window indices (Fisher-Yates with System.Random, which is
    /// reproducible for a given seed).</summary>
    private sealed class WindowOrder
    {
        private readonly int[] _perm;
        private readonly Random _rng;
        private int _pos;

        public WindowOrder(int count, int seed)
        {
            _perm = Enumerable.Range(0, count).ToArray();
            _rng = new Random(seed);
            Shuffle();
        }

        public int Next()
        {
            if (_pos == _perm.Length) Shuffle();
            return _perm[_pos++];
        }

        private void Shuffle()
        {
            for (int i = _perm.Length - 1; i > 0; i--)
            {
                int j = _rng.Next(i + 1);
                (_perm[i], _perm[j]) = (_perm[j], _perm[i]);
            }
            _pos = 0;
        }
    }
}

using System.Text.Json.Nodes;
using LearningCurves.Engine.Backends;
using LearningCurves.Engine.Checkpoints;
using LearningCurves.Engine.EvalSets;
using LearningCurves.Engine.Model;
using LearningCurves.Engine.Sweeps;
using LearningCurves.Formats.Runs;
using LearningCurves.Tests.Common;
using LearningCurves.Formats;
using Xunit;
using LearningCurves.Formats.IO;
using LearningCurves.Formats.EvalSets;
using LearningCurves.Formats.Curves;

namespace LearningCurves.Engine.Tests;

/// <summary>The sweep driver in this process (the real-process kill tests are in Runner.Tests).</summary>
public class SweepDriverTests
{
    private static readonly ModelConfig Cfg = new() { VocabSize = 48, MaxPositions = 16, Embd = 8, Layers = 1, Heads = 2 };

    private static (string Run, EvalSet Eval) Data(string root, int checkpoints)
    {
        string run = Path.Combine(root, "run");
        for (int i = 0; i < checkpoints; i++) HfCheckpoint.Save(Path.Combine(run, $"step{i * 10}"), ModelWeights.Random(Cfg, 30 + i));
        var tokens = Enumerable.Range(0, 5 * 12).Select(i => (i * 7 + 3) % 48).ToArray();
        new EvalSet(tokens, 5, 12, EvalSetBuilder.DrawTargets(5, 12, 3, 11), 48).Save(Path.Combine(root, "eval"), new JsonObject());
        return (run, EvalSet.Load(Path.Combine(root, "eval")));
    }

    private static SweepSummary Sweep(IBackend backend, string outDir, string run, EvalSet eval, SweepNotes notes, int shard = 0, int shards = 1) =>
        new SweepDriver(backend, new HfCheckpointReader(), notes).Run(new SweepOptions
        {
            OutDir = outDir, EvalSet = eval, Runs = [new SweepRunSpec("r", run)], ShardIndex = shard, ShardCount = shards, BatchSequences = 2,
        });

    [Fact]
    public void The_batch_chooser_sees_the_model_and_the_sequence_length_and_gives_the_same_rows()
    {
        string root = TestPaths.TempDir();
        var (run, eval) = Data(root, 2);
        using var backend = new CpuBackend();
        var fixedRows = Sweep(backend, Path.Combine(root, "fixed"), run, eval, new SweepNotes());
        var asked = new List<(ModelConfig Cfg, int T)>();
        var chosen = new SweepDriver(backend, new HfCheckpointReader(), new SweepNotes()).Run(new SweepOptions
        {
            OutDir = Path.Combine(root, "chosen"), EvalSet = eval, Runs = [new SweepRunSpec("r", run)], BatchSequences = 2,
            ChooseBatch = (cfg, t) => { asked.Add((cfg, t)); return 3; },
        });
        var (askedCfg, askedT) = Assert.Single(asked);
        Assert.Equal(eval.SeqLen, askedT);
        Assert.Equal(Cfg.Embd, askedCfg.Embd);
        Assert.Equal(fixedRows.Done, chosen.Done);
        // Another batch size may sum the products in another order: the same surprisals to fp32 rounding.
        var (want, _) = Npy.ReadFloats(Path.Combine(root, "fixed", "r", "surprisal.npy"));
        var (got, _) = Npy.ReadFloats(Path.Combine(root, "chosen", "r", "surprisal.npy"));
        Assert.Equal(want.Length, got.Length);
        for (int i = 0; i < want.Length; i++) Assert.True(Math.Abs(want[i] - got[i]) <= 1e-5, $"row value {i}: {got[i]} against {want[i]}");
    }

    /// <summary>A LLaMA-family run (the olmo2 and llama parity fixtures as checkpoints) sweeps like a GPT-2 one: every
    /// row done, the manifest names the model type, and the rows equal scoring the eval set's targets directly.</summary>
    [Theory]
    [InlineData("olmo2-gqa-f32", "olmo2")]
    [InlineData("llama-gqa-untied-f32", "llama")]
    [InlineData("qwen2-gqa-untied-f32", "qwen2")]
    [InlineData("qwen2-tied-mqa-bf16", "qwen2")]
    public void A_llama_family_run_sweeps_like_a_gpt2_one(string fixture, string modelType)
    {
        string root = TestPaths.TempDir(), run = Path.Combine(root, "run");
        string src = Path.Combine(TestPaths.RepoRoot, "tests", "fixtures", "parity-llama", fixture);
        foreach (var step in new[] { "step0", "step10" })
        {
            Directory.CreateDirectory(Path.Combine(run, step));
            foreach (var f in new[] { "config.json", "model.safetensors" }) File.Copy(Path.Combine(src, f), Path.Combine(run, step, f));
        }
        int vocab = Math.Min(80, HfConfig.LoadFromFolder(src).VocabSize);
        var tokens = Enumerable.Range(0, 4 * 12).Select(i => (i * 11 + 5) % vocab).ToArray();
        new EvalSet(tokens, 4, 12, EvalSetBuilder.DrawTargets(4, 12, 3, 7), vocab).Save(Path.Combine(root, "eval"), new JsonObject());
        var eval = EvalSet.Load(Path.Combine(root, "eval"));
        using var backend = new CpuBackend();
        var summary = Sweep(backend, Path.Combine(root, "out"), run, eval, new SweepNotes());
        Assert.Equal(2, summary.Done);
        Assert.Contains($"\"model_type\": \"{modelType}\"", File.ReadAllText(Path.Combine(root, "out", "r", "manifest.json")), StringComparison.Ordinal);
        var (rows, _) = Npy.ReadFloats(Path.Combine(root, "out", "r", "surprisal.npy"));
        Assert.Equal(2 * eval.Examples, rows.Length);
        using var model = new DecoderModel(backend, HfCheckpoint.Load(src));
        var seqs = Enumerable.Range(0, eval.SequenceCount).Select(q => eval.Sequence(q).ToArray()).ToArray();
        var positions = seqs.Select((_, q) => Enumerable.Range(0, eval.Examples).Where(e => eval.Targets[2 * e] == q).Select(e => eval.Targets[2 * e + 1]).ToArray()).ToArray();
        var want = model.Score(seqs, positions);
        for (int i = 0; i < want.Length; i++)
        {
            Assert.True(Math.Abs(want[i] - rows[i]) <= 1e-5, $"step0 example {i}: {rows[i]} against {want[i]}");
            Assert.True(Math.Abs(want[i] - rows[eval.Examples + i]) <= 1e-5, $"step10 example {i}: {rows[eval.Examples + i]} against {want[i]}");
        }
    }

    /// <summary>The memory check (`sweep` checks each model fits the GPU) sees each config of the sweep once, with its
    /// first checkpoint, before anything is written; a refusal stops the sweep there.</summary>
    [Fact]
    public void The_fit_check_sees_each_config_once_and_refuses_before_anything_is_written()
    {
        string root = TestPaths.TempDir();
        var (run, eval) = Data(root, 3);
        using var backend = new CpuBackend();
        string outDir = Path.Combine(root, "out");
        var seen = new List<(ModelConfig Cfg, string Dir)>();
        var e = Assert.Throws<UserError>(() => new SweepDriver(backend, new HfCheckpointReader(), new SweepNotes()).Run(new SweepOptions
        {
            OutDir = outDir, EvalSet = eval, Runs = [new SweepRunSpec("r", run)], BatchSequences = 2,
            CheckFits = (cfg, dir) =>
            {
                seen.Add((cfg, dir));
                throw new UserError($"{dir}: does not fit");
            },
        }));
        var (cfg, dir) = Assert.Single(seen);
        Assert.Equal(Cfg.Embd, cfg.Embd);
        Assert.Equal(Path.Combine(run, "step0"), dir);
        Assert.Equal($"{dir}: does not fit", e.Message);
        Assert.False(Directory.Exists(outDir), "the refused sweep wrote its output folder");

        // Passing the check, the same sweep runs (two configs: one check each).
        HfCheckpoint.Save(Path.Combine(run, "step30"), ModelWeights.Random(Cfg with { Layers = 2 }, 5));
        seen.Clear();
        var summary = new SweepDriver(backend, new HfCheckpointReader(), new SweepNotes()).Run(new SweepOptions
        {
            OutDir = outDir, EvalSet = eval, Runs = [new SweepRunSpec("r", run)], BatchSequences = 2,
            CheckFits = (c, d) => seen.Add((c, d)),
        });
        Assert.Equal(4, summary.Done);
        Assert.Equal([Path.Combine(run, "step0"), Path.Combine(run, "step30")], seen.Select(x => x.Dir));
    }

    [Fact]
    public void Done_row_whose_bytes_changed_is_recomputed_on_resume()
    {
        string root = TestPaths.TempDir();
        var (run, eval) = Data(root, 3);
        using var backend = new CpuBackend();
        string outDir = Path.Combine(root, "out");
        var first = Sweep(backend, outDir, run, eval, new SweepNotes());
        Assert.Equal(3, first.Done);
        string curve = Path.Combine(outDir, "r", "surprisal.npy");
        var good = File.ReadAllBytes(curve);
        var bad = (byte[])good.Clone();
        long offset = Npy.ReadHeader(curve).DataOffset + 1 * eval.Examples * 4 + 5;
        bad[offset] ^= 0x40;
        File.WriteAllBytes(curve, bad);

        var notes = new SweepNotes();
        var second = Sweep(backend, outDir, run, eval, notes);
        Assert.Equal(1, second.Recomputed);
        Assert.Equal(1, second.Done);
        Assert.Equal(2, second.AlreadyDone);
        Assert.Contains(notes.Lines, l => l.Contains("no longer matches its checksum", StringComparison.Ordinal));
        Assert.Equal(good, File.ReadAllBytes(curve));
    }

    [Theory]
    [InlineData("truncated")]
    [InlineData("garbage")]
    [InlineData("empty")]
    [InlineData("no-weights")]
    [InlineData("bad-config")]
    [InlineData("missing-tensor")]
    public void Unreadable_checkpoint_is_failed_with_a_reason_and_the_others_done(string damage)
    {
        string root = TestPaths.TempDir();
        var (run, eval) = Data(root, 3);
        string bad = Path.Combine(run, "step10");
        string st = Path.Combine(bad, "model.safetensors");
        switch (damage)
        {
            case "truncated": File.WriteAllBytes(st, File.ReadAllBytes(st)[..100]); break;
            case "garbage": File.WriteAllBytes(st, Enumerable.Range(0, 5000).Select(i => (byte)(i * 31)).ToArray()); break;
            case "empty": File.WriteAllBytes(st, []); break;
            case "no-weights": File.Delete(st); break;
            case "bad-config": File.WriteAllText(Path.Combine(bad, "config.json"), "{ not json"); break;
            case "missing-tensor":
                var w = ModelWeights.Random(Cfg with { Layers = 2 }, 5);
                HfCheckpoint.Save(bad, w);
                File.WriteAllText(Path.Combine(bad, "config.json"), File.ReadAllText(Path.Combine(run, "step0", "config.json")).Replace("\"n_layer\": 1", "\"n_layer\": 3", StringComparison.Ordinal));
                break;
        }
        using var backend = new CpuBackend();
        var notes = new SweepNotes();
        var s = Sweep(backend, Path.Combine(root, "out"), run, eval, notes);
        Assert.Equal((2, 1), (s.Done, s.Failed));
        var failed = Assert.Single(s.Failures);
        Assert.Equal(10, failed.Step);
        Assert.False(string.IsNullOrWhiteSpace(failed.Reason));
        Assert.DoesNotContain('\n', failed.Reason!);
        var rows = new RunStore(Path.Combine(root, "out", "r")).ReadRows();
        Assert.Equal([RowStatus.Done, RowStatus.Failed, RowStatus.Done], rows.Select(r => r.Status));
        Assert.Equal(failed.Reason, rows[1].Reason);
    }

    [Fact]
    public void Shards_split_the_pairs_round_robin_and_together_equal_one_process()
    {
        string root = TestPaths.TempDir();
        var (run, eval) = Data(root, 5);
        using var backend = new CpuBackend();
        Sweep(backend, Path.Combine(root, "one"), run, eval, new SweepNotes());
        var owned = new List<int>[2];
        for (int i = 0; i < 2; i++)
        {
            var n = new SweepNotes();
            Sweep(backend, Path.Combine(root, "two"), run, eval, n, i, 2);
            owned[i] = n.Results.Select(r => r.Row).ToList();
        }
        Assert.Equal([0, 2, 4], owned[0]);
        Assert.Equal([1, 3], owned[1]);
        foreach (var f in new[] { "surprisal.npy", "steps.npy", "manifest.json" })
            Assert.Equal(File.ReadAllBytes(Path.Combine(root, "one", "r", f)), File.ReadAllBytes(Path.Combine(root, "two", "r", f)));
        var status = SweepStatus.Read(Path.Combine(root, "two")).Single();
        Assert.Equal((5, 5, 0, 0), (status.Total, status.Done, status.Failed, status.Pending));
    }

    [Fact]
    public void Resuming_with_another_precision_or_changed_checkpoints_is_refused()
    {
        string root = TestPaths.TempDir();
        var (run, eval) = Data(root, 2);
        string outDir = Path.Combine(root, "out");
        using (var cpu = new CpuBackend()) Sweep(cpu, outDir, run, eval, new SweepNotes());
        using (var bf16 = new CpuBackend(Precision.Bf16))
        {
            var e = Assert.Throws<UserError>(() => Sweep(bf16, outDir, run, eval, new SweepNotes()));
            Assert.Contains("precision fp32", e.Message, StringComparison.Ordinal);
        }
        HfCheckpoint.Save(Path.Combine(run, "step5"), ModelWeights.Random(Cfg, 99));
        using var backend = new CpuBackend();
        var e2 = Assert.Throws<UserError>(() => Sweep(backend, outDir, run, eval, new SweepNotes()));
        Assert.Contains("checkpoints changed", e2.Message, StringComparison.Ordinal);
        Assert.Throws<UserError>(() => Sweep(backend, outDir, run, eval, new SweepNotes(), 2, 2));
    }

    [Fact]
    public void Run_whose_tokenizer_has_another_vocabulary_is_refused()
    {
        string fixture = TestPaths.SharedFixture("tiny-random-gpt2");
        string root = TestPaths.TempDir();
        var (run, eval) = Data(root, 1);
        foreach (var f in new[] { "vocab.json", "merges.txt" }) File.Copy(Path.Combine(fixture, f), Path.Combine(run, f));
        using var backend = new CpuBackend();
        var e = Assert.Throws<UserError>(() => Sweep(backend, Path.Combine(root, "out"), run, eval, new SweepNotes()));
        Assert.Contains("1000 ids, the eval set's 48", e.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(root, "out", "r")));
    }

    [Fact]
    public void Status_merges_row_records_newer_than_the_manifest()
    {
        string root = TestPaths.TempDir();
        var store = new RunStore(Path.Combine(root, "r"));
        var cps = new[] { new Checkpoint(1, "/x/step1"), new Checkpoint(2, "/x/step2"), new Checkpoint(3, "/x/step3") };
        store.Prepare(new RunManifest { EvalSet = new EvalSetEntry { Hash = "h" }, Backend = "cpu", Precision = "fp32" }, cps, 4);
        // A record written by another process that has not merged yet.
        File.WriteAllText(store.RowPath(1), new RowRecord(1, 2, "/x/step2", RowStatus.Failed, Reason: "broken").ToFileText());
        var rows = store.ReadRows();
        Assert.Equal([RowStatus.Pending, RowStatus.Failed, RowStatus.Pending], rows.Select(r => r.Status));
        var st = SweepStatus.Read(root).Single();
        Assert.Equal((3, 0, 1, 2), (st.Total, st.Done, st.Failed, st.Pending));
        Assert.Equal("broken", st.Failures[0].Reason);
        store.RefreshManifest();
        Assert.Equal(RowStatus.Failed, store.ReadManifest().Rows![1].Status);
        Assert.Contains("\"status\": \"failed\"", File.ReadAllText(store.ManifestPath), StringComparison.Ordinal);
    }

    /// <summary>A hub cache repo as huggingface_hub writes it, where step0 serves step1's weights and step4 serves
    /// step8's (step8 saved as pytorch_model.bin, the others as safetensors): found through refs/, in step order, each
    /// group scored once, every earlier member marked duplicate_of the largest step, listed by status.</summary>
    [Fact]
    public void A_hub_cache_sweep_finds_its_step_revisions_and_flags_duplicates()
    {
        string root = TestPaths.TempDir();
        var (_, eval) = Data(root, 0);
        string repo = Path.Combine(root, "hub", "models--Org--tiny");
        string blobs = Path.Combine(repo, "blobs");
        Directory.CreateDirectory(blobs);
        var staging = Path.Combine(root, "staging");
        void Revision(string rev, string commit, string modelDir)
        {
            File.WriteAllText(Path.Combine(repo, "refs", rev).Also(f => Directory.CreateDirectory(Path.GetDirectoryName(f)!)), commit);
            var snap = Path.Combine(repo, "snapshots", commit);
            Directory.CreateDirectory(snap);
            foreach (var f in Directory.GetFiles(modelDir))
            {
                // Content-addressed blobs: identical files are one blob.
                var hash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(f)));
                var blob = Path.Combine(blobs, hash);
                if (!File.Exists(blob)) File.Copy(f, blob);
                var link = Path.Combine(snap, Path.GetFileName(f));
                if (!File.Exists(link)) File.CreateSymbolicLink(link, Path.Combine("..", "..", "blobs", hash));
            }
        }
        string Model(string name, int seed)
        {
            var d = Path.Combine(staging, name);
            HfCheckpoint.Save(d, ModelWeights.Random(Cfg, seed));
            return d;
        }
        var a = Model("a", 1);
        var b = Model("b", 2);
        var c = Model("c", 3);
        var cBin = Path.Combine(staging, "c-bin");
        Directory.CreateDirectory(cBin);
        File.Copy(Path.Combine(c, "config.json"), Path.Combine(cBin, "config.json"));
        TorchBinTests.WriteBinFrom(Path.Combine(c, "model.safetensors"), cBin, new Random(5), shareHead: false);
        Revision("step1", new string('1', 40), a);
        Revision("step0", new string('0', 40), a);
        Revision("step2", new string('2', 40), b);
        Revision("step4", new string('4', 40), c);
        Revision("step8", new string('8', 40), cBin);
        Revision("main", new string('8', 40), cBin);

        using var backend = new CpuBackend();
        var notes = new SweepNotes();
        string outDir = Path.Combine(root, "out");
        var summary = Sweep(backend, outDir, repo, eval, notes);
        Assert.True(summary.Done == 5, string.Join(" | ", summary.Failures.Select(f => $"{f.Step}: {f.Reason}")));
        Assert.Equal([0L, 1, 2, 4, 8], notes.Results.Select(r => r.Step));
        Assert.Equal(2, notes.Lines.Count(l => l.Contains("its row is copied, not scored again", StringComparison.Ordinal)));
        Assert.Equal(3, notes.Results.Count(r => r.Tokens > 0)); // three forward passes for five rows
        Assert.Contains(notes.Lines, l => l.StartsWith("warning: r: step(s) 0 serve the same weights as step 1", StringComparison.Ordinal));
        Assert.Contains(notes.Lines, l => l.StartsWith("warning: r: step(s) 4 serve the same weights as step 8", StringComparison.Ordinal));

        var manifest = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "r", "manifest.json")))!;
        var rows = manifest["rows"]!.AsArray();
        Assert.Equal(1L, rows[0]!["duplicate_of"]!.GetValue<long>());
        Assert.Null(rows[1]!["duplicate_of"]);
        Assert.Null(rows[2]!["duplicate_of"]);
        Assert.Equal(8L, rows[3]!["duplicate_of"]!.GetValue<long>());
        Assert.Null(rows[4]!["duplicate_of"]);
        Assert.Equal(rows[3]!["weights_hash"]!.GetValue<string>(), rows[4]!["weights_hash"]!.GetValue<string>()); // safetensors and .bin alike
        Assert.NotEqual(rows[2]!["weights_hash"]!.GetValue<string>(), rows[4]!["weights_hash"]!.GetValue<string>());

        using (var curve = CurveFileWriter.Open(Path.Combine(outDir, "r", "surprisal.npy"), 5, eval.Examples))
        {
            var r3 = new float[eval.Examples];
            var r4 = new float[eval.Examples];
            curve.ReadRow(3, r3);
            curve.ReadRow(4, r4);
            Assert.Equal(r4, r3);
        }
        var status = SweepStatus.Read(outDir).Single();
        Assert.Equal([0L, 4], status.Duplicates.Select(d => d.Step));
        Assert.Equal([1L, 8], status.Duplicates.Select(d => d.DuplicateOf!.Value));

        // main is another name for step8: only when asked, with its step.
        var picked = CheckpointSeries.Discover(repo + "@main:143000");
        Assert.Equal(Path.Combine(repo, "snapshots", new string('8', 40)), picked.Single().Path);
    }
}

internal static class TestExtensions
{
    public static T Also<T>(this T x, Action<T> f)
    {
        f(x);
        return x;
    }
}

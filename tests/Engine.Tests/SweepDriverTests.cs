using System.Text.Json.Nodes;
using LearningCurves.Engine.Backends;
using LearningCurves.Engine.Checkpoints;
using LearningCurves.Engine.EvalSets;
using LearningCurves.Engine.IO;
using LearningCurves.Engine.Model;
using LearningCurves.Engine.Sweeps;
using LearningCurves.Tests.Common;
using Xunit;

namespace LearningCurves.Engine.Tests;

/// <summary>The sweep driver in this process (the real-process kill tests are in Runner.Tests).</summary>
public class SweepDriverTests
{
    private static readonly Gpt2Config Cfg = new() { VocabSize = 48, MaxPositions = 16, Embd = 8, Layers = 1, Heads = 2 };

    private sealed class Notes : ISweepObserver
    {
        public List<string> Lines { get; } = new();
        public List<CheckpointResult> Results { get; } = new();
        public void Planned(int toDo, int share, int alreadyDone) => Lines.Add($"planned {toDo}/{share}/{alreadyDone}");
        public void Scoring(string run, long step, double fraction) { }
        public void Finished(CheckpointResult r) => Results.Add(r);
        public void Note(string line) => Lines.Add(line);
    }

    private static (string Run, EvalSet Eval) Data(string root, int checkpoints)
    {
        string run = Path.Combine(root, "run");
        for (int i = 0; i < checkpoints; i++) HfCheckpoint.Save(Path.Combine(run, $"step{i * 10}"), Gpt2Weights.Random(Cfg, 30 + i));
        var tokens = Enumerable.Range(0, 5 * 12).Select(i => (i * 7 + 3) % 48).ToArray();
        new EvalSet(tokens, 5, 12, EvalSetBuilder.DrawTargets(5, 12, 3, 11), 48).Save(Path.Combine(root, "eval"), new JsonObject());
        return (run, EvalSet.Load(Path.Combine(root, "eval")));
    }

    private static SweepSummary Sweep(IBackend backend, string outDir, string run, EvalSet eval, Notes notes, int shard = 0, int shards = 1) =>
        new SweepDriver(backend, new HfCheckpointReader(), notes).Run(new SweepOptions
        {
            OutDir = outDir, EvalSet = eval, Runs = [new SweepRunSpec("r", run)], ShardIndex = shard, ShardCount = shards, BatchSequences = 2,
        });

    [Fact]
    public void Done_row_whose_bytes_changed_is_recomputed_on_resume()
    {
        string root = TestPaths.TempDir();
        var (run, eval) = Data(root, 3);
        using var backend = new CpuBackend();
        string outDir = Path.Combine(root, "out");
        var first = Sweep(backend, outDir, run, eval, new Notes());
        Assert.Equal(3, first.Done);
        string curve = Path.Combine(outDir, "r", "surprisal.npy");
        var good = File.ReadAllBytes(curve);
        var bad = (byte[])good.Clone();
        long offset = Npy.ReadHeader(curve).DataOffset + 1 * eval.Examples * 4 + 5;
        bad[offset] ^= 0x40;
        File.WriteAllBytes(curve, bad);

        var notes = new Notes();
        var second = Sweep(backend, outDir, run, eval, notes);
        Assert.Equal(1, second.Recomputed);
        Assert.Equal(1, second.Done);
        Assert.Equal(2, second.AlreadyDone);
        Assert.Contains(notes.Lines, l => l.Contains("no longer matches its checksum", StringComparison.Ordinal));
        Assert.Equal(good, File.ReadAllBytes(curve));
    }

    [Fact]
    public void Shards_split_the_pairs_round_robin_and_together_equal_one_process()
    {
        string root = TestPaths.TempDir();
        var (run, eval) = Data(root, 5);
        using var backend = new CpuBackend();
        Sweep(backend, Path.Combine(root, "one"), run, eval, new Notes());
        var owned = new List<int>[2];
        for (int i = 0; i < 2; i++)
        {
            var n = new Notes();
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
        using (var cpu = new CpuBackend()) Sweep(cpu, outDir, run, eval, new Notes());
        using (var bf16 = new CpuBackend(Precision.Bf16))
        {
            var e = Assert.Throws<UserError>(() => Sweep(bf16, outDir, run, eval, new Notes()));
            Assert.Contains("precision fp32", e.Message, StringComparison.Ordinal);
        }
        HfCheckpoint.Save(Path.Combine(run, "step5"), Gpt2Weights.Random(Cfg, 99));
        using var backend = new CpuBackend();
        var e2 = Assert.Throws<UserError>(() => Sweep(backend, outDir, run, eval, new Notes()));
        Assert.Contains("checkpoints changed", e2.Message, StringComparison.Ordinal);
        Assert.Throws<UserError>(() => Sweep(backend, outDir, run, eval, new Notes(), 2, 2));
    }

    [Fact]
    public void Status_merges_row_records_newer_than_the_manifest()
    {
        string root = TestPaths.TempDir();
        var store = new RunStore(Path.Combine(root, "r"));
        var cps = new[] { new Checkpoint(1, "/x/step1"), new Checkpoint(2, "/x/step2"), new Checkpoint(3, "/x/step3") };
        store.Prepare(new JsonObject { ["eval_set"] = new JsonObject { ["hash"] = "h" }, ["backend"] = "cpu", ["precision"] = "fp32" }, cps, 4);
        // A record written by another process that has not merged yet.
        File.WriteAllText(store.RowPath(1), new RowRecord(1, 2, "/x/step2", RowStatus.Failed, Reason: "broken").ToJson().ToJsonString());
        var rows = store.ReadRows();
        Assert.Equal([RowStatus.Pending, RowStatus.Failed, RowStatus.Pending], rows.Select(r => r.Status));
        var st = SweepStatus.Read(root).Single();
        Assert.Equal((3, 0, 1, 2), (st.Total, st.Done, st.Failed, st.Pending));
        Assert.Equal("broken", st.Failures[0].Reason);
        store.RefreshManifest();
        Assert.Equal("failed", store.ReadManifest()["rows"]![1]!["status"]!.GetValue<string>());
    }
}

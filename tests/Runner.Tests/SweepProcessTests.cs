using System.Diagnostics;
using System.Text.Json.Nodes;
using LearningCurves.Engine.Backends;
using LearningCurves.Engine.Checkpoints;
using LearningCurves.Engine.EvalSets;
using LearningCurves.Engine.Model;
using Xunit;
using LearningCurves.Formats.IO;
using LearningCurves.Formats.EvalSets;

namespace LearningCurves.Runner.Tests;

/// <summary>Shared by the process tests: the tiny runs and one uninterrupted sweep to compare against.</summary>
public sealed class SweepReference
{
    public SweepReference()
    {
        Data = new SweepTestData(SweepTestData.NewRoot("sweep-ref"));
        OutDir = Path.Combine(Data.Root, "out-ref");
        var (code, stdout, stderr) = SweepTestData.Run(Data.SweepArgs(OutDir));
        Assert.True(code == 0, $"reference sweep exit {code}\n{stdout}\n{stderr}");
        Stdout = stdout;
        Files = SweepTestData.Snapshot(OutDir);
    }

    public SweepTestData Data { get; }
    public string OutDir { get; }
    public string Stdout { get; }
    public SortedDictionary<string, byte[]> Files { get; }
}

/// <summary>The real `learning-curves sweep` process: killed with SIGKILL and resumed, sharded, with bad input.</summary>
public sealed class SweepProcessTests(SweepReference reference) : IClassFixture<SweepReference>
{
    private const int SlowMs = 100;
    private readonly SweepTestData _data = reference.Data;

    private string NewOut(string name) => Path.Combine(_data.Root, $"out-{name}-{Guid.NewGuid():N}");

    [Fact]
    public void Uninterrupted_sweep_writes_curve_files_that_match_direct_scoring()
    {
        string dir = Path.Combine(reference.OutDir, "a");
        var h = Npy.ReadHeader(Path.Combine(dir, "surprisal.npy"));
        Assert.Equal(NpyDType.Float32, h.DType);
        Assert.False(h.FortranOrder);
        Assert.Equal([4L, 30L], h.Shape);
        Assert.Equal(0, h.DataOffset % 64);
        Assert.Equal(h.DataOffset + 4 * 30 * 4, new FileInfo(Path.Combine(dir, "surprisal.npy")).Length);
        var (steps, sshape) = Npy.ReadInt64(Path.Combine(dir, "steps.npy"));
        Assert.Equal(NpyDType.Int64, Npy.ReadHeader(Path.Combine(dir, "steps.npy")).DType);
        Assert.Equal([4L], sshape);
        Assert.Equal([100L, 200, 300, 400], steps);
        Assert.Equal([0L, 1000, 2000], Npy.ReadInt64(Path.Combine(reference.OutDir, "b", "steps.npy")).Data);

        // Row 2 of run a equals scoring checkpoint-300 directly, in this process, bit for bit.
        var (curve, _) = Npy.ReadFloats(Path.Combine(dir, "surprisal.npy"));
        var eval = EvalSet.Load(_data.EvalDir);
        using var backend = new CpuBackend();
        using var model = new DecoderModel(backend, HfCheckpoint.Load(Path.Combine(_data.RunA, "checkpoint-300")));
        var seqs = Enumerable.Range(0, eval.SequenceCount).Select(s => eval.Sequence(s).ToArray()).ToArray();
        var pos = Enumerable.Range(0, eval.SequenceCount)
            .Select(s => Enumerable.Range(0, eval.Examples).Where(m => eval.Targets[2 * m] == s).Select(m => eval.Targets[2 * m + 1]).ToArray())
            .ToArray();
        var direct = model.Score(seqs, pos);
        for (int m = 0; m < 30; m++)
        {
            Assert.True(direct[m] == curve[2 * 30 + m], $"example {m}: curve {curve[2 * 30 + m]}, direct {direct[m]}");
            Assert.True(direct[m] > 0 && float.IsFinite(direct[m]));
        }

        var man = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "manifest.json")))!;
        Assert.Equal("a", man["run"]!.GetValue<string>());
        Assert.Equal(eval.ContentHash, man["eval_set"]!["hash"]!.GetValue<string>());
        Assert.Equal(Path.GetFullPath(_data.EvalDir), man["eval_set"]!["path"]!.GetValue<string>());
        Assert.Equal("cpu", man["backend"]!.GetValue<string>());
        Assert.Equal("fp32", man["precision"]!.GetValue<string>());
        Assert.False(string.IsNullOrEmpty(man["device"]!.GetValue<string>()));
        Assert.False(string.IsNullOrEmpty(man["engine_version"]!.GetValue<string>()));
        Assert.Equal(16, man["model_config"]!["n_embd"]!.GetValue<int>());
        var rows = man["rows"]!.AsArray();
        Assert.Equal(4, rows.Count);
        for (int r = 0; r < 4; r++)
        {
            Assert.Equal("done", rows[r]!["status"]!.GetValue<string>());
            Assert.Equal(steps[r], rows[r]!["step"]!.GetValue<long>());
            var row = curve.AsSpan(r * 30, 30).ToArray();
            Assert.Equal(LearningCurves.Formats.Curves.CurveFileWriter.Checksum(row), rows[r]!["checksum"]!.GetValue<string>());
        }
        Assert.Contains("throughput:", reference.Stdout, StringComparison.Ordinal);
        Assert.Contains("time: load", reference.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Numpy_reads_the_curve_files_with_mmap()
    {
        const string py = "/usr/bin/python3";
        Assert.SkipUnless(File.Exists(py), "/usr/bin/python3 is absent");
        var probe = SweepTestData.RunProcess(py, ["-c", "import numpy"]);
        Assert.SkipWhen(probe.Code != 0, "numpy is not installed for /usr/bin/python3");
        string dir = Path.Combine(reference.OutDir, "a");
        string script = "import numpy as np, sys\n"
            + "a = np.load(sys.argv[1], mmap_mode='r'); s = np.load(sys.argv[2])\n"
            + "assert a.dtype == np.float32 and a.shape == (4, 30) and a.flags['C_CONTIGUOUS'], (a.dtype, a.shape)\n"
            + "assert s.dtype == np.int64 and list(s) == [100, 200, 300, 400], s\n"
            + "print(repr(float(a[2, 7])), float(np.nansum(a)))\n";
        var (code, stdout, stderr) = SweepTestData.RunProcess(py, ["-c", script, Path.Combine(dir, "surprisal.npy"), Path.Combine(dir, "steps.npy")]);
        Assert.True(code == 0, $"numpy failed: {stderr}");
        var (curve, _) = Npy.ReadFloats(Path.Combine(dir, "surprisal.npy"));
        Assert.Equal(((double)curve[2 * 30 + 7]).ToString("R", System.Globalization.CultureInfo.InvariantCulture),
            stdout.Split(' ')[0]);
    }

    [Fact]
    public void Rerunning_a_finished_sweep_does_nothing_and_says_so()
    {
        string outDir = NewOut("rerun");
        Assert.Equal(0, SweepTestData.Run(_data.SweepArgs(outDir)).Code);
        var before = SweepTestData.Snapshot(outDir);
        var stamp = File.GetLastWriteTimeUtc(Path.Combine(outDir, "a", "manifest.json"));
        var (code, stdout, stderr) = SweepTestData.Run(_data.SweepArgs(outDir));
        Assert.True(code == 0, stderr);
        Assert.Contains("nothing to do", stdout, StringComparison.Ordinal);
        SweepTestData.AssertSame(before, SweepTestData.Snapshot(outDir), "rerun");
        Assert.Equal(stamp, File.GetLastWriteTimeUtc(Path.Combine(outDir, "a", "manifest.json")));
        SweepTestData.AssertSame(reference.Files, before, "second uninterrupted run vs reference");
    }

    [Fact]
    public void Killed_at_random_moments_and_resumed_is_byte_identical()
    {
        int seed = Random.Shared.Next();
        var rng = new Random(seed);
        string outDir = NewOut("random-kill");
        var args = _data.SweepArgs(outDir);
        int kills = 0;
        // Each attempt is killed after a random delay; 7 rows at 4 pauses of SlowMs each take 2.8 s plus startup.
        for (int attempt = 0; attempt < 3; attempt++)
        {
            int delay = rng.Next(150, 2500);
            if (KillAfter(args, TimeSpan.FromMilliseconds(delay))) kills++;
        }
        var (code, stdout, stderr) = SweepTestData.Run(args, SlowMs);
        Assert.True(code == 0, $"seed {seed}: final run exit {code}\n{stdout}\n{stderr}");
        SweepTestData.AssertSame(reference.Files, SweepTestData.Snapshot(outDir), $"seed {seed}, {kills} kills");
        Assert.True(kills >= 1, $"seed {seed}: no attempt was killed before finishing");
    }

    [Fact]
    public void Killed_inside_a_row_write_then_between_record_and_manifest_merge_and_resumed_is_byte_identical()
    {
        string outDir = NewOut("kill-at-markers");
        var args = _data.SweepArgs(outDir);
        // 1. The second row of run a: killed in the pause after the first quarter of its bytes is written.
        Assert.True(KillAtMarker(args, "row-write a 1", SlowMs / 2), "the row-write marker never appeared");
        var (partial, _) = Npy.ReadFloats(Path.Combine(outDir, "a", "surprisal.npy"));
        var row1 = partial.AsSpan(30, 30).ToArray();
        Assert.True(row1.Any(float.IsNaN) && row1.Any(x => !float.IsNaN(x)),
            $"the kill should leave row 1 half written: [{string.Join(", ", row1)}]");
        Assert.True(partial.AsSpan(0, 30).ToArray().All(x => !float.IsNaN(x)), "row 0 was done before the kill");
        var rowsA = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "a", "manifest.json")))!["rows"]!.AsArray();
        Assert.Equal(["done", "pending", "pending", "pending"], rowsA.Select(r => r!["status"]!.GetValue<string>()));

        // 2. Resumed, then killed after run b's first record is durable but before it is merged into the manifest.
        Assert.True(KillAtMarker(args, "row-recorded b 0", 0), "the row-recorded marker never appeared");
        var rowsB = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "b", "manifest.json")))!["rows"]!.AsArray();
        Assert.Equal("pending", rowsB[0]!["status"]!.GetValue<string>());
        var (scode, sout, _) = SweepTestData.Run(["status", outDir]);
        Assert.Equal(0, scode);
        Assert.Contains("a: 4 done, 0 failed, 0 pending (of 4)", sout, StringComparison.Ordinal);
        Assert.Contains("b: 1 done, 0 failed, 2 pending (of 3)", sout, StringComparison.Ordinal);

        // 3. Resumed to the end: nothing done is recomputed, and every file equals the uninterrupted run's.
        var (code, stdout, stderr) = SweepTestData.Run(args);
        Assert.True(code == 0, $"{stdout}\n{stderr}");
        Assert.Contains("5 already done", stdout, StringComparison.Ordinal);
        SweepTestData.AssertSame(reference.Files, SweepTestData.Snapshot(outDir), "resumed after kills at both markers");
    }

    [Fact]
    public async Task Shards_as_separate_processes_fill_the_same_files()
    {
        string outDir = NewOut("shards");
        const int n = 3;
        var procs = Enumerable.Range(0, n)
            .Select(i => Process.Start(SweepTestData.Runner(_data.SweepArgs(outDir, "--shard", $"{i}/{n}", "--json")))!)
            .ToArray();
        var outputs = procs.Select(p => (Out: p.StandardOutput.ReadToEndAsync(), Err: p.StandardError.ReadToEndAsync())).ToArray();
        for (int i = 0; i < n; i++)
        {
            string so = await outputs[i].Out, se = await outputs[i].Err;
            Assert.True(procs[i].WaitForExit(120_000));
            Assert.True(procs[i].ExitCode == 0, $"shard {i}: exit {procs[i].ExitCode}\n{so}\n{se}");
            // 7 (run, checkpoint) pairs: shard i owns g % 3 == i, so 3, 2 and 2 checkpoints.
            var events = so.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!).ToList();
            var done = events.Where(e => e["event"]!.GetValue<string>() == "checkpoint").ToList();
            Assert.Equal(i == 0 ? 3 : 2, done.Count);
            Assert.All(done, e => Assert.Equal("done", e["status"]!.GetValue<string>()));
            Assert.Equal("summary", events[^1]["event"]!.GetValue<string>());
            procs[i].Dispose();
        }
        // The merged state equals a single uninterrupted process's, manifest included.
        SweepTestData.AssertSame(reference.Files, SweepTestData.Snapshot(outDir), "3 shards");
        var (scode, sout, _) = SweepTestData.Run(["status", outDir, "--json"]);
        Assert.Equal(0, scode);
        var status = JsonNode.Parse(sout)!.AsArray();
        Assert.Equal(2, status.Count);
        Assert.All(status, s => Assert.Equal(s!["total"]!.GetValue<int>(), s["done"]!.GetValue<int>()));
    }

    [Fact]
    public void Corrupt_checkpoint_mid_run_is_failed_with_reason_and_the_rest_done()
    {
        var data = new SweepTestData(SweepTestData.NewRoot("sweep-corrupt"), seed: 1, checkpointsA: 3, checkpointsB: 2);
        string bad = Path.Combine(data.RunA, "checkpoint-200", "model.safetensors");
        var bytes = File.ReadAllBytes(bad);
        File.WriteAllBytes(bad, bytes.AsSpan(0, bytes.Length / 2).ToArray()); // truncated mid-tensor
        string outDir = Path.Combine(data.Root, "out");
        var (code, stdout, stderr) = SweepTestData.Run(data.SweepArgs(outDir));
        Assert.True(code == 3, $"exit {code}\n{stdout}\n{stderr}");
        Assert.Contains("FAILED a step 200", stdout, StringComparison.Ordinal);
        Assert.Contains("failed: a step 200", stdout, StringComparison.Ordinal);
        var rows = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "a", "manifest.json")))!["rows"]!.AsArray();
        Assert.Equal(["done", "failed", "done"], rows.Select(r => r!["status"]!.GetValue<string>()));
        string reason = rows[1]!["reason"]!.GetValue<string>();
        Assert.Contains("model.safetensors", reason, StringComparison.Ordinal);
        var (curve, _) = Npy.ReadFloats(Path.Combine(outDir, "a", "surprisal.npy"));
        Assert.All(curve.AsSpan(30, 30).ToArray(), x => Assert.True(float.IsNaN(x)));
        Assert.All(curve.AsSpan(60, 30).ToArray(), x => Assert.False(float.IsNaN(x)));
        var (scode, sout, _) = SweepTestData.Run(["status", outDir]);
        Assert.Equal(0, scode);
        Assert.Contains("a: 2 done, 1 failed, 0 pending (of 3)", sout, StringComparison.Ordinal);
        Assert.Contains("b: 2 done, 0 failed, 0 pending (of 2)", sout, StringComparison.Ordinal);

        // Repaired, a rerun scores only the failed checkpoint.
        SweepTestData.SaveCheckpoint(Path.Combine(data.RunA, "checkpoint-200"), 101);
        var (code2, stdout2, stderr2) = SweepTestData.Run(data.SweepArgs(outDir));
        Assert.True(code2 == 0, $"{stdout2}\n{stderr2}");
        Assert.Contains("1 checkpoint(s) done, 0 failed, 4 already done", stdout2, StringComparison.Ordinal);
    }

    [Fact]
    public void Changed_eval_set_is_refused_before_any_work()
    {
        var data = new SweepTestData(SweepTestData.NewRoot("sweep-changed"), seed: 3, checkpointsA: 2, checkpointsB: 1);
        string outDir = Path.Combine(data.Root, "out");
        Assert.Equal(0, SweepTestData.Run(data.SweepArgs(outDir)).Code);
        var before = SweepTestData.Snapshot(outDir);
        SweepTestData.MakeEvalSet(data.EvalDir, seed: 4);
        var (code, stdout, stderr) = SweepTestData.Run(data.SweepArgs(outDir));
        Assert.True(code == 2, $"exit {code}\n{stdout}\n{stderr}");
        Assert.Contains("eval set changed", stderr, StringComparison.Ordinal);
        Assert.Single(stderr.Trim().Split('\n'));
        SweepTestData.AssertSame(before, SweepTestData.Snapshot(outDir), "refused run");

        // Tampering with the arrays without rebuilding the manifest is refused when the eval set is read.
        var seq = File.ReadAllBytes(Path.Combine(data.EvalDir, "sequences.npy"));
        seq[^1] ^= 1;
        File.WriteAllBytes(Path.Combine(data.EvalDir, "sequences.npy"), seq);
        var (code2, _, stderr2) = SweepTestData.Run(data.SweepArgs(Path.Combine(data.Root, "out2")));
        Assert.Equal(2, code2);
        Assert.Contains("changed since the eval set was built", stderr2, StringComparison.Ordinal);
    }

    [Fact]
    public void Run_with_a_smaller_vocabulary_is_refused_before_any_work()
    {
        var data = new SweepTestData(SweepTestData.NewRoot("sweep-vocab"), seed: 5, checkpointsA: 1, checkpointsB: 1);
        HfCheckpoint.Save(Path.Combine(data.RunB, "step0"), ModelWeights.Random(SweepTestData.Config with { VocabSize = 40 }, 9));
        string outDir = Path.Combine(data.Root, "out");
        var (code, _, stderr) = SweepTestData.Run(data.SweepArgs(outDir));
        Assert.Equal(2, code);
        Assert.Contains("vocab_size 40", stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(outDir, "a")), "no run may start when one is refused");
    }

    /// <summary>Starts a slow sweep and SIGKILLs it after <paramref name="delay"/>; false when it finished first.</summary>
    private static bool KillAfter(string[] args, TimeSpan delay)
    {
        using var p = Process.Start(SweepTestData.Runner(args, SlowMs))!;
        p.OutputDataReceived += (_, _) => { };
        p.ErrorDataReceived += (_, _) => { };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        if (p.WaitForExit(delay)) return false;
        p.Kill(); // SIGKILL on Unix
        p.WaitForExit();
        return true;
    }

    /// <summary>Starts a slow sweep and SIGKILLs it <paramref name="afterMs"/> after stderr shows "lc-test: MARKER".</summary>
    private static bool KillAtMarker(string[] args, string marker, int afterMs)
    {
        using var p = Process.Start(SweepTestData.Runner(args, SlowMs))!;
        using var seen = new ManualResetEventSlim();
        p.OutputDataReceived += (_, _) => { };
        p.ErrorDataReceived += (_, e) =>
        {
            if (e.Data == "lc-test: " + marker) seen.Set();
        };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        bool hit = seen.Wait(TimeSpan.FromSeconds(60));
        if (hit && afterMs > 0) Thread.Sleep(afterMs);
        if (!p.HasExited) p.Kill();
        p.WaitForExit();
        return hit;
    }
}

using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Xunit;

namespace LearningCurves.Runner.Tests;

/// <summary>
/// The cluster and a small random suite shared by the Slurm tests: 3 runs of 5, 4 and 3 checkpoints (12 in all), one of
/// them corrupt (chosen by the seed), and the single-process sweep of it that every array must reproduce byte for byte.
/// </summary>
public sealed class SlurmSuite : IAsyncLifetime
{
    public const int Shards = 3;

    private SlurmCluster? _cluster;

    public SlurmCluster Cluster => _cluster ?? throw new InvalidOperationException("the Slurm test cluster is not started");

    public int Seed { get; } = Random.Shared.Next();

    public SweepTestData Data { get; private set; } = null!;

    public string RunC { get; private set; } = "";

    /// <summary>The corrupt checkpoint: its folder, its step, its run and its global pair index (owned by task g % 3).</summary>
    public (string Dir, long Step, string Run, int Pair) Corrupt { get; private set; }

    public SortedDictionary<string, byte[]> Reference { get; private set; } = null!;

    public double ReferenceSeconds { get; private set; }

    public async ValueTask InitializeAsync()
    {
        var rng = new Random(Seed);
        Data = new SweepTestData(SweepTestData.NewRoot("slurm-suite"), seed: 1 + rng.Next(1000), checkpointsA: 5, checkpointsB: 4);
        RunC = Path.Combine(Data.Root, "runC");
        for (int i = 0; i < 3; i++) SweepTestData.SaveCheckpoint(Path.Combine(RunC, $"checkpoint-{(i + 1) * 50}"), 300 + rng.Next(1000));

        // One checkpoint, any of the 12, truncated mid-tensor.
        var pairs = new List<(string Dir, long Step, string Run)>();
        foreach (var (run, dir) in new[] { ("a", Data.RunA), ("b", Data.RunB), ("c", RunC) })
        {
            pairs.AddRange(Directory.EnumerateDirectories(dir).Select(d => (d, Step(d), run)).Where(x => x.Item2 >= 0).OrderBy(x => x.Item2)
                .Select(x => (x.d, x.Item2, x.run)));
        }
        Assert.Equal(12, pairs.Count);
        int bad = rng.Next(pairs.Count);
        Corrupt = (pairs[bad].Dir, pairs[bad].Step, pairs[bad].Run, bad);
        string file = Path.Combine(Corrupt.Dir, "model.safetensors");
        var bytes = File.ReadAllBytes(file);
        File.WriteAllBytes(file, bytes.AsSpan(0, bytes.Length / 2).ToArray());

        var sw = Stopwatch.StartNew();
        string refOut = Path.Combine(Data.Root, "out-ref");
        var (code, o, e) = SweepTestData.Run(SweepArgs(refOut));
        ReferenceSeconds = sw.Elapsed.TotalSeconds;
        Assert.True(code == 3, $"seed {Seed}: the single-process sweep should exit 3 (one corrupt checkpoint), got {code}\n{o}\n{e}");
        Reference = SweepTestData.Snapshot(refOut);

        _cluster = await SlurmCluster.StartAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (_cluster is not null) await _cluster.DisposeAsync();
    }

    public string[] RunArgs() => ["--run", $"a={Data.RunA}", "--run", $"b={Data.RunB}", "--run", $"c={RunC}", "--eval", Data.EvalDir];

    public string[] SweepArgs(string outDir) => ["sweep", .. RunArgs(), "--out", outDir, "--backend", "cpu"];

    private static long Step(string dir)
    {
        string name = Path.GetFileName(dir);
        string digits = new(name.SkipWhile(ch => !char.IsAsciiDigit(ch)).ToArray());
        return name.StartsWith("checkpoint-", StringComparison.Ordinal) || name.StartsWith("step", StringComparison.Ordinal)
            ? long.Parse(digits, CultureInfo.InvariantCulture) : -1;
    }
}

/// <summary>
/// Sweeps as the job arrays `learning-curves slurm-script` writes, on a real one-node Slurm cluster: the whole array
/// under `sbatch --wait`; a task cancelled mid-run and resubmitted alone; `status` while the array runs; the task that
/// meets the corrupt checkpoint ending with exit code 3 in `sacct`.
/// </summary>
public sealed class SlurmClusterTests(SlurmSuite suite) : IClassFixture<SlurmSuite>
{
    private SlurmCluster Cluster => suite.Cluster;

    private int BadTask => suite.Corrupt.Pair % SlurmSuite.Shards;

    private string Seed => $"seed {suite.Seed} (corrupt: run {suite.Corrupt.Run} step {suite.Corrupt.Step}, task {BadTask})";

    [Fact]
    public void Sbatch_wait_of_the_generated_array_equals_a_single_process_sweep_and_sacct_shows_exit_3()
    {
        Log($"cluster up in {Cluster.StartSeconds:F1} s: node {Cluster.NodeName}, {Cluster.Cpus} CPUs; single-process sweep {suite.ReferenceSeconds:F1} s");
        string outDir = Path.Combine(suite.Data.Root, "out-array");
        string script = WriteScript(outDir);

        var sw = Stopwatch.StartNew();
        var (code, o, e) = Cluster.RunTool(SlurmCluster.Which("sbatch")!, ["--wait", "--parsable", script], TimeSpan.FromSeconds(150));
        double seconds = sw.Elapsed.TotalSeconds;
        string job = o.Trim().Split('\n')[0].Split(';')[0];
        // sbatch --wait exits with the highest exit code of the array's tasks.
        Assert.True(code == 3, $"{Seed}: sbatch --wait exit {code}\n{o}\n{e}\n{TaskLogs(outDir)}\n{Cluster.Logs("slurmctld", "slurmd")}");

        SweepTestData.AssertSame(suite.Reference, Curves(outDir), $"{Seed}: {SlurmSuite.Shards}-task array vs single process");
        var tasks = Sacct(job, [.. Enumerable.Range(0, SlurmSuite.Shards)]);
        Log($"array job {job}: {SlurmSuite.Shards} tasks, sbatch --wait {seconds:F1} s; byte-identical to the single-process sweep; sacct:\n"
            + string.Join('\n', tasks.Select(t => $"  {t.Key}|{t.Value.State}|{t.Value.ExitCode}|{t.Value.Elapsed}")));
        for (int i = 0; i < SlurmSuite.Shards; i++)
        {
            var t = TaskOf(tasks, $"{job}_{i}");
            if (i == BadTask) Assert.True(t is { State: "FAILED", ExitCode: "3:0" }, $"{Seed}: task {i} in sacct: {t}");
            else Assert.True(t is { State: "COMPLETED", ExitCode: "0:0" }, $"{Seed}: task {i} in sacct: {t}");
        }

        // One log per task, each ending with the sweep's JSON summary.
        for (int i = 0; i < SlurmSuite.Shards; i++)
        {
            string log = Path.Combine(outDir, "slurm-logs", $"curves-{job}_{i}.out");
            Assert.True(File.Exists(log), $"{Seed}: no log {log}");
            string last = File.ReadAllLines(log).Last(l => l.StartsWith('{'));
            Assert.Equal("summary", JsonNode.Parse(last)!["event"]!.GetValue<string>());
        }

        // status names the corrupt checkpoint's folder and why it failed.
        var (scode, sout, serr) = SweepTestData.Run(["status", outDir]);
        Assert.True(scode == 0, serr);
        int[] total = [5, 4, 3];
        int runIndex = suite.Corrupt.Run[0] - 'a';
        Assert.Contains($"{suite.Corrupt.Run}: {total[runIndex] - 1} done, 1 failed, 0 pending (of {total[runIndex]})", sout, StringComparison.Ordinal);
        string failedLine = sout.Split('\n').Single(l => l.Contains("failed: step", StringComparison.Ordinal));
        Assert.Contains($"failed: step {suite.Corrupt.Step} ({suite.Corrupt.Dir})", failedLine, StringComparison.Ordinal);
        Assert.Contains("model.safetensors", failedLine.Split("): ", 2)[1], StringComparison.Ordinal);
    }

    [Fact]
    public void A_task_cancelled_mid_run_and_resubmitted_alone_ends_byte_identical_and_status_grows_meanwhile()
    {
        string outDir = Path.Combine(suite.Data.Root, "out-cancel");
        string script = WriteScript(outDir);
        int victim = (BadTask + 1) % SlurmSuite.Shards;

        // Slow rows (the faultfs shim preloaded into the tasks through sbatch's environment, pausing inside each row
        // write) so a cancel lands while the victim still has rows to do.
        var slow = SweepTestData.Slow(250).Environment.ToDictionary();
        var sw = Stopwatch.StartNew();
        var (code, o, e) = Cluster.RunTool(SlurmCluster.Which("sbatch")!, ["--parsable", script], TimeSpan.FromSeconds(30), slow);
        Assert.True(code == 0, $"sbatch exit {code}\n{o}\n{e}");
        string job = o.Trim().Split(';')[0];
        string victimLog = Path.Combine(outDir, "slurm-logs", $"curves-{job}_{victim}.out");

        var doneSeen = new List<int>();
        double? cancelledAt = null;
        while (true)
        {
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(100), $"{Seed}: array {job} still running after 100 s\n{TaskLogs(outDir)}");
            if (Directory.Exists(Path.Combine(outDir, "a")))
            {
                var (scode, sout, serr) = SweepTestData.Run(["status", outDir, "--json"]);
                if (scode == 0) doneSeen.Add(JsonNode.Parse(sout)!.AsArray().Sum(r => r!["done"]!.GetValue<int>()));
                else Assert.Contains("no sweep runs here", serr, StringComparison.Ordinal); // the first task is still creating the files
            }
            if (cancelledAt is null && File.Exists(victimLog)
                && File.ReadAllLines(victimLog).Count(l => l.Contains("\"event\":\"checkpoint\"", StringComparison.Ordinal)) >= 1)
            {
                var (ccode, _, cerr) = Cluster.Tool("scancel", $"{job}_{victim}");
                Assert.True(ccode == 0, $"scancel: {cerr}");
                cancelledAt = sw.Elapsed.TotalSeconds;
            }
            var (qcode, qout, qerr) = Cluster.Tool("squeue", "-h", "-j", job, "-o", "%i %T");
            Assert.True(qcode == 0, $"squeue: {qerr}");
            if (qout.Trim().Length == 0) break;
            Thread.Sleep(100);
        }
        double arraySeconds = sw.Elapsed.TotalSeconds;
        Assert.True(cancelledAt is not null, $"{Seed}: task {victim} finished a checkpoint only after the array ended\n{TaskLogs(outDir)}");

        // status grew while the array ran, never shrank, and the cancel left the victim's share unfinished.
        Assert.True(doneSeen.Distinct().Count() >= 3 && doneSeen.Zip(doneSeen.Skip(1)).All(p => p.Second >= p.First),
            $"{Seed}: rows done seen by status: [{string.Join(", ", doneSeen)}]");
        var tasks = Sacct(job, [.. Enumerable.Range(0, SlurmSuite.Shards)]);
        Assert.True(TaskOf(tasks, $"{job}_{victim}").State == "CANCELLED", $"{Seed}: task {victim} in sacct: {TaskOf(tasks, $"{job}_{victim}")}");
        var (_, stOut, _) = SweepTestData.Run(["status", outDir, "--json"]);
        int pending = JsonNode.Parse(stOut)!.AsArray().Sum(r => r!["pending"]!.GetValue<int>());
        Assert.True(pending > 0, $"{Seed}: the cancel of task {victim} should leave rows pending: {stOut}");

        // Just the cancelled task again: it skips its rows already done and finishes the rest.
        var sw2 = Stopwatch.StartNew();
        var (rcode, ro, re) = Cluster.RunTool(SlurmCluster.Which("sbatch")!, ["--wait", "--parsable", $"--array={victim}", script], TimeSpan.FromSeconds(120));
        Assert.True(rcode == 0, $"{Seed}: resubmitted task {victim}: sbatch exit {rcode}\n{ro}\n{re}\n{TaskLogs(outDir)}");
        string job2 = ro.Trim().Split('\n')[0].Split(';')[0];
        SweepTestData.AssertSame(suite.Reference, Curves(outDir), $"{Seed}: task {victim} cancelled and resubmitted");
        var again = Sacct(job2, victim);
        Log($"sacct: {string.Join("; ", tasks.Concat(again).Select(kv => $"{kv.Key}|{kv.Value.State}|{kv.Value.ExitCode}|{kv.Value.Elapsed}"))}");
        Assert.True(TaskOf(again, $"{job2}_{victim}") is { State: "COMPLETED", ExitCode: "0:0" }, $"{TaskOf(again, $"{job2}_{victim}")}");
        string resumedLog = File.ReadAllText(Path.Combine(outDir, "slurm-logs", $"curves-{job2}_{victim}.out"));
        Log($"array job {job} with 250 ms row pauses: task {victim} cancelled at {cancelledAt:F1} s, array over at {arraySeconds:F1} s; "
            + $"rows done seen by status: [{string.Join(", ", doneSeen.Distinct())}], {pending} pending after the cancel; "
            + $"task {victim} resubmitted as job {job2}: {sw2.Elapsed.TotalSeconds:F1} s; byte-identical to the single-process sweep");
        var summary = JsonNode.Parse(resumedLog.Split('\n').Last(l => l.StartsWith('{')))!;
        Assert.True(summary["already_done"]!.GetValue<int>() >= 1 && summary["done"]!.GetValue<int>() >= 1,
            $"{Seed}: the resubmitted task should skip the rows done before the cancel and do the rest: {summary.ToJsonString()}");
    }

    private string WriteScript(string outDir)
    {
        var (code, o, e) = SweepTestData.Run(["slurm-script", .. suite.RunArgs(), "--out", outDir, "--shards", $"{SlurmSuite.Shards}", "--backend", "cpu"]);
        Assert.True(code == 0, $"slurm-script exit {code}\n{e}");
        Assert.Contains($"#SBATCH --array=0-{SlurmSuite.Shards - 1}", o, StringComparison.Ordinal);
        string script = outDir + ".sh";
        File.WriteAllText(script, o);
        return script;
    }

    /// <summary>The sweep's files in OUT, without the task logs (which the single-process sweep has not).</summary>
    private static SortedDictionary<string, byte[]> Curves(string outDir)
    {
        var all = SweepTestData.Snapshot(outDir);
        foreach (var k in all.Keys.Where(k => k.StartsWith("slurm-logs/", StringComparison.Ordinal)).ToList()) all.Remove(k);
        return all;
    }

    /// <summary>Each array task's (state, exit code, elapsed) from sacct, waiting until slurmdbd has all the tasks
    /// <paramref name="ids"/> (JOB_ID) in a final state: the controller reports a job's end to slurmdbd asynchronously.</summary>
    private Dictionary<string, (string State, string ExitCode, string Elapsed)> Sacct(string job, params int[] ids)
    {
        var sw = Stopwatch.StartNew();
        string last = "";
        while (sw.Elapsed < TimeSpan.FromSeconds(30))
        {
            var (code, o, e) = Cluster.Tool("sacct", "-j", job, "-X", "-n", "-P", "-o", "JobID,State,ExitCode,Elapsed");
            last = $"exit {code}: {o}{e}";
            if (code == 0)
            {
                var rows = o.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('|')).Where(f => f.Length == 4)
                    .ToDictionary(f => f[0], f => (State: f[1].Split(' ')[0], ExitCode: f[2], Elapsed: f[3]));
                if (ids.All(i => rows.TryGetValue($"{job}_{i}", out var r) && r.State is "COMPLETED" or "FAILED" or "CANCELLED")) return rows;
            }
            Thread.Sleep(300);
        }
        Assert.Fail($"sacct never showed tasks {string.Join(", ", ids)} of job {job} finished: {last}\n{Cluster.Logs("slurmdbd", "slurmctld")}");
        return null!;
    }

    private static (string State, string ExitCode, string Elapsed) TaskOf(Dictionary<string, (string State, string ExitCode, string Elapsed)> tasks, string id) =>
        tasks.TryGetValue(id, out var t) ? t : throw new Xunit.Sdk.XunitException(
            $"sacct has no task {id}: {string.Join("; ", tasks.Select(kv => $"{kv.Key}|{kv.Value.State}|{kv.Value.ExitCode}"))}");

    private static string TaskLogs(string outDir)
    {
        string dir = Path.Combine(outDir, "slurm-logs");
        if (!Directory.Exists(dir)) return "(no task logs)";
        return string.Join('\n', Directory.EnumerateFiles(dir).Order(StringComparer.Ordinal).Select(f => $"[{f}]\n{File.ReadAllText(f)}"));
    }

    private static void Log(string line) => TestContext.Current.TestOutputHelper?.WriteLine(line);
}

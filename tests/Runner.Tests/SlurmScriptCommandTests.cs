using Xunit;

namespace LearningCurves.Runner.Tests;

/// <summary>Tiny runs for the script tests; one folder with a space and a quote in its name.</summary>
public sealed class SlurmScriptData
{
    public SlurmScriptData()
    {
        Root = SweepTestData.NewRoot("slurm-script");
        Data = new SweepTestData(Path.Combine(Root, "it's a dir"), seed: 7, checkpointsA: 2, checkpointsB: 1);
        OutDir = Path.Combine(Root, "out");
    }

    /// <summary>Holds the runs' folder (with a space and a quote in its name) and the outputs (plain names: Slurm reads
    /// the log path unquoted).</summary>
    public string Root { get; }

    public SweepTestData Data { get; }
    public string OutDir { get; }

    public string[] Args(params string[] extra) =>
        ["slurm-script", "--run", $"a={Data.RunA}", "--run", $"b={Data.RunB}", "--eval", Data.EvalDir, "--out", OutDir, .. extra];
}

/// <summary>`learning-curves slurm-script`: the script's lines, its quoting (run by bash), and refused input.</summary>
public sealed class SlurmScriptCommandTests(SlurmScriptData d) : IClassFixture<SlurmScriptData>
{
    [Fact]
    public void Script_is_an_array_of_N_requeueable_tasks_with_a_log_each()
    {
        string logs = Path.Combine(d.Root, "logs-" + Guid.NewGuid().ToString("N"));
        var (code, o, e) = Cli.Run([.. d.Args("--shards", "3", "--time", "04:00:00", "--partition", "gpu-a100", "--cpus-per-task", "8",
            "--gpus-per-task", "1", "--precision", "bf16", "--logs", logs, "--command", "learning-curves")]);
        Assert.True(code == 0, e);
        var lines = o.Split('\n');
        Assert.Equal("#!/bin/bash", lines[0]);
        string[] expected =
        [
            "#SBATCH --job-name=curves", "#SBATCH --array=0-2", "#SBATCH --ntasks=1", "#SBATCH --cpus-per-task=8",
            "#SBATCH --gpus-per-task=1", "#SBATCH --time=04:00:00", "#SBATCH --partition=gpu-a100",
            $"#SBATCH --output={logs}/curves-%A_%a.out", "#SBATCH --open-mode=append", "#SBATCH --requeue", "N=3",
            "  --backend cuda --precision bf16 \\", "  --shard \"${SLURM_ARRAY_TASK_ID}/${N}\" --json",
        ];
        foreach (var line in expected) Assert.Contains(line, lines);
        Assert.Contains("exec learning-curves sweep \\", lines);
        // All #SBATCH lines come before the first command, or sbatch ignores them.
        int firstCommand = Array.FindIndex(lines, l => l.Length > 0 && !l.StartsWith('#'));
        Assert.True(Array.FindLastIndex(lines, l => l.StartsWith("#SBATCH", StringComparison.Ordinal)) < firstCommand);
        Assert.True(Directory.Exists(logs), "slurm-script creates the log folder: Slurm does not");
        Assert.Contains("3 checkpoints", o, StringComparison.Ordinal);
    }

    [Fact]
    public void Defaults_are_cpu_one_cpu_no_gpu_no_limits_and_logs_in_out()
    {
        var (code, o, e) = Cli.Run([.. d.Args("--shards", "2", "--command", "lc")]);
        Assert.True(code == 0, e);
        Assert.Contains("  --backend cpu --precision fp32 \\", o, StringComparison.Ordinal);
        Assert.Contains($"#SBATCH --output={d.OutDir}/slurm-logs/curves-%A_%a.out", o, StringComparison.Ordinal);
        foreach (var absent in new[] { "--gpus-per-task", "--cpus-per-task", "--time", "--partition" })
            Assert.DoesNotContain("#SBATCH " + absent, o, StringComparison.Ordinal);
        Assert.Contains($"slurm-script: 2 task(s) over 3 checkpoints; logs in {d.OutDir}/slurm-logs", e, StringComparison.Ordinal);
    }

    [Fact]
    public void Bash_passes_every_path_to_the_sweep_exactly_with_the_task_id_as_shard()
    {
        // The runner replaced by printf: the script, run by bash as a task would, prints each argument it would pass.
        var (code, o, e) = Cli.Run([.. d.Args("--shards", "3", "--command", "printf '<%s>\\n'")]);
        Assert.True(code == 0, e);
        string script = Path.Combine(d.Root, $"printf-{Guid.NewGuid():N}.sh");
        File.WriteAllText(script, o);
        var psi = new System.Diagnostics.ProcessStartInfo("/bin/bash") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(script);
        psi.Environment["SLURM_ARRAY_TASK_ID"] = "2";
        psi.Environment["SLURM_JOB_ID"] = "77";
        using var p = System.Diagnostics.Process.Start(psi)!;
        string output = p.StandardOutput.ReadToEnd(), err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, err);
        string[] args = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1).ToArray();
        string[] expected = ["sweep", "--run", $"a={d.Data.RunA}", "--run", $"b={d.Data.RunB}", "--eval", d.Data.EvalDir, "--out", d.OutDir,
            "--backend", "cpu", "--precision", "fp32", "--shard", "2/3", "--json"];
        Assert.Equal(expected.Select(a => $"<{a}>"), args);
        Assert.StartsWith("curves: task 2/3, job 77, on ", output, StringComparison.Ordinal);

        // Without SLURM_ARRAY_TASK_ID (run by hand, not by sbatch): one clear line, non-zero exit.
        psi.Environment.Remove("SLURM_ARRAY_TASK_ID");
        using var q = System.Diagnostics.Process.Start(psi)!;
        string qerr = q.StandardError.ReadToEnd();
        q.WaitForExit();
        Assert.NotEqual(0, q.ExitCode);
        Assert.Contains("run this script with sbatch", qerr, StringComparison.Ordinal);
    }

    [Fact]
    public void Without_command_the_script_starts_this_runner_by_absolute_path_and_runs_the_sweep()
    {
        // A real runner process: its script names its own dotnet and learning-curves.dll, and bash runs the sweep with them.
        string outDir = Path.Combine(d.Root, $"out-self-{Guid.NewGuid():N}");
        var (code, o, e) = SweepTestData.Run(["slurm-script", "--run", $"a={d.Data.RunA}", "--run", $"b={d.Data.RunB}", "--eval", d.Data.EvalDir,
            "--out", outDir, "--shards", "1"]);
        Assert.True(code == 0, e);
        string exec = o.Split('\n').Single(l => l.StartsWith("exec ", StringComparison.Ordinal));
        Assert.Contains(Path.Combine(AppContext.BaseDirectory, "learning-curves.dll"), exec, StringComparison.Ordinal);
        Assert.StartsWith("exec /", exec, StringComparison.Ordinal);
        string script = outDir + ".sh";
        File.WriteAllText(script, o);
        var (bcode, bout, berr) = SweepTestData.RunProcess("/bin/bash", ["-c", $"SLURM_ARRAY_TASK_ID=0 SLURM_JOB_ID=1 exec /bin/bash '{script.Replace("'", "'\\''", StringComparison.Ordinal)}'"]);
        Assert.True(bcode == 0, $"{bout}\n{berr}");
        Assert.Contains("\"event\":\"summary\"", bout, StringComparison.Ordinal);
        var (scode, sout, _) = SweepTestData.Run(["status", outDir]);
        Assert.Equal(0, scode);
        Assert.Contains("a: 2 done, 0 failed, 0 pending (of 2)", sout, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--shards N is required")]
    [InlineData("--shards must be an integer in 1..1001 (got '0')", "--shards", "0")]
    [InlineData("--shards 4 is more than the 3 checkpoints", "--shards", "4")]
    [InlineData("--time must be HH:MM:SS", "--shards", "2", "--time", "4h")]
    [InlineData("--time must be HH:MM:SS", "--shards", "2", "--time", "01:60:00")]
    [InlineData("--partition must be a partition name", "--shards", "2", "--partition", "a b")]
    [InlineData("--gpus-per-task 1 with --backend cpu", "--shards", "2", "--gpus-per-task", "1", "--backend", "cpu")]
    [InlineData("--backend must be one of auto|cpu|cuda (got 'gpu')", "--shards", "2", "--backend", "gpu")]
    [InlineData("--precision must be one of fp32|tf32|bf16", "--shards", "2", "--precision", "fp16")]
    [InlineData("--cpus-per-task must be an integer in 1..4096", "--shards", "2", "--cpus-per-task", "0")]
    [InlineData("unknown option --array", "--shards", "2", "--array", "0-1")]
    [InlineData("--command must be one line", "--shards", "2", "--command", " ")]
    [InlineData("the log folder's path may not hold white space", "--shards", "2", "--logs", "/tmp/two words")]
    public void Bad_input_is_one_line_and_exit_2(string message, params string[] extra)
    {
        var (code, o, e) = Cli.Run([.. d.Args(extra)]);
        Assert.Equal(2, code);
        Assert.Equal("", o);
        Assert.Contains(message, e, StringComparison.Ordinal);
        Assert.Single(e.Trim().Split('\n'));
    }

    [Fact]
    public void Missing_run_folder_eval_set_and_twice_named_run_are_refused()
    {
        string nowhere = Path.Combine(d.Root, "nowhere");
        var (c1, _, e1) = Cli.Run("slurm-script", "--run", $"a={nowhere}", "--eval", d.Data.EvalDir, "--out", d.OutDir, "--shards", "1");
        Assert.Equal(2, c1);
        Assert.Contains($"{nowhere}: run folder or list file not found", e1, StringComparison.Ordinal);
        var (c2, _, e2) = Cli.Run("slurm-script", "--run", $"a={d.Data.RunA}", "--eval", d.Data.RunA, "--out", d.OutDir, "--shards", "1");
        Assert.Equal(2, c2);
        Assert.Contains($"{d.Data.RunA}: not an eval set (no manifest.json)", e2, StringComparison.Ordinal);
        var (c3, _, e3) = Cli.Run("slurm-script", "--run", $"a={d.Data.RunA}", "--run", $"a={d.Data.RunB}", "--eval", d.Data.EvalDir, "--out", d.OutDir, "--shards", "1");
        Assert.Equal(2, c3);
        Assert.Contains("run name 'a' given twice", e3, StringComparison.Ordinal);
        var (c4, _, e4) = Cli.Run("slurm-script", "--run", $"slurm-logs={d.Data.RunA}", "--eval", d.Data.EvalDir, "--out", d.OutDir, "--shards", "1");
        Assert.Equal(2, c4);
        Assert.Contains("would write its curve files into the log folder", e4, StringComparison.Ordinal);
    }
}

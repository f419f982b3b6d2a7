using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using LearningCurves.Tests.Common;
using Xunit;

namespace LearningCurves.Runner.Tests;

/// <summary>
/// A one-node Slurm 22.05 cluster on this machine, started from nothing and stopped afterwards: munged, MariaDB (the
/// only storage slurmdbd has, needed for `sacct`), slurmdbd, slurmctld and slurmd, each with its key, socket, state,
/// spool and logs in one temporary folder, on free ports. No systemd, no service of the machine, no cgroups
/// (proctrack/linuxproc, task/none), so it runs in a bare Debian root as well. Every daemon runs as root, as the tests do.
/// A daemon that does not come up fails the test with its log; this never skips.
/// </summary>
public sealed partial class SlurmCluster : IAsyncDisposable
{
    /// <summary>Every process of this cluster carries this variable (value: <see cref="Root"/>), so stopping it finds
    /// them all by id: the daemons, their job steps and the jobs' processes, however they were reparented.</summary>
    public const string MarkerVariable = "LC_SLURM_TEST_CLUSTER";

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(45);
    private readonly List<(string Name, Process Process, string[] Logs)> _daemons = new();

    private SlurmCluster(string root)
    {
        Root = root;
        ConfPath = Path.Combine(root, "etc", "slurm.conf");
        Log = Path.Combine(root, "log");
    }

    public string Root { get; }

    /// <summary>slurm.conf; every Slurm command is given it through SLURM_CONF.</summary>
    public string ConfPath { get; }

    public string Log { get; }

    public string NodeName { get; private set; } = "";

    public int Cpus { get; private set; }

    /// <summary>Seconds from nothing to an idle node with accounting.</summary>
    public double StartSeconds { get; private set; }

    /// <summary>Starts the cluster; on any failure stops what was started and throws with the failing daemon's log.</summary>
    public static async Task<SlurmCluster> StartAsync()
    {
        // Short: the munge and MariaDB socket paths must fit a sockaddr_un (108 bytes).
        string root = Path.Combine(Path.GetTempPath(), $"lc-slurm-{Guid.NewGuid():N}"[..18]);
        Directory.CreateDirectory(root);
        var c = new SlurmCluster(root);
        try
        {
            var sw = Stopwatch.StartNew();
            await c.StartAll();
            c.StartSeconds = sw.Elapsed.TotalSeconds;
            return c;
        }
        catch
        {
            await c.DisposeAsync();
            throw;
        }
    }

    private async Task StartAll()
    {
        if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException("the Slurm test cluster needs Linux");
        string[] tools = ["munged", "mariadb-install-db", "mariadbd", "slurmdbd", "slurmctld", "slurmd", "sinfo", "sbatch", "sacct", "squeue", "scancel"];
        var missing = tools.Where(t => Which(t) is null).ToList();
        Assert.True(missing.Count == 0,
            $"Slurm test cluster: {string.Join(", ", missing)} not installed; `dotnet pwsh ./build.ps1 setup` installs them "
            + "(Debian packages slurm-wlm, slurmdbd, munge, mariadb-server-core, mariadb-client-core)");
        Assert.True(NativeMethods.GetEuid() == 0,
            "Slurm test cluster: its daemons run as root (SlurmUser=root; slurmd starts jobs as their users): run the tests as root, as CI does");
        foreach (var d in new[] { "etc", "log", "munge", "state", "spool", "db", "run" }) Directory.CreateDirectory(Path.Combine(Root, d));
        // munged refuses a socket folder others can write to, and wants its key private.
        File.SetUnixFileMode(Path.Combine(Root, "munge"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
            | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
        string key = Path.Combine(Root, "munge", "munge.key");
        File.WriteAllBytes(key, RandomNumberGenerator.GetBytes(1024));
        File.SetUnixFileMode(key, UnixFileMode.UserRead);
        string mungeSocket = Path.Combine(Root, "munge", "munge.socket");

        var ports = FreePorts(4);
        int ctldPort = ports[0], slurmdPort = ports[1], dbdPort = ports[2], dbPort = ports[3];
        NodeName = Dns.GetHostName().Split('.')[0];
        var (cpus, memoryMb) = NodeHardware();
        Cpus = cpus;

        // 1. munge: credentials for every Slurm message.
        var munged = StartDaemon("munged", Which("munged")!, [Path.Combine(Log, "munged.log")],
            "--foreground", "--force", $"--socket={mungeSocket}", $"--key-file={key}", $"--log-file={Path.Combine(Log, "munged.log")}",
            $"--pid-file={Path.Combine(Root, "run", "munged.pid")}", $"--seed-file={Path.Combine(Root, "munge", "munged.seed")}");
        await WaitFor("munged", munged, () => File.Exists(mungeSocket) ? "" : null);

        // 2. MariaDB on a private data folder, socket and port; grant tables skipped: only slurmdbd on 127.0.0.1 talks to it.
        string data = Path.Combine(Root, "db", "data");
        var (icode, iout, ierr) = RunTool(Which("mariadb-install-db")!, ["--no-defaults", $"--datadir={data}", "--user=root",
            "--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve", "--innodb-log-file-size=8M"], TimeSpan.FromSeconds(60));
        Assert.True(icode == 0, $"mariadb-install-db failed (exit {icode}):\n{iout}\n{ierr}");
        string dbLog = Path.Combine(Log, "mariadb.log");
        var mariadb = StartDaemon("mariadbd", Which("mariadbd")!, [dbLog],
            "--no-defaults", $"--datadir={data}", $"--socket={Path.Combine(Root, "db", "mysqld.sock")}", $"--port={dbPort}",
            "--bind-address=127.0.0.1", "--skip-name-resolve", "--user=root", $"--pid-file={Path.Combine(Root, "run", "mariadbd.pid")}", $"--log-error={dbLog}",
            "--skip-grant-tables", "--skip-log-bin", "--innodb-buffer-pool-size=32M", "--innodb-log-file-size=8M");
        await WaitFor("mariadbd", mariadb, () => ReadIfExists(dbLog).Contains("ready for connections", StringComparison.Ordinal) ? "" : null);

        // 3. Configuration. SlurmctldHost and NodeAddr name 127.0.0.1, so nothing depends on how (or whether) this
        // machine's hostname resolves, as in a chroot.
        string stateDir = Path.Combine(Root, "state"), spool = Path.Combine(Root, "spool");
        string conf = string.Join('\n',
            "ClusterName=lctest",
            $"SlurmctldHost={NodeName}(127.0.0.1)",
            "SlurmUser=root",
            "SlurmdUser=root",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            $"AuthInfo=socket={mungeSocket}",
            $"SlurmctldPort={ctldPort}",
            $"SlurmdPort={slurmdPort}",
            $"StateSaveLocation={stateDir}",
            $"SlurmdSpoolDir={spool}",
            $"SlurmctldPidFile={Path.Combine(Root, "run", "slurmctld.pid")}",
            $"SlurmdPidFile={Path.Combine(Root, "run", "slurmd.pid")}",
            $"SlurmctldLogFile={Path.Combine(Log, "slurmctld.log")}",
            $"SlurmdLogFile={Path.Combine(Log, "slurmd.log")}",
            "SlurmctldDebug=info",
            "SlurmdDebug=info",
            // Process tracking by parent pid from /proc: no cgroups, no systemd.
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "JobAcctGatherType=jobacct_gather/linux",
            // sacct reads slurmdbd; Slurm 22.05 has no file-based accounting storage any more. The munge socket for
            // slurmdbd's connection is given as its "password" (Slurm's documented use of AccountingStoragePass).
            "AccountingStorageType=accounting_storage/slurmdbd",
            "AccountingStorageHost=127.0.0.1",
            $"AccountingStoragePort={dbdPort}",
            $"AccountingStoragePass={mungeSocket}",
            "JobCompType=jobcomp/filetxt",
            $"JobCompLoc={Path.Combine(Log, "jobcomp.txt")}",
            "SwitchType=switch/none",
            "MpiDefault=none",
            "ReturnToService=2",
            "SchedulerType=sched/backfill",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core",
            // Finished jobs stay visible to scontrol; a cancelled task is killed 5 s after SIGTERM at the latest.
            "MinJobAge=600",
            "KillWait=5",
            "SlurmdTimeout=60",
            "InactiveLimit=0",
            $"NodeName={NodeName} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memoryMb} State=UNKNOWN",
            $"PartitionName=test Nodes={NodeName} Default=YES MaxTime=INFINITE State=UP",
            "");
        File.WriteAllText(ConfPath, conf);
        // slurmd 22.05 loads a cgroup plugin even when nothing uses cgroups, and its default (autodetect) fails where
        // /sys/fs/cgroup is not mounted, as in a chroot. cgroup/v1 touches the file system only when a plugin asks it
        // for a cgroup, and with proctrack/linuxproc, task/none and jobacct_gather/linux none does.
        File.WriteAllText(Path.Combine(Root, "etc", "cgroup.conf"), "CgroupPlugin=cgroup/v1\nCgroupAutomount=no\n");
        // slurmdbd reads slurmdbd.conf beside SLURM_CONF; it must be private to SlurmUser.
        string dbdConf = Path.Combine(Root, "etc", "slurmdbd.conf");
        File.WriteAllText(dbdConf, string.Join('\n',
            "AuthType=auth/munge",
            $"AuthInfo=socket={mungeSocket}",
            "DbdHost=localhost",
            "DbdAddr=127.0.0.1",
            $"DbdPort={dbdPort}",
            "SlurmUser=root",
            $"PidFile={Path.Combine(Root, "run", "slurmdbd.pid")}",
            $"LogFile={Path.Combine(Log, "slurmdbd.log")}",
            "StorageType=accounting_storage/mysql",
            "StorageHost=127.0.0.1",
            $"StoragePort={dbPort}",
            "StorageUser=root",
            "StorageLoc=slurm_acct_db",
            ""));
        File.SetUnixFileMode(dbdConf, UnixFileMode.UserRead | UnixFileMode.UserWrite);

        // 4. slurmdbd, then the controller, then the node, all in the foreground (-D) as this process's children.
        string dbdLog = Path.Combine(Log, "slurmdbd.log");
        var dbd = StartDaemon("slurmdbd", Which("slurmdbd")!, [dbdLog], "-D");
        await WaitFor("slurmdbd", dbd, () => ReadIfExists(dbdLog).Contains("slurmdbd version", StringComparison.Ordinal) ? "" : null);
        var ctld = StartDaemon("slurmctld", Which("slurmctld")!, [Path.Combine(Log, "slurmctld.log")], "-D", "-i");
        var slurmd = StartDaemon("slurmd", Which("slurmd")!, [Path.Combine(Log, "slurmd.log")], "-D", "-N", NodeName);

        // 5. Ready: the node is idle and sacct answers from slurmdbd.
        string last = "";
        await WaitFor("slurmd (node idle in sinfo)", slurmd, () =>
        {
            AssertRunning(ctld, "slurmctld");
            var (code, o, e) = Tool("sinfo", "-h", "-N", "-o", "%N %T");
            last = $"sinfo exit {code}: {o}{e}";
            return code == 0 && o.Trim() == $"{NodeName} idle" ? "" : null;
        }, () => last, ctld);
        await WaitFor("slurmdbd (sacct answering)", dbd, () =>
        {
            var (code, o, e) = Tool("sacct", "-n", "-X", "-a");
            last = $"sacct exit {code}: {o}{e}";
            return code == 0 ? "" : null;
        }, () => last, ctld);
    }

    /// <summary>Runs a Slurm client command against this cluster.</summary>
    public (int Code, string Out, string Err) Tool(string name, params string[] args) =>
        RunTool(Which(name) ?? name, args, TimeSpan.FromSeconds(60));

    /// <summary>Runs a program with this cluster's SLURM_CONF and marker; a program still running at the timeout is killed and fails the test.</summary>
    public (int Code, string Out, string Err) RunTool(string file, IEnumerable<string> args, TimeSpan timeout, IDictionary<string, string>? env = null)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        Configure(psi);
        if (env is not null) foreach (var (k, v) in env) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        var output = p.StandardOutput.ReadToEndAsync();
        if (!p.WaitForExit(timeout))
        {
            try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            Assert.Fail($"{file} {string.Join(' ', psi.ArgumentList)} did not finish in {timeout.TotalSeconds} s");
        }
        p.WaitForExit();
        return (p.ExitCode, output.Result, err.Result);
    }

    /// <summary>SLURM_CONF and the marker; no other SLURM_ variable, so tests run inside an outer Slurm job talk
    /// only to this cluster.</summary>
    public void Configure(ProcessStartInfo psi)
    {
        ArgumentNullException.ThrowIfNull(psi);
        foreach (var k in psi.Environment.Keys.Where(k => k.StartsWith("SLURM_", StringComparison.Ordinal)).ToList()) psi.Environment.Remove(k);
        psi.Environment["SLURM_CONF"] = ConfPath;
        psi.Environment[MarkerVariable] = Root;
    }

    /// <summary>The last lines of each daemon's logs, for a failure message.</summary>
    public string Logs(params string[] daemons)
    {
        var sb = new StringBuilder();
        foreach (var (name, p, logs) in _daemons)
        {
            if (daemons.Length > 0 && !daemons.Contains(name)) continue;
            sb.Append(CultureInfo.InvariantCulture, $"--- {name} ({(p.HasExited ? $"exited {p.ExitCode}" : "running")})\n");
            foreach (var f in logs.Append(OutputLog(name))) sb.Append(Tail(f, 40));
        }
        return sb.ToString();
    }

    /// <summary>Stops every process of the cluster (daemons, job steps, jobs): SIGTERM, then SIGKILL after 10 s; removes the folder.</summary>
    public async ValueTask DisposeAsync()
    {
        // Daemons in reverse order of start, so the node and controller go before their database.
        for (int i = _daemons.Count - 1; i >= 0; i--)
            if (!_daemons[i].Process.HasExited) _ = NativeMethods.Kill(_daemons[i].Process.Id, NativeMethods.SIGTERM);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (DateTime.UtcNow < deadline && (Marked().Count > 0 || _daemons.Any(d => !d.Process.HasExited)))
        {
            foreach (int pid in Marked()) _ = NativeMethods.Kill(pid, NativeMethods.SIGTERM);
            await Task.Delay(200);
        }
        foreach (int pid in Marked()) _ = NativeMethods.Kill(pid, NativeMethods.SIGKILL);
        foreach (var (_, p, _) in _daemons)
        {
            if (!p.HasExited) _ = NativeMethods.Kill(p.Id, NativeMethods.SIGKILL);
            p.WaitForExit(5000);
            p.Dispose();
        }
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Left in the temporary folder; nothing of the cluster is running any more.
        }
    }

    /// <summary>Processes whose environment holds this cluster's marker (never this test process).</summary>
    private List<int> Marked()
    {
        var found = new List<int>();
        byte[] marker = Encoding.UTF8.GetBytes($"{MarkerVariable}={Root}\0");
        int self = Environment.ProcessId;
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out int pid) || pid == self) continue;
            byte[] env;
            try
            {
                env = File.ReadAllBytes(Path.Combine(dir, "environ"));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                continue; // gone, or a kernel thread
            }
            // Entries are NUL-terminated; match a whole entry.
            int at = env.AsSpan().IndexOf(marker);
            if (at == 0 || (at > 0 && env[at - 1] == 0)) found.Add(pid);
        }
        return found;
    }

    private Process StartDaemon(string name, string exe, string[] logs, params string[] args)
    {
        // The daemon's own stdout and stderr go to a file: exec keeps the daemon's pid the one we hold.
        var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add("exec \"$0\" \"$@\" >>\"$LC_DAEMON_OUTPUT\" 2>&1 </dev/null");
        psi.ArgumentList.Add(exe);
        foreach (var a in args) psi.ArgumentList.Add(a);
        Configure(psi);
        psi.Environment["LC_DAEMON_OUTPUT"] = OutputLog(name);
        var p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {exe}");
        _daemons.Add((name, p, logs));
        return p;
    }

    private string OutputLog(string name) => Path.Combine(Log, $"{name}.output");

    /// <summary>Polls <paramref name="ready"/> until it returns non-null; fails with the daemon's log when it exits or the time runs out.</summary>
    private async Task WaitFor(string what, Process daemon, Func<string?> ready, Func<string>? lastState = null, Process? alsoWatch = null)
    {
        var sw = Stopwatch.StartNew();
        string name = _daemons.First(d => d.Process == daemon).Name;
        while (true)
        {
            if (ready() is not null) return;
            if (daemon.HasExited)
                Assert.Fail($"Slurm test cluster: {name} exited with code {daemon.ExitCode} before it was up\n{Logs(name)}");
            if (alsoWatch is not null) AssertRunning(alsoWatch, _daemons.First(d => d.Process == alsoWatch).Name);
            if (sw.Elapsed > StartTimeout)
                Assert.Fail($"Slurm test cluster: {what} not up after {StartTimeout.TotalSeconds} s; {lastState?.Invoke()}\n{Logs()}");
            await Task.Delay(200);
        }
    }

    private void AssertRunning(Process p, string name)
    {
        if (p.HasExited) Assert.Fail($"Slurm test cluster: {name} exited with code {p.ExitCode}\n{Logs(name)}");
    }

    /// <summary>CPUs and memory as slurmd itself counts them (`slurmd -C`); the memory a little under, as Slurm drains a
    /// node that has less than it is configured with.</summary>
    private (int Cpus, long MemoryMb) NodeHardware()
    {
        var (code, o, e) = RunTool(Which("slurmd")!, ["-C"], TimeSpan.FromSeconds(30));
        Assert.True(code == 0, $"slurmd -C failed (exit {code}): {o}{e}");
        var m = CpusAndMemory().Match(o);
        Assert.True(m.Success, $"slurmd -C printed no CPUs= and RealMemory=: {o}");
        int cpus = int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
        long mem = long.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture);
        return (cpus, mem * 95 / 100);
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"\bCPUs=(\d+)\b.*\bRealMemory=(\d+)\b", System.Text.RegularExpressions.RegexOptions.Singleline)]
    private static partial System.Text.RegularExpressions.Regex CpusAndMemory();

    private static List<int> FreePorts(int n)
    {
        var listeners = Enumerable.Range(0, n).Select(_ => new TcpListener(IPAddress.Loopback, 0)).ToList();
        foreach (var l in listeners) l.Start();
        var ports = listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port).ToList();
        foreach (var l in listeners) l.Stop();
        return ports;
    }

    /// <summary>A program on PATH or in the system folders (daemons live in /usr/sbin, which a user's PATH may lack).</summary>
    public static string? Which(string name)
    {
        var dirs = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Concat(["/usr/sbin", "/usr/bin", "/sbin", "/bin"]);
        return dirs.Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);
    }

    private static string ReadIfExists(string path)
    {
        try
        {
            return File.Exists(path) ? File.ReadAllText(path) : "";
        }
        catch (IOException)
        {
            return "";
        }
    }

    private static string Tail(string path, int lines)
    {
        if (!File.Exists(path)) return $"({path}: absent)\n";
        var all = ReadIfExists(path).Split('\n');
        return $"[{path}]\n" + string.Join('\n', all.TakeLast(lines)) + "\n";
    }

    private static partial class NativeMethods
    {
        public const int SIGKILL = 9;
        public const int SIGTERM = 15;

        [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
        public static partial int Kill(int pid, int signal);

        [LibraryImport("libc", EntryPoint = "geteuid")]
        public static partial uint GetEuid();
    }
}

using System.Diagnostics;
using System.Runtime.Versioning;
using LearningCurves.Tests.Common;
using Xunit;

namespace LearningCurves.Runner.Tests;

/// <summary>
/// build.ps1's Debian package detection (scripts/AptPackages.psm1), run through the project's own PowerShell tool:
/// once against this machine's real dpkg database, once against stand-in dpkg-query / apt-get commands that play the
/// states a real machine can be in (unknown name, removed with config files left, multi-arch, installed).
/// </summary>
[UnsupportedOSPlatform("windows")] // setup is for Debian; the stand-ins are shell scripts
public sealed class SetupScriptTests
{
    private static readonly string Module = Path.Combine(TestPaths.RepoRoot, "scripts", "AptPackages.psm1");

    private static (int Code, string Stdout, string Stderr) Pwsh(string script, string? pathPrefix = null)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = TestPaths.RepoRoot, // the tool manifest (.config/dotnet-tools.json) is found from here
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { "pwsh", "-NoProfile", "-NonInteractive", "-Command", $"$ErrorActionPreference = 'Stop'; Import-Module '{Module}'; {script}" })
            psi.ArgumentList.Add(a);
        psi.Environment["NO_COLOR"] = "1";
        if (pathPrefix is not null) psi.Environment["PATH"] = pathPrefix + ":" + Environment.GetEnvironmentVariable("PATH");
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        Assert.True(p.WaitForExit(120_000), "pwsh did not finish in 2 minutes");
        return (p.ExitCode, stdout, stderr.Result);
    }

    private static string[] Lines(string s) => s.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    [Fact]
    public void A_package_name_that_does_not_exist_comes_out_as_missing_on_the_real_dpkg()
    {
        Assert.SkipWhen(!File.Exists("/usr/bin/dpkg-query"), "not a Debian machine (no /usr/bin/dpkg-query)");
        // dpkg and libc6 are on every Debian machine; the other two names are in no Debian release.
        string nonsense = $"no-such-package-lc-{Guid.NewGuid():N}"[..40];
        var (code, stdout, stderr) = Pwsh($"Get-MissingAptPackages @('dpkg', '{nonsense}', 'libc6', 'lc-absent-too') | ForEach-Object {{ \"missing=$_\" }}");
        Assert.True(code == 0, $"exit {code}\n{stdout}\n{stderr}");
        Assert.Equal([$"missing={nonsense}", "missing=lc-absent-too"], Lines(stdout));
    }

    [Fact]
    public void Only_packages_in_state_installed_count_as_present()
    {
        string bin = TestPaths.TempDir();
        // A stand-in dpkg-query with a fixed database: prints what the real one prints (a line per known package and
        // architecture, exit 1 when some name is unknown).
        File.WriteAllText(Path.Combine(bin, "dpkg-query"), """
            #!/bin/sh
            shift 2
            rc=0
            for p in "$@"; do
              case "$p" in
                present) printf 'present\tii \n' ;;
                multi) printf 'multi\tii \nmulti\tun \n' ;;
                removed) printf 'removed\trc \n' ;;
                halfway) printf 'halfway\tiF \n' ;;
                *) echo "dpkg-query: no packages found matching $p" >&2; rc=1 ;;
              esac
            done
            exit $rc
            """.Replace("\r", ""));
        File.SetUnixFileMode(Path.Combine(bin, "dpkg-query"), (UnixFileMode)0b111_101_101);
        var (code, stdout, stderr) = Pwsh("Get-MissingAptPackages @('present', 'removed', 'unknown', 'multi', 'halfway') | ForEach-Object { \"missing=$_\" }", bin);
        Assert.True(code == 0, $"exit {code}\n{stdout}\n{stderr}");
        Assert.Equal(["missing=removed", "missing=unknown", "missing=halfway"], Lines(stdout));
    }

    [Fact]
    public void Install_updates_first_installs_only_what_is_missing_names_it_and_checks_it_arrived()
    {
        string bin = TestPaths.TempDir();
        string log = Path.Combine(bin, "apt.log");
        string db = Path.Combine(bin, "installed");
        File.WriteAllText(db, "present\n");
        // dpkg-query answers from a file that the stand-in apt-get appends to, as a real install would. 'broken' is
        // never installed by apt-get: setup must notice.
        File.WriteAllText(Path.Combine(bin, "dpkg-query"), $$"""
            #!/bin/sh
            shift 2
            rc=0
            for p in "$@"; do
              if grep -qx "$p" '{{db}}'; then printf '%s\tii \n' "$p"; else rc=1; fi
            done
            exit $rc
            """.Replace("\r", ""));
        File.WriteAllText(Path.Combine(bin, "apt-get"), $$"""
            #!/bin/sh
            echo "$*" >> '{{log}}'
            for a in "$@"; do case "$a" in -*|install|update|DPkg*) ;; broken) ;; *) echo "$a" >> '{{db}}' ;; esac; done
            exit 0
            """.Replace("\r", ""));
        File.WriteAllText(Path.Combine(bin, "id"), "#!/bin/sh\necho 0\n");
        foreach (var f in new[] { "dpkg-query", "apt-get", "id" }) File.SetUnixFileMode(Path.Combine(bin, f), (UnixFileMode)0b111_101_101);

        var (code, stdout, stderr) = Pwsh("Install-AptPackages @('present', 'newone', 'newtwo')", bin);
        Assert.True(code == 0, $"exit {code}\n{stdout}\n{stderr}");
        Assert.Contains("setup: installing Debian packages: newone, newtwo", stdout);
        var calls = File.ReadAllLines(log);
        Assert.Equal(2, calls.Length);
        Assert.StartsWith("update", calls[0]);
        Assert.Contains("install", calls[1]);
        Assert.EndsWith("newone newtwo", calls[1]);

        // Everything present now: no apt-get at all.
        (code, stdout, stderr) = Pwsh("Install-AptPackages @('present', 'newone')", bin);
        Assert.True(code == 0, $"exit {code}\n{stdout}\n{stderr}");
        Assert.Contains("setup: Debian packages present: present, newone", stdout);
        Assert.Equal(2, File.ReadAllLines(log).Length);

        // A package apt-get claims to install but that does not arrive is an error naming it.
        (code, stdout, stderr) = Pwsh("Install-AptPackages @('present', 'broken')", bin);
        Assert.NotEqual(0, code);
        Assert.Contains("still missing after apt-get install: broken", stdout + stderr);
    }
}

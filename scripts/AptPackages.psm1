# AptPackages.psm1: which Debian packages a machine lacks, and installing them. build.ps1 imports it; the Runner tests
# (SetupScriptTests) call Get-MissingAptPackages directly, so the detection is tested on a real dpkg database.
Set-StrictMode -Version Latest

# The packages of $Packages that dpkg does not hold in state "install ok installed". One dpkg-query call for all of
# them: it prints a line per package it knows (one per architecture for multi-arch packages) and nothing for a name it
# has never heard of, so a package counts as present only when some line of its own says "ii" — a name missing from
# the output, a removed package ("rc") or a half-installed one all come out as missing.
function Get-MissingAptPackages([string[]] $Packages) {
    if (-not $Packages -or $Packages.Count -eq 0) { return @() }
    if (-not (Get-Command dpkg-query -ErrorAction SilentlyContinue)) {
        throw 'setup: dpkg-query not found: this setup installs Debian packages and needs a Debian machine'
    }
    $installed = @{}
    $lines = @(& dpkg-query -W -f='${Package}\t${db:Status-Abbrev}\n' @Packages 2>$null)
    foreach ($line in $lines) {
        $parts = "$line".Split("`t")
        if ($parts.Count -ge 2 -and $parts[1].StartsWith('ii')) { $installed[$parts[0]] = $true }
    }
    # dpkg-query exits 1 when some name is unknown: that is an answer here, not a failure.
    $global:LASTEXITCODE = 0
    return @($Packages | Where-Object { -not $installed.ContainsKey($_) })
}

# Installs what of $Packages is missing (apt-get update first; waiting for a dpkg lock another apt holds), names what
# it installs, and checks afterwards that every one of them is really there.
function Install-AptPackages([string[]] $Packages) {
    $missing = @(Get-MissingAptPackages $Packages)
    if ($missing.Count -eq 0) { Write-Host "setup: Debian packages present: $($Packages -join ', ')"; return }
    Write-Host "setup: installing Debian packages: $($missing -join ', ')"
    # Not root: through sudo, which may ask for a password.
    $exe = 'apt-get'; $pre = @()
    if ((& id -u) -ne '0') { $exe = 'sudo'; $pre = @('apt-get') }
    $env:DEBIAN_FRONTEND = 'noninteractive'
    $started = [DateTime]::UtcNow
    # apt's and dpkg's progress (hundreds of lines for a fresh machine) goes to a log, shown only when a step fails.
    $log = [IO.Path]::Combine([IO.Path]::GetTempPath(), "learning-curves-apt-$PID.log")
    & $exe @pre update -qq *> $log
    if ($LASTEXITCODE -ne 0) { Get-Content $log -Tail 20 | Write-Host; throw "setup: apt-get update failed (exit code $LASTEXITCODE; log $log)" }
    & $exe @pre -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends @missing *> $log
    if ($LASTEXITCODE -ne 0) { Get-Content $log -Tail 20 | Write-Host; throw "setup: apt-get install $($missing -join ' ') failed (exit code $LASTEXITCODE; log $log)" }
    Remove-Item $log -ErrorAction SilentlyContinue
    $still = @(Get-MissingAptPackages $missing)
    if ($still.Count -gt 0) { throw "setup: still missing after apt-get install: $($still -join ', ')" }
    Write-Host ("setup: installed {0} in {1:0} s" -f ($missing -join ', '), ([DateTime]::UtcNow - $started).TotalSeconds)
}

Export-ModuleMember -Function Get-MissingAptPackages, Install-AptPackages

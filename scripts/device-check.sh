#!/usr/bin/env bash
# device-check.sh: checks the CUDA backend on a GPU machine in one go, from the device bundle alone (no .NET SDK, no
# network needed). Unpacks the bundle, then runs
#   1. the GPU tests (tests/Kernels.Tests, trait Category=Gpu),
#   2. learning-curves verify --backend cuda (CUDA vs CPU on random models and the parity fixtures, per precision),
#   3. learning-curves bench engine --backend cuda --profile, for bf16, tf32 and fp32,
# and writes each step's log plus summary.txt into REPORT_DIR. Exit status: 0 when every step passed.
#
#   bash device-check.sh REPORT_DIR [BUNDLE_DIR]
# BUNDLE_DIR defaults to the folder holding this script when it holds the bundle, else ../device-bundle beside it
# (a checkout's scripts/ folder). LC_CHECK_QUICK=1 runs shorter benchmarks.
set -uo pipefail

if [[ $# -lt 1 ]]; then
    echo "usage: $0 REPORT_DIR [BUNDLE_DIR]" >&2
    exit 2
fi
report=$(mkdir -p "$1" && cd "$1" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bundle=${2:-}
if [[ -z "$bundle" ]]; then
    if [[ -f "$here/dotnet-runtime.tar.xz" ]]; then bundle=$here; else bundle=$here/../device-bundle; fi
fi
for f in dotnet-runtime.tar.xz app.tar.xz tests.tar.xz native.tar.xz; do
    if [[ ! -f "$bundle/$f" ]]; then
        echo "device-check: $bundle/$f is missing (build it with 'dotnet pwsh ./build.ps1 device-bundle')" >&2
        exit 2
    fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/lc-device-check.XXXXXX")
echo "device-check: unpacking $bundle into $work"
for f in dotnet-runtime app tests native; do
    mkdir -p "$work/$f"
    if ! xz -dc "$bundle/$f.tar.xz" | tar -C "$work/$f" -xf -; then
        echo "device-check: could not unpack $bundle/$f.tar.xz" >&2
        exit 2
    fi
done

# The bundle leaves out of the test folder the files it shares with the app: put them back (never overwriting).
cp -rn "$work/app/app/." "$work/tests/repo/tests/Kernels.Tests/bin/Release/net10.0/"

export DOTNET_ROOT="$work/dotnet-runtime"
export PATH="$DOTNET_ROOT:$PATH"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
# OpenBLAS from the bundle for the CPU reference; the CUDA libraries are found by the engine's own resolver.
export LD_LIBRARY_PATH="$work/native/native${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# The compiled kernels are cached per run folder, so the first step also times NVRTC once.
export LC_KERNEL_CACHE="$work/kernel-cache"
dotnet="$DOTNET_ROOT/dotnet"
app="$work/app/app/learning-curves.dll"
tests="$work/tests/repo/tests/Kernels.Tests/bin/Release/net10.0/LearningCurves.Kernels.Tests.dll"

{
    echo "date: $(date -u '+%Y-%m-%d %H:%M') UTC"
    echo "host: $(uname -srm)"
    cat "$bundle/MANIFEST.txt" 2>/dev/null
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv 2>&1 || echo "nvidia-smi: not available"
} > "$report/device.txt"
cat "$report/device.txt"

declare -a names=() codes=()
step() {
    local name=$1; shift
    echo
    echo "=== $name: $*"
    local start=$SECONDS
    "$@" 2>&1 | tee "$report/$name.log"
    local code=${PIPESTATUS[0]}
    echo "=== $name: exit $code after $((SECONDS - start)) s"
    names+=("$name"); codes+=("$code")
}

step gpu-tests "$dotnet" "$tests" -trait "Category=Gpu" -noColor -noLogo -result-xml "$report/gpu-tests.xml"
step verify "$dotnet" "$app" verify --backend cuda --fixtures "$work/app/app/fixtures/parity"
bench_opts=(--profile)
[[ "${LC_CHECK_QUICK:-0}" == 1 ]] && bench_opts+=(--quick)
for p in bf16 tf32 fp32; do
    step "bench-$p" "$dotnet" "$app" bench engine --backend cuda --precision "$p" "${bench_opts[@]}"
done

# Hugging Face transformers on the same GPU, same precision, same weights (only where python3 has it).
if [[ -f "$here/hf_compare.py" ]] && python3 -c "import torch, transformers" >/dev/null 2>&1; then
    for p in bf16 fp32; do
        step "hf-compare-$p" python3 "$here/hf_compare.py" --runner "$dotnet $app" --precision "$p" --out "$work/hf-$p"
    done
else
    echo "device-check: hf_compare skipped (no hf_compare.py beside this script, or python3 lacks torch/transformers)" | tee "$report/hf-compare-skipped.log"
fi

{
    echo "device-check summary ($(date -u '+%Y-%m-%d %H:%M') UTC)"
    grep -h "Total:" "$report/gpu-tests.log" 2>/dev/null | tail -n 1 | sed 's/^[[:space:]]*/gpu tests: /'
    grep -h "^summary\|^verify:" "$report/verify.log" 2>/dev/null
    for p in bf16 tf32 fp32; do
        grep -h "^matrix rate $p\|^gpt2-small" "$report/bench-$p.log" 2>/dev/null | sed "s/^/bench $p: /"
    done
    grep -h "^ratio\|^same surprisals" "$report"/hf-compare-*.log 2>/dev/null
    failed=0
    for i in "${!names[@]}"; do
        echo "step ${names[$i]}: exit ${codes[$i]}"
        [[ "${codes[$i]}" != 0 ]] && failed=1
    done
    echo "result: $([[ $failed == 0 ]] && echo PASS || echo FAIL)"
} | tee "$report/summary.txt"
rm -rf "$work"
grep -q "^result: PASS" "$report/summary.txt"

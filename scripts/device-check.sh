#!/usr/bin/env bash
# device-check.sh: checks the CUDA backend on a GPU machine in one go, from the device bundle alone (no .NET SDK, no
# network needed). Unpacks the bundle, then runs
#   1. the GPU tests (tests/Kernels.Tests, trait Category=Gpu),
#   2. learning-curves verify --backend cuda (CUDA vs CPU on random models and the parity fixtures, per precision),
#   3. learning-curves bench engine --backend cuda --profile, for bf16, tf32 and fp32,
#   4. scripts/hf_compare.py for bf16 and fp32, where python3 has torch and transformers: transformers scoring every
#      position (full logits, what the paper's code does) and the careful PyTorch user (hidden states, the head only on
#      the 10 scored positions, SDPA attention) at bench engine's GPT-2-small shape (B=128, T=128, K=10), against
#      learning-curves' own figure for that shape from step 3,
#   5. compute-sanitizer memcheck on one `score --backend cuda` of a small parity-fixture model, where compute-sanitizer
#      is found (PATH, CUDA_HOME, /usr/local/cuda),
# each under its own time limit so the whole run stays within 8 minutes on one H100/H200. With LC_CHECK_LLAMA=1 (about
# 4 minutes more), then for the TinyLlama- and OLMo-2-1B-shaped models in bf16: bench engine --model NAME and, where
# python3 has torch and transformers, hf_compare.py --arch NAME (transformers on the same random bf16 checkpoint). Each step's full log goes
# into REPORT_DIR; stdout gets one line per step, then the one-screen summary (also REPORT_DIR/summary.txt).
# Exit status: 0 when every step passed.
#
#   bash device-check.sh REPORT_DIR [BUNDLE_DIR]
# BUNDLE_DIR defaults to the folder holding this script when it holds the bundle, else ../device-bundle beside it
# (a checkout's scripts/ folder). LC_CHECK_QUICK=1 runs shorter benchmarks.
# Rehearsal without a GPU (the tests do this on the software GPU): LC_CHECK_BUILT=REPO runs the built runner and test
# assembly of the checkout REPO instead of a bundle, with the dotnet on PATH. On the software GPU (LC_SOFTWARE_GPU set)
# the benchmarks are skipped (timings mean nothing there), verify runs --quick for fp32, and LC_CHECK_TEST_ARGS (extra
# test-runner arguments, e.g. a -method filter) narrows the GPU tests.
set -uo pipefail

if [[ $# -lt 1 ]]; then
    echo "usage: $0 REPORT_DIR [BUNDLE_DIR]" >&2
    exit 2
fi
report=$(mkdir -p "$1" && cd "$1" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
start_all=$SECONDS
built=${LC_CHECK_BUILT:-}
software=${LC_SOFTWARE_GPU:-}
work=$(mktemp -d "${TMPDIR:-/tmp}/lc-device-check.XXXXXX")
if [[ -n "$built" ]]; then
    built=$(cd "$built" && pwd)
    dotnet=$(command -v dotnet || true)
    app="$built/src/Runner/bin/Release/net10.0/learning-curves.dll"
    tests="$built/tests/Kernels.Tests/bin/Release/net10.0/LearningCurves.Kernels.Tests.dll"
    fixtures="$built/tests/fixtures/parity"
    for f in "$app" "$tests"; do
        if [[ ! -f "$f" ]]; then echo "device-check: $f is missing (build the checkout first)" >&2; exit 2; fi
    done
    if [[ -z "$dotnet" ]]; then echo "device-check: no dotnet on PATH" >&2; exit 2; fi
    bundle="$built (built checkout)"
else
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
fixtures="$work/app/app/fixtures/parity"  # the bundle carries them beside the app
fi

{
    echo "date: $(date -u '+%Y-%m-%d %H:%M') UTC"
    echo "host: $(uname -srm)"
    echo "from: $bundle"
    [[ -n "$software" ]] && echo "device: the software GPU in $software (a rehearsal: timings skipped)"
    cat "$bundle/MANIFEST.txt" 2>/dev/null
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv 2>&1 || echo "nvidia-smi: not available"
} > "$report/device.txt"

declare -a names=() codes=() secs=()
# step NAME LIMIT_S COMMAND...: runs under a time limit (exit 124 when it ran past it), full output to NAME.log only.
step() {
    local name=$1 limit=$2; shift 2
    local start=$SECONDS
    { echo "=== $name: $* (limit ${limit} s)"; timeout --kill-after=10 "$limit" "$@"; } > "$report/$name.log" 2>&1
    local code=$?
    names+=("$name"); codes+=("$code"); secs+=("$((SECONDS - start))")
    echo "device-check: $name: exit $code after $((SECONDS - start)) s ($report/$name.log)"
}
skip() {
    echo "device-check: $1 skipped: $2" | tee "$report/$1.skipped"
}

# Limits (seconds) that keep the run within 8 minutes on one H100/H200, unpacking included.
read -r -a test_args <<< "${LC_CHECK_TEST_ARGS:-}"
step gpu-tests 150 "$dotnet" "$tests" -trait "Category=Gpu" -noColor -noLogo -result-xml "$report/gpu-tests.xml" "${test_args[@]}"
if [[ -n "$software" ]]; then
    step verify 240 "$dotnet" "$app" verify --backend cuda --quick --precision fp32 --fixtures "$fixtures"
    for p in bf16 tf32 fp32; do skip "bench-$p" "timings need a real GPU (running on the software GPU)"; done
    skip memcheck "compute-sanitizer needs a real GPU (running on the software GPU)"
else
    step verify 90 "$dotnet" "$app" verify --backend cuda --fixtures "$fixtures"
    bench_opts=(--profile)
    [[ "${LC_CHECK_QUICK:-0}" == 1 ]] && bench_opts+=(--quick)
    for p in bf16 tf32 fp32; do
        step "bench-$p" 50 "$dotnet" "$app" bench engine --backend cuda --precision "$p" "${bench_opts[@]}"
    done
fi

# row_tokens_per_s PREFIX LOG: the tokens/s of bench engine's first row starting with PREFIX. Counted from the end:
# the last column is a share ("13 %", two fields, or "-"), then GFLOP/s, then tokens/s.
row_tokens_per_s() {
    awk -v p="$1" 'index($0, p) == 1 { print ($NF == "%" ? $(NF-3) : $(NF-2)); exit }' "$2" 2>/dev/null
}

# Hugging Face transformers on the same GPU, same precision, same weights (only where python3 has it).
if [[ -f "$here/hf_compare.py" ]] && python3 -c "import torch, transformers" >/dev/null 2>&1; then
    for p in bf16 fp32; do
        # learning-curves' tokens/s at the careful user's shape: bench engine's "gpt2-small, head on 10 positions" row.
        ours_k10=$(row_tokens_per_s "gpt2-small, head on 10 positions" "$report/bench-$p.log")
        step "hf-compare-$p" 60 python3 "$here/hf_compare.py" --runner "$dotnet $app" --precision "$p" --out "$work/hf-$p" \
            ${ours_k10:+--ours-k10 "$ours_k10"}
    done
else
    skip hf-compare "no hf_compare.py beside this script, or python3 lacks torch/transformers"
fi

# The LLaMA-family shapes of issue 23's targets, on request (they add about 4 minutes): bf16 bench engine rows and
# transformers on the same random checkpoint.
if [[ "${LC_CHECK_LLAMA:-0}" == 1 ]]; then
    if [[ -n "$software" ]]; then
        skip llama-shapes "timings need a real GPU (running on the software GPU)"
    else
        for arch in tinyllama olmo2-1b; do
            step "bench-$arch-bf16" 90 "$dotnet" "$app" bench engine --backend cuda --precision bf16 --model "$arch"
            if [[ -f "$here/hf_compare.py" ]] && python3 -c "import torch, transformers" >/dev/null 2>&1; then
                ours=$(row_tokens_per_s "$arch (" "$report/bench-$arch-bf16.log")
                step "hf-compare-$arch-bf16" 150 python3 "$here/hf_compare.py" --runner "$dotnet $app" --arch "$arch" \
                    --precision bf16 --seqs 64 --hf-batches 8,16,32,64 --out "$work/hf-$arch" ${ours:+--ours-k10 "$ours"}
            else
                skip "hf-compare-$arch-bf16" "no hf_compare.py beside this script, or python3 lacks torch/transformers"
            fi
        done
    fi
fi

# compute-sanitizer memcheck on one score of a small model (the first parity fixture with ids), bf16 (the mode with
# the most kernels); a real GPU only.
if [[ -z "$software" ]]; then
    sanitizer=$(command -v compute-sanitizer || true)
    for d in "${CUDA_HOME:-}" /usr/local/cuda; do
        [[ -z "$sanitizer" && -n "$d" && -x "$d/bin/compute-sanitizer" ]] && sanitizer="$d/bin/compute-sanitizer"
    done
    fixture=$(for d in "$fixtures"/*/; do [[ -f "$d/ids.txt" && -f "$d/model.safetensors" ]] && { echo "${d%/}"; break; }; done)
    if [[ -n "$sanitizer" && -n "$fixture" ]]; then
        step memcheck 90 "$sanitizer" --tool memcheck --error-exitcode 1 "$dotnet" "$app" score --backend cuda --precision bf16 \
            --model "$fixture" --ids "$fixture/ids.txt" --out "$work/memcheck.csv"
    else
        skip memcheck "no compute-sanitizer (PATH, CUDA_HOME, /usr/local/cuda) or no parity fixture with ids"
    fi
fi

{
    echo "device-check summary ($(date -u '+%Y-%m-%d %H:%M') UTC, $((SECONDS - start_all)) s; full logs in $report)"
    head -n 4 "$report/device.txt" | tail -n +3
    grep -h "Total:" "$report/gpu-tests.log" 2>/dev/null | tail -n 1 | sed 's/^[^A-Za-z]*/gpu tests: /'
    grep -h "\[FAIL\]" "$report/gpu-tests.log" 2>/dev/null | head -n 10 | sed 's/^[^A-Za-z]*/failed: /'
    grep -h "^summary\|^verify:" "$report/verify.log" 2>/dev/null
    for p in bf16 tf32 fp32; do
        grep -h "^matrix rate $p\|^gpt2-small, head on" "$report/bench-$p.log" 2>/dev/null | sed "s/^/bench $p: /"
    done
    for p in bf16 fp32; do
        grep -h "^ratio\|^same surprisals\|^careful hugging face" "$report/hf-compare-$p.log" 2>/dev/null | sed "s/^/hf $p: /"
    done
    grep -h "ERROR SUMMARY" "$report/memcheck.log" 2>/dev/null | tail -n 1 | sed 's/^[^A-Za-z]*/memcheck (score, bf16): /'
    # One line for every step (exit status, seconds; "timeout" when it ran past its limit).
    failed=0
    line="steps (exit, seconds):"
    for i in "${!names[@]}"; do
        line+=" ${names[$i]} ${codes[$i]}$([[ "${codes[$i]}" == 124 || "${codes[$i]}" == 137 ]] && echo "=timeout") ${secs[$i]}s;"
        [[ "${codes[$i]}" != 0 ]] && failed=1
    done
    echo "${line%;}"
    for f in "$report"/*.skipped; do [[ -f "$f" ]] && sed 's/^device-check: //' "$f"; done
    echo "result: $([[ $failed == 0 ]] && echo PASS || echo FAIL)"
} > "$report/summary.txt"
echo
cat "$report/summary.txt"
rm -rf "$work"
grep -q "^result: PASS" "$report/summary.txt"

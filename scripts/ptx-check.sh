#!/usr/bin/env bash
# ptx-check.sh [OUTDIR]: compiles kernels.cu to PTX for sm_80 and sm_90 with clang-19 and no CUDA toolkit
# (-nocudainc -nocudalib; tests/kernel-emu/cuda_min.h stands in for what NVRTC provides implicitly). Any error or
# warning fails. The Kernels tests (PtxCheckTests) run this; CI runs it through them.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$root/artifacts/ptx}"
clang="${CLANG:-clang-19}"
if ! command -v "$clang" >/dev/null 2>&1; then
    echo "ptx-check: $clang not found (Debian package clang-19; 'dotnet pwsh ./build.ps1 setup' installs it)" >&2
    exit 3
fi
mkdir -p "$out"
for arch in sm_80 sm_90; do
    # +ptx78: PTX ISA 7.8 (CUDA 11.8) is the oldest that knows sm_90 and has the *.sync shuffles and cp.async.
    "$clang" -x cuda --cuda-device-only -nocudainc -nocudalib --cuda-gpu-arch="$arch" --cuda-feature=+ptx78 \
        -O3 -Wall -Wextra -Werror -include "$root/tests/kernel-emu/cuda_min.h" -S -o "$out/kernels.$arch.ptx" "$root/kernels.cu"
    echo "ptx-check: $arch ok -> $out/kernels.$arch.ptx"
done

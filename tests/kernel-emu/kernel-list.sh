#!/usr/bin/env bash
# kernel-list.sh KERNELS_CU: prints LC_KERNEL(name) for every `extern "C" __global__` kernel of the file, the one list
# both the emulator library and the software GPU are built from. Fails when it finds none.
set -euo pipefail
list=$(grep -oE 'extern "C" __global__ void [A-Za-z_][A-Za-z0-9_]*' "${1:?usage: kernel-list.sh KERNELS_CU}" | awk '{print "LC_KERNEL(" $5 ")"}')
[[ -n "$list" ]] || { echo "kernel-list.sh: no kernels found in $1" >&2; exit 1; }
echo "$list"

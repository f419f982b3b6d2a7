#!/usr/bin/env bash
# build.sh OUT.so: builds kernels.cu under the CPU emulator (cuda_emu.h) into a shared library with a C ABI
# (kernels_emu.cpp). The kernel tests run this themselves and cache the result by source hash; run it by hand to debug.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:?usage: build.sh OUT.so}"
cxx="${CXX:-g++}"
gen="$(mktemp -d)"
trap 'rm -rf "$gen"' EXIT
# The kernel table: every `extern "C" __global__` kernel of kernels.cu, by name (kernel_table.h deduces each launcher
# from the kernel's own prototype).
bash "$here/kernel-list.sh" "$here/../../kernels.cu" > "$gen/kernels.inc"
# -O2: the emulated kernels run thousands of fibers; -fvisibility=hidden: only the lc_emu_* entry points export.
# -Wno-unknown-pragmas: kernels.cu's #pragma unroll is for the CUDA compilers.
"$cxx" -std=c++17 -O2 -fPIC -shared -fvisibility=hidden -Wall -Wextra -Werror -Wno-unknown-pragmas \
    -Wno-unused-parameter -DLC_EMULATION -I"$gen" -o "$out" "$here/kernels_emu.cpp" -lpthread

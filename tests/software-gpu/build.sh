#!/usr/bin/env bash
# build.sh OUT_DIR: builds the software GPU into OUT_DIR: libcuda.so.1 (the driver shim over the kernel emulator, with
# kernels.cu compiled for the CPU), libcublas.so.12 (the cuBLAS shim) and libcublasLt.so.12 (the cuBLASLt shim), plus
# env.sh, which puts them (and, when present, the project cache's NVRTC 11.8) first on LD_LIBRARY_PATH. `dotnet pwsh ./build.ps1 software-gpu` runs it.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${1:?usage: build.sh OUT_DIR}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
cxx="${CXX:-g++}"
gen="$out/gen"
mkdir -p "$gen"
# The kernel table: every `extern "C" __global__` kernel of kernels.cu, by name (each launcher is deduced from the
# kernel's own prototype by the compiler, so only names are generated).
bash "$root/tests/kernel-emu/kernel-list.sh" "$root/kernels.cu" > "$gen/kernels.inc.tmp"
mv "$gen/kernels.inc.tmp" "$gen/kernels.inc"
flags=(-std=c++17 -O2 -fPIC -fvisibility=hidden -Wall -Wextra -Werror -Wno-unknown-pragmas -Wno-unused-parameter -pthread)
"$cxx" "${flags[@]}" -I"$gen" -c "$here/softgpu_kernels.cpp" -o "$gen/softgpu_kernels.o"
"$cxx" "${flags[@]}" -c "$here/softgpu_driver.cpp" -o "$gen/softgpu_driver.o"
"$cxx" -shared -pthread -Wl,-soname,libcuda.so.1 -o "$out/libcuda.so.1.tmp" "$gen/softgpu_driver.o" "$gen/softgpu_kernels.o"
mv "$out/libcuda.so.1.tmp" "$out/libcuda.so.1"
"$cxx" "${flags[@]}" -shared -Wl,-soname,libcublas.so.12 -Wl,-rpath,'$ORIGIN' -o "$out/libcublas.so.12.tmp" "$here/softgpu_cublas.cpp" "$out/libcuda.so.1"
mv "$out/libcublas.so.12.tmp" "$out/libcublas.so.12"
"$cxx" "${flags[@]}" -shared -Wl,-soname,libcublasLt.so.12 -Wl,-rpath,'$ORIGIN' -o "$out/libcublasLt.so.12.tmp" "$here/softgpu_cublaslt.cpp" "$out/libcuda.so.1"
mv "$out/libcublasLt.so.12.tmp" "$out/libcublasLt.so.12"
nvrtc="${LEARNING_CURVES_CACHE:-$HOME/.cache/learning-curves}/cuda-11.8/lib"
cat > "$out/env.sh" <<ENV
# source this file: CUDA programs started from this shell run on the software GPU (built from $root).
export LD_LIBRARY_PATH="$out:$nvrtc\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
export LC_SOFTWARE_GPU="$out"
ENV
echo "software GPU: $out (source $out/env.sh)"

#!/usr/bin/env bash
# build.sh OUT.so: builds the faultfs LD_PRELOAD shim (faultfs.c). The tests run this themselves and cache the result by
# source hash (tests/Common/FaultFs.cs); build.ps1 test builds it too; run it by hand to debug.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:?usage: build.sh OUT.so}"
cc="${CC:-gcc}"
"$cc" -std=c11 -O2 -fPIC -shared -fvisibility=hidden -Wall -Wextra -Werror -o "$out" "$here/faultfs.c" -ldl -lpthread

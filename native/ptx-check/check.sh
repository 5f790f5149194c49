#!/usr/bin/env bash
# Compiles every native/kernels/*.cu to PTX with clang (>= 16) for sm_90, the way NVRTC will see it: catches C++
# and inline-asm operand errors on a machine with no CUDA toolkit, and shows whether any kernel keeps an array in
# local memory (spilled register arrays). A developer's check, not part of CI; ptxas itself only runs on the GPU
# machine. Usage: native/ptx-check/check.sh [clang++-16] [out-dir]. clang 14 (Debian 12's) knows neither sm_90 nor
# PTX 7.8: PTX_ARCH=sm_80 PTX_FEATURE=+ptx75 native/ptx-check/check.sh clang++-14 checks the same sources for sm_80.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cxx="${1:-$(command -v clang++-16 || command -v clang++)}"
out="${2:-$(mktemp -d)}"
mkdir -p "$out"
status=0
for f in "$here"/../kernels/*.cu; do
  name="$(basename "$f" .cu)"
  if "$cxx" -x cuda --cuda-device-only --cuda-gpu-arch="${PTX_ARCH:-sm_90}" -Xclang -target-feature -Xclang "${PTX_FEATURE:-+ptx78}" -nocudainc -nocudalib \
      -std=c++17 -O3 -include "$here/prelude.h" -S -o "$out/$name.ptx" "$f"; then
    echo "$name: ok, $(grep -c 'mma.sync' "$out/$name.ptx" || true) mma.sync, $(grep -c '\.local' "$out/$name.ptx" || true) .local"
  else
    echo "$name: FAILED"; status=1
  fi
done
echo "PTX in $out"
exit $status

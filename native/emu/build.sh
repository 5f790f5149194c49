#!/usr/bin/env bash
# Builds the CPU stand-ins for the CUDA libraries into DIR: libxdit_emu.so (the kernel emulator with every
# native/kernels module, and fake driver, NVRTC, cuBLAS/cuBLASLt, cuDNN, one-rank NCCL) and links to it under the
# sonames the CUDA backend loads. Then the backend runs on the CPU, slowly, with no GPU:
#   native/emu/build.sh /tmp/xdit-emu && XDIT_CUDA_LIBRARY_DIR=/tmp/xdit-emu ./xdit generate --device cuda -p "..."
# The tests build it the same way (tests/XDit.Tests/Cuda/Emulation/KernelEmulator.cs). CXX picks the compiler.
set -euo pipefail
[ $# -eq 1 ] || { sed -n 2,7p "$0"; exit 2; }
here="$(cd "$(dirname "$0")" && pwd)"
out="$1"
mkdir -p "$out"
tmp="$out/build-$$.so"
# -U_FORTIFY_SOURCE: the fortified longjmp refuses the fibers' switches between stacks
"${CXX:-g++}" -std=c++17 -O2 -fPIC -shared -U_FORTIFY_SOURCE -I"$here/../kernels" -I"$here" "$here"/*.cpp -o "$tmp"
mv -f "$tmp" "$out/libxdit_emu.so"   # atomic: another process may build the same folder
for so in libcuda.so.1 libnvrtc.so.13 libcublas.so.13 libcublasLt.so.13 libcudnn.so.9 libnccl.so.2; do
  ln -sfn libxdit_emu.so "$out/$so"
done

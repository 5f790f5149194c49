#!/usr/bin/env bash
# Build, test and run XDit.
#   ./build.sh           restore and build everything (Release)
#   ./build.sh test      build, then run the test suite (prints "N passed, N failed")
#   ./build.sh bench ... build and run the BenchmarkDotNet suites (arguments go to BenchmarkDotNet)
set -euo pipefail
cd "$(dirname "$0")"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
cmd="${1:-build}"; shift || true
build() { dotnet build XDit.sln -c Release -nologo -v quiet "$@"; }
case "$cmd" in
  build) build ;;
  test)
    build
    tests=tests/XDit.Tests/bin/Release/net10.0/XDit.Tests.dll
    # each clone its own logs and result files with per-test times (TestResults/ is ignored), so clones testing
    # side by side do not mix them
    logdir=TestResults; mkdir -p "$logdir"
    # Without a CUDA driver the tests that need a device run in the emulator pass below, so a full first pass
    # leaves them out (NeedsCudaDeviceAttribute) rather than listing them as skipped.
    emulate=0
    if [ $# -eq 0 ] && ! ldconfig -p 2>/dev/null | grep -q 'libcuda\.so\.1 '; then emulate=1; fi
    first=("$@"); [ "$emulate" = 1 ] && first=(-trait- Needs=cuda-device)
    set +e   # a failing pass still prints its counts and the closing line
    dotnet "$tests" -noColor "${first[@]}" -result-xml "$logdir/xdit-test.xml" | tee "$logdir/xdit-test.log"
    status=${PIPESTATUS[0]}
    logs=("$logdir/xdit-test.log")
    # Second pass, for a full run on a machine without a GPU: the CUDA backend's tests again, on the CPU stand-ins
    # for the CUDA libraries (native/emu, tests/XDit.Tests/Cuda/Emulation/EmulatedCuda.cs).
    if [ "$emulate" = 1 ]; then
      echo "--- the CUDA backend on the CPU emulator"
      XDIT_TEST_CUDA_EMULATOR=1 XDIT_EMU_DEVICE_COUNT=2 dotnet "$tests" -noColor -class XDit.Tests.Cuda.CudaRuntimeTests -class XDit.Tests.Cuda.CudaOpsTests \
        -class XDit.Tests.Comm.NcclCommunicatorTests \
        -class XDit.Tests.Cuda.Emulation.EmulatedCudaPipelineTests -class XDit.Tests.Cuda.Emulation.EmulatedCudaParallelTests \
        -class XDit.Tests.Cuda.Emulation.EmulatedGemmFallbackTests -class XDit.Tests.Cuda.Emulation.EmulatedNcclGenerationTests \
        -class XDit.Tests.Cuda.Emulation.EmulatedGuardPageTests -class XDit.Tests.Cuda.CudaModelWeightsTests \
        -class XDit.Tests.Cuda.CudaGraphExecutorTests -result-xml "$logdir/xdit-test-emu.xml" | tee "$logdir/xdit-test-emu.log"
      status=$(( status | PIPESTATUS[0] ))
      logs+=("$logdir/xdit-test-emu.log")
    fi
    set -e
    # One plain closing line that any CI can read (each pass's own summary line is its last "Total:").
    count() { for l in "${logs[@]}"; do grep -oE "$1: [0-9]+" "$l" | tail -1 | grep -oE '[0-9]+'; done | awk '{s+=$1} END {print s+0}'; }
    total=$(count Total); failed=$(count Failed); skipped=$(count Skipped); errors=$(count Errors)
    echo "$((total - failed - skipped)) passed, $((failed + errors)) failed, $skipped skipped"
    if [ "$total" -eq 0 ]; then echo "no test ran"; exit 1; fi
    exit "$status" ;;
  bench) dotnet run --project bench/XDit.Bench -c Release -- "$@" ;;
  *) echo "usage: ./build.sh [build|test|bench]" >&2; exit 2 ;;
esac

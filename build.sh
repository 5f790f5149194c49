#!/usr/bin/env bash
# Build, test and run XDit.
#   ./build.sh           restore and build everything (Release)
#   ./build.sh test      build, then run the test suite (prints "N passed, N failed")
#   ./build.sh bench ... build and run the BenchmarkDotNet suites (arguments go to BenchmarkDotNet)
#   ./build.sh pack      the library's NuGet packages into artifacts/packages, then the package test
#                        (tests/package/check.sh: a fresh console app restores them from there and draws the demo)
#   ./build.sh publish   one self-contained xdit file (carrying the demo model) into artifacts/publish/RID/
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
    # Second pass, for a full run on a machine without a GPU: the CUDA backend's tests again, on the CPU stand-ins
    # for the CUDA libraries (native/emu, tests/XDit.Tests/Cuda/Emulation/EmulatedCuda.cs). The emulator runs one
    # kernel launch at a time per process, so a process of it keeps about one core busy: it runs as two processes
    # (whole-pipeline generations in one, the rest in the other), started beside the first pass, whose serial
    # stretches leave a core free. Their output follows the first pass's.
    emu_pids=(); emu_logs=()
    trap 'for p in "${emu_pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT   # an interrupted run leaves none behind (|| true: under set -e a kill of an ended pass would make the exit status 1)
    emu() {   # log name, then the classes
      local log="$logdir/xdit-test-emu-$1.log"; shift
      local args=(); for c in "$@"; do args+=(-class "XDit.Tests.$c"); done
      XDIT_TEST_CUDA_EMULATOR=1 XDIT_EMU_DEVICE_COUNT=2 dotnet "$tests" -noColor "${args[@]}" -result-xml "${log%.log}.xml" >"$log" 2>&1 &
      emu_pids+=($!); emu_logs+=("$log")
    }
    if [ "$emulate" = 1 ]; then
      rm -f "$logdir"/xdit-test-emu*.log
      emu generations Cuda.Emulation.EmulatedCudaParallelTests Cuda.Emulation.EmulatedNcclGenerationTests Cuda.Emulation.EmulatedCudaSanaPipelineTests \
        Pipelines.HunyuanDiTEmulatedCudaTests PipeFusion.SanaPipeFusionEmulatedCudaTests Models.MochiCudaGraphTests Cuda.Emulation.EmulatedHunyuanVideoVaeTests Models.LtxCudaGraphTests Models.Flux2CudaTests Models.ZImageCudaTests
      emu backend Cuda.CudaRuntimeTests Cuda.CudaOpsTests Cuda.CudaOpContractTests Cuda.Emulation.EmulatedLaunchTests Comm.NcclCommunicatorTests Cuda.Emulation.EmulatedCudaPipelineTests \
        Cuda.Emulation.EmulatedGemmFallbackTests Cuda.Emulation.EmulatedGuardPageTests Cuda.CudaModelWeightsTests \
        Cuda.CudaGraphExecutorTests Cuda.Emulation.EmulatedNoExecTests Bench.LedgerLaunchTests Cuda.Emulation.EmulatedParallelDcAeTests \
        Cuda.CudaFusedOpsTests Cuda.CudaLinearNormRopeTests Cuda.Emulation.EmulatedCudaOptionTests Cuda.CudnnAttentionTests Cuda.Emulation.EmulatedCudnnAttentionTests Cuda.Emulation.EmulatedCommDTypeTests \
        Cuda.Emulation.EmulatedVaeEncoderTests Pipelines.FluxKontextEmulatedCudaTests \
        Cuda.Emulation.EmulatedCogVideoXVaeTests Models.QwenImageCudaTests Cuda.Emulation.EmulatedWanVaeTests \
        Models.HunyuanVideoCudaGraphTests Models.HunyuanVideoLedgerTests
    fi
    dotnet "$tests" -noColor "${first[@]}" -result-xml "$logdir/xdit-test.xml" | tee "$logdir/xdit-test.log"
    status=${PIPESTATUS[0]}
    [ "$status" = 0 ] || echo "the first pass exited $status"
    logs=("$logdir/xdit-test.log")
    for i in "${!emu_pids[@]}"; do
      echo "--- the CUDA backend on the CPU emulator ($(basename "${emu_logs[$i]}" .log | sed 's/^xdit-test-emu-//'))"
      tail -n +1 -f --pid="${emu_pids[$i]}" "${emu_logs[$i]}"
      wait "${emu_pids[$i]}"; rc=$?
      [ "$rc" = 0 ] || echo "the emulator pass ($(basename "${emu_logs[$i]}" .log)) exited $rc"
      status=$(( status | rc ))
      logs+=("${emu_logs[$i]}")
    done
    set -e
    # One plain closing line that any CI can read (each pass's own summary line is its last "Total:").
    count() { for l in "${logs[@]}"; do grep -oE "$1: [0-9]+" "$l" | tail -1 | grep -oE '[0-9]+'; done | awk '{s+=$1} END {print s+0}'; }
    total=$(count Total); failed=$(count Failed); skipped=$(count Skipped); errors=$(count Errors)
    echo "$((total - failed - skipped)) passed, $((failed + errors)) failed, $skipped skipped"
    if [ "$total" -eq 0 ]; then echo "no test ran"; exit 1; fi
    exit "$status" ;;
  bench) dotnet run --project bench/XDit.Bench -c Release -- "$@" ;;
  pack)
    # one package per library project under XDit.Engine (NuGet needs each referenced project as a package), and the
    # demo model as a content package; ContinuousIntegrationBuild gives deterministic paths for SourceLink
    out=artifacts/packages; rm -rf "$out"; mkdir -p "$out"
    for p in Runtime Kernels Models Comm Engine DemoModel; do
      dotnet pack "src/$p/XDit.$p.csproj" -c Release -nologo -v quiet -o "$out" -p:ContinuousIntegrationBuild=true
    done
    version=$(sed -n 's:.*<VersionPrefix>\(.*\)</VersionPrefix>.*:\1:p' src/Directory.Build.props)
    ls "$out"
    bash tests/package/check.sh "$out" "$version" ;;
  publish)
    # Single-file and self-contained (the .NET runtime inside; no SDK or runtime needed where it runs), not NativeAOT:
    # see README ("A single file"). The demo model rides along as resources, unpacked on first use.
    rid="${1:-$(dotnet --info | sed -n 's/^ *RID: *//p' | head -1)}"
    out="artifacts/publish/$rid"; rm -rf "$out"
    dotnet publish src/Cli/XDit.Cli.csproj -c Release -r "$rid" --self-contained -nologo -v quiet -o "$out" \
      -p:PublishSingleFile=true -p:IncludeNativeLibrariesForSelfExtract=true -p:EnableCompressionInSingleFile=true \
      -p:XditEmbedDemoModel=true -p:DebugType=none
    ls -la "$out"
    bash tests/publish-check.sh "$out/xdit" ;;
  *) echo "usage: ./build.sh [build|test|bench|pack|publish [RID]]" >&2; exit 2 ;;
esac

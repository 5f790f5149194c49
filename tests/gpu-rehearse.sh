#!/usr/bin/env bash
# A rehearsal of tests/gpu-check.sh here, without a GPU, so that a broken step, a wrong flag, a missing file or a
# summary section reading the wrong log shows up before it costs scarce device time:
#   bash tests/gpu-rehearse.sh [SCRIPT]   (about 2-3 minutes on 2 cores; not part of CI)
# SCRIPT: tests/gpu-check.sh (the default) or tests/gpu-attention-probe.sh (with stand-ins for ncu and cuobjdump too).
# It packs the build if .gpu/ is missing or older than the sources (tests/gpu-pack.sh), then runs the script as it
# is, every step with its real command line, on the packed build and runtime, with:
# - the CUDA libraries from the CPU emulator (native/emu/build.sh into /tmp/xdit-rehearse-emu/HASH, kept per source
#   hash; XDIT_CUDA_LIBRARY_DIR), its NVRTC "CUBINs" in that folder, never in ~/.cache/xdit/kernels;
# - stand-ins, first on PATH (gpu-steps.sh puts XDIT_REHEARSE/bin there), for what only the GPU machine has, each
#   saying it is one: nvidia-smi (an H100), nvcc (checks its options and sources, compiles nothing),
#   compute-sanitizer and ncu (run the command unchecked, unprofiled), cuobjdump (no SASS), and dotnet, which runs every `xdit bench` in the emulator's
#   no-exec mode (XDIT_EMU_NO_EXEC=1: launches checked and counted, none run, weights of shape only), so the GEMM at
#   8192, the attention shapes and the three forwards at 1024 px take seconds; the rest (xdit info, the CUDA tests,
#   every fixture, generate) runs on the emulator for real;
# - the runtime unpacked by .gpu/env.sh into XDIT_REHEARSE/dotnet (not /tmp/dotnet, which here may hold an old one);
# - DEADLINE 3600 (the emulator is slower than a GPU at the tests; each step keeps its own LIMIT).
# $OUT is a temp folder, kept if the rehearsal fails or KEEP=1. At the end: summary.txt (with each step's time) and
# a verdict: it exits non-zero if a step failed or was skipped, a verify gave no PASS, a test failed, or a summary
# section is empty (with STEPS, only the steps' verdicts count). Timings and TFLOP/s of no-exec runs mean nothing,
# and the step times are the emulator's, not a GPU's.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
script=${1:-tests/gpu-check.sh}
[ -f "$script" ] || { echo "gpu-rehearse: no script $script" >&2; exit 2; }
fresh() {   # whether .gpu/bin.txz is newer than every source that goes into it
  [ -f .gpu/bin.txz ] && [ -f .gpu/env.sh ] && [ -f .gpu/dotnet.txz ] &&
    [ -z "$(find src tests/XDit.Tests models tests/gpu-pack.sh -newer .gpu/bin.txz -type f \
      -not -path '*/bin/*' -not -path '*/obj/*' -print -quit)" ]
}
if ! fresh; then
  echo "--- packing (tests/gpu-pack.sh)"
  bash tests/gpu-pack.sh || { echo "gpu-rehearse: tests/gpu-pack.sh failed" >&2; exit 1; }
fi

emu=/tmp/xdit-rehearse-emu/$(cat native/kernels/* native/emu/* | sha256sum | cut -c1-16)
if [ ! -f "$emu/libnccl.so.2" ]; then
  echo "--- building the CUDA emulator into $emu"
  bash native/emu/build.sh "$emu" || { echo "gpu-rehearse: native/emu/build.sh failed" >&2; exit 1; }
fi

R=$(mktemp -d /tmp/gpu-rehearse.XXXXXX)   # removed at the end if all went well, unless KEEP=1
mkdir -p "$R/bin" "$R/out"

cat >"$R/bin/nvidia-smi" <<'EOF'
#!/usr/bin/env bash
echo "nvidia-smi stand-in (tests/gpu-rehearse.sh): no GPU here; the CUDA libraries are the CPU emulator's"
cat <<'SMI'
+-----------------------------------------------------------------------------------------+
| NVIDIA-SMI 580.65.06              Driver Version: 580.65.06      CUDA Version: 13.0     |
|-----------------------------------------+------------------------+----------------------+
| GPU  Name                 Persistence-M | Bus-Id          Disp.A | Volatile Uncorr. ECC |
| Fan  Temp   Perf          Pwr:Usage/Cap |           Memory-Usage | GPU-Util  Compute M. |
|=========================================+========================+======================|
|   0  NVIDIA H100 80GB HBM3          On  |   00000000:18:00.0 Off |                    0 |
| N/A   30C    P0             70W /  700W |       0MiB /  81559MiB |      0%      Default |
+-----------------------------------------+------------------------+----------------------+
SMI
EOF

# nvcc: the GPU machine's command lines (-arch=sm_90 -Xptxas -v --cubin -o OUT SOURCE) with their sources checked;
# it prints one line per source that the ptxas section of the summary reads
cat >"$R/bin/nvcc" <<'EOF'
#!/usr/bin/env bash
out="" verbose=0 sources=()
while [ $# -gt 0 ]; do
  case $1 in
    -o) out=$2; shift ;;
    -Xptxas) [ "$2" = -v ] && verbose=1; shift ;;
    -arch=sm_*|--cubin|-c|-lineinfo) ;;
    -*) echo "nvcc stand-in (tests/gpu-rehearse.sh): option $1 is not one the GPU check uses" >&2; exit 2 ;;
    *) sources+=("$1") ;;
  esac
  shift
done
[ ${#sources[@]} -gt 0 ] || { echo "nvcc stand-in: no source file" >&2; exit 2; }
for s in "${sources[@]}"; do
  [ -f "$s" ] || { echo "nvcc stand-in: $s: no such file" >&2; exit 1; }
  [ "$verbose" = 1 ] && echo "ptxas info    : nvcc stand-in (tests/gpu-rehearse.sh), $s not compiled: no registers or spill stores counted"
done
[ -z "$out" ] || : >"$out"
EOF

# compute-sanitizer: runs the command after its options without checking it (on the emulator, each allocation ends
# at a guard page and XDIT_CUDA_ARENA_EXACT=1 gives each tensor its own: a read past a tensor's end fails the launch)
cat >"$R/bin/compute-sanitizer" <<'EOF'
#!/usr/bin/env bash
while [ $# -gt 0 ]; do
  case $1 in
    --tool|--print-limit|--error-exitcode|--leak-check) shift 2 ;;
    -*) echo "compute-sanitizer stand-in (tests/gpu-rehearse.sh): option $1 is not one the GPU check uses" >&2; exit 2 ;;
    *) break ;;
  esac
done
echo "========= COMPUTE-SANITIZER stand-in (tests/gpu-rehearse.sh): nothing checked, the command runs alone"
"$@"
rc=$?
echo "========= ERROR SUMMARY: 0 errors (stand-in: nothing was checked)"
exit $rc
EOF

# ncu: runs the command after its options unprofiled, and prints a line for its kernel filter where the summary looks
cat >"$R/bin/ncu" <<'EOF'
#!/usr/bin/env bash
kernels=flash_attention_tc
while [ $# -gt 0 ]; do
  case $1 in
    -k) kernels=${2#regex:}; shift 2 ;;
    --clock-control|--metrics|--launch-count|--print-summary|--section) shift 2 ;;
    -*) echo "ncu stand-in (tests/gpu-rehearse.sh): option $1 is not one the GPU check uses" >&2; exit 2 ;;
    *) break ;;
  esac
done
"$@"
rc=$?
echo "  $kernels (ncu stand-in, tests/gpu-rehearse.sh: nothing profiled) gpu__time_duration.sum 0"
exit $rc
EOF

# cuobjdump: checks that the file it is given exists; no SASS
cat >"$R/bin/cuobjdump" <<'EOF'
#!/usr/bin/env bash
[ -f "${!#}" ] || { echo "cuobjdump stand-in: ${!#}: no such file" >&2; exit 1; }
echo "// cuobjdump stand-in (tests/gpu-rehearse.sh): no SASS of ${!#}"
EOF

# dotnet: the packed runtime's host; `xdit bench` in the emulator's no-exec mode
cat >"$R/bin/dotnet" <<'EOF'
#!/usr/bin/env bash
if [[ ${1:-} == */xdit.dll && ${2:-} == bench ]]; then export XDIT_EMU_NO_EXEC=1; fi
exec "$DOTNET_ROOT/dotnet" "$@"
EOF
chmod +x "$R/bin/"*

echo "--- bash $script on the emulator (OUT=$R/out)"
start=$(date +%s)
# its step lines as they come (once: it prints summary.txt at its end, which repeats them); all of it to check.log
XDIT_REHEARSE=$R OUT=$R/out DEADLINE=${DEADLINE:-3600} XDIT_CUDA_LIBRARY_DIR=$emu XDIT_KERNEL_CACHE=$emu/kernel-cache \
  bash "$script" 2>&1 | tee "$R/check.log" | awk '/^--- / { done = 1 } !done && !seen[$0]++ { print; fflush() }'
rc=${PIPESTATUS[0]}
took=$(($(date +%s) - start))
summary=$R/out/summary.txt

echo "--- summary.txt"
cat "$summary" 2>/dev/null || echo "(none: $script wrote no summary.txt)"
echo "--- gpu-rehearse verdict ($script exit $rc, $took s)"
problems=()
[ "$rc" = 0 ] || problems+=("$script exited $rc (its output: $R/check.log)")
[ -s "$summary" ] || problems+=("no summary.txt")
compgen -G "$R/out/logs*.tgz" >/dev/null || problems+=("no logs*.tgz")
while IFS= read -r line; do problems+=("step $line"); done < <(grep -E '^[a-z0-9_.-]+: (exit [1-9][0-9]*,|skipped)' "$summary" 2>/dev/null)
while IFS= read -r line; do problems+=("$line"); done < <(grep -E '^verify-[^ ]+: (FAIL|no verdict)' "$summary" 2>/dev/null)
while IFS= read -r line; do problems+=("test $line"); done < <(grep -E '\[FAIL\]' "$summary" 2>/dev/null)
# with STEPS (a part of the check, as gpu-steps.sh says) the sections of the steps left out are empty
[ -n "${STEPS:-}" ] || {
# a section is a "--- " header and the lines up to the next one; the script greps a log per section
while IFS= read -r line; do problems+=("empty summary section: $line"); done < <(awk '
  /^--- / { if (h != "" && n == 0) print h; h = $0; n = 0; next }
  h != "" && NF { n++ }
  END { if (h != "" && n == 0) print h }' "$summary" 2>/dev/null)
[ "$(basename "$script")" != gpu-check.sh ] || grep -q "the two pictures are identical" "$summary" 2>/dev/null ||
  problems+=("circle.png and circle-graph.png differ or are missing")
}
echo "steps: $(grep -cE '^[a-z0-9_.-]+: exit ' "$summary" 2>/dev/null) run, their time $(grep -oE 'exit [0-9]+, [0-9]+ s' "$summary" 2>/dev/null | awk '{s += $3} END {print s + 0}') s"
if [ ${#problems[@]} -gt 0 ]; then
  printf 'PROBLEM: %s\n' "${problems[@]}"
  echo "gpu-rehearse: FAILED (kept: $R; the step logs are in $R/out/logs*.tgz, the script's output in $R/check.log)"
  exit 1
fi
echo "gpu-rehearse: every step passed and every summary section has lines"
if [ "${KEEP:-0}" = 1 ]; then echo "kept: $R"; else rm -rf "$R"; fi

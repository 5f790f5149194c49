#!/usr/bin/env bash
# A device probe of the tensor-core attention kernel (native/kernels/attention_tc.cuh), for a lent GPU machine,
# after or instead of tests/gpu-check.sh (which checks correctness): registers and spills, timings at PixArt's and
# Flux's shapes, again for each compile-time variant in VARIANTS (sets of NVRTC options separated by ';', e.g.
# VARIANTS='-DTC_MIN_BLOCKS=2;-DTC_LAZY_RESCALE'; the CUDA op tests run again under each), Nsight Compute's view
# of one launch of each shape, the time of each kernel of the first launches of one forward (PROFILE_MODEL, default
# sd3-medium, whose gap to diffusers is widest) and PixArt's forward; the SASS of the bf16 kernels goes to
# sass.tgz, to read without a device. Same packing and call as gpu-check.sh (carry [".gpu"]); summary.txt,
# logs-probe.tgz and sass.tgz go to $OUT.
# Rehearse here first: bash tests/gpu-rehearse.sh tests/gpu-attention-probe.sh (VARIANTS as for the real call).
set -uo pipefail
logs_archive=logs-probe.tgz
# shellcheck source=tests/gpu-steps.sh
source "$(dirname "$0")/gpu-steps.sh"
export PATH=$PATH:/usr/local/cuda/bin
shapes=(--attention-shape 4096x16x72 --attention-shape 4608x24x128)
: "${LIMIT:=120}"   # a step's default time limit here

IFS=';' read -ra variants <<<"${VARIANTS:-}"
step ptxas bash -c 'for d in 80 128; do echo "d$d"
  nvcc -arch=sm_90 -Xptxas -v --cubin -o /tmp/a.cubin native/kernels/attention_tc_d$d.cu 2>&1 | grep -E "registers|spill"; done'
step bench-default "${xdit[@]}" bench --device cuda --what attention "${shapes[@]}" --repeats 20 --json
for i in "${!variants[@]}"; do
  XDIT_NVRTC_OPTIONS="${variants[$i]}" step "bench-variant$i" "${xdit[@]}" bench --device cuda --what attention "${shapes[@]}" --repeats 20 --json
  XDIT_NVRTC_OPTIONS="${variants[$i]}" step "tests-variant$i" "${tests[@]}" -class XDit.Tests.Cuda.CudaOpsTests
done
step sass bash -c 'mkdir -p /tmp/sass && for d in 80 128; do nvcc -arch=sm_90 -lineinfo --cubin -o /tmp/sass/d$d.cubin native/kernels/attention_tc_d$d.cu &&
  cuobjdump -sass -fun flash_attention_tc_bf16_d$d /tmp/sass/d$d.cubin >/tmp/sass/attention_tc_bf16_d$d.sass || exit 1; done; wc -l /tmp/sass/*.sass'
tar czf "$out/sass.tgz" -C /tmp/sass . 2>/dev/null
LIMIT=${PROFILE_LIMIT:-90} step profile-forward ncu --clock-control none --metrics gpu__time_duration.sum --launch-count "${PROFILE_LAUNCHES:-600}" \
  --print-summary per-kernel "${xdit[@]}" bench --device cuda --what forward --forward-model "${PROFILE_MODEL:-sd3-medium}" --repeats 1
[ "${SECTIONS:-1}" = 1 ] && for s in 4096x16x72 4608x24x128; do
  step "ncu-$s" ncu --clock-control none --section SpeedOfLight --section Occupancy --section LaunchStats --section WarpStateStats \
    --section SchedulerStats --section ComputeWorkloadAnalysis --section MemoryWorkloadAnalysis --section InstructionStats \
    -k regex:flash_attention_tc --launch-count 1 "${xdit[@]}" bench --device cuda --what attention --attention-shape "$s" --repeats 1
done
step forward-pixart "${xdit[@]}" bench --device cuda --what forward --repeats 10

{
  echo "--- ptxas"; cat "$logs/ptxas.log"
  echo "--- bench (default, then the variants: ${VARIANTS:-none})"
  for f in "$logs"/bench-*.log; do echo "$(basename "$f" .log): $(grep -h tensor_cores "$f" | grep -oE '"head_dim":[0-9]+|"median_ms":[0-9.]+|"tflops":[0-9.]{5}' | paste -sd' ')"; done
  for s in 4096x16x72 4608x24x128; do echo "--- ncu $s"; sed -n '/flash_attention_tc/,$p' "$logs/ncu-$s.log" | grep -vE '^==PROF==|^\s*$|^ *-+( -+)*$' | cut -c1-220; done
  for f in "$logs"/tests-*.log; do [ -f "$f" ] || continue; echo "$(basename "$f" .log): $(grep -E "Total:" "$f")"; grep -E "\[FAIL\]" "$f" | head -5; done
  echo "--- forward kernels (${PROFILE_MODEL:-sd3-medium}, first ${PROFILE_LAUNCHES:-600} launches)"
  grep -vE "^==PROF==" "$logs/profile-forward.log" | grep -E "^  [a-zA-Z_]|gpu__time_duration" | cut -c1-160 | head -120
  echo "--- forward"; cat "$logs/forward-pixart.log"
} >>"$out/summary.txt" 2>/dev/null
cat "$out/summary.txt"

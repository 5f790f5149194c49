#!/usr/bin/env bash
# The whole device check of the CUDA backend in one call, for a lent GPU machine (../shared/gpu/README.md).
# Rehearse here first: bash tests/gpu-rehearse.sh (every step on the packed build with the CPU emulator as the CUDA
# libraries, about 2-3 minutes; it fails on a failed step or an empty summary section). Then, from the project root:
#   bash tests/gpu-pack.sh --check
# then the device tool's run, with carry [".gpu"], timeout_s about 540, and the command
#   bash tests/gpu-check.sh
# What travels must stay under the tool's 64 MiB: the tracked files and .gpu/, the test build (with the xdit CLI)
# and the .NET runtime, both xz-packed and trimmed (framework-dependent, no pdb/xml, no debugger, tracing or XML
# parts of the runtime, its assemblies IL-only; tests/gpu-pack.sh says which), and the fixtures are stored once (the
# pipelines' tokenizer files link to gzip-compressed copies in tests/fixtures/tokenizers). Measured on 2026-12-07 by
# `bash tests/gpu-pack.sh` (it prints these): tracked files 36.8 MiB, .gpu/ 11.1 MiB (runtime 8.4, build 2.7): 47.9
# MiB in all, 14.6 MiB under gpu-pack's limit of 62.5. The IL-only runtime costs each process about 0.1-0.3 s of JIT.
# Each step writes one log; summary.txt, logs.tgz (every log, packed again after each step) and the pictures go to
# $OUT (./gpu-out elsewhere). Steps, their time limits, DEADLINE and STEPS (a part, as a second call runs after a
# fix): tests/gpu-steps.sh. The script goes on after a failure, so one run shows everything. The order puts what
# decides correctness first: kernel build, the CUDA tests, the fixtures in bf16, a picture, then the timings.
set -uo pipefail
# shellcheck source=tests/gpu-steps.sh
source "$(dirname "$0")/gpu-steps.sh"

nvidia-smi >"$logs/nvidia-smi.log" 2>&1
# the roofline of the card at hand (the ledger's --gpu)
GPU_KIND=h100; grep -q "H200" "$logs/nvidia-smi.log" && GPU_KIND=h200; export GPU_KIND
step info "${xdit[@]}" info
# registers and spills of the tensor-core attention kernels at PixArt's and Flux's head dims, and of the q/k
# projections with the norm in their epilogue (nvcc is there; NVRTC compiles the same source; NVRTC 12.4 for sm_90
# gave the latter 146 registers at d128, 106 at d64 with the RMSNorm, 151 and 105 with the LayerNorm, no spills)
PATH=$PATH:/usr/local/cuda/bin LIMIT=120 step ptxas-attention_tc bash -c 'for d in 80 128; do
  nvcc -arch=sm_90 -Xptxas -v --cubin -o /tmp/attention_tc_d$d.cubin native/kernels/attention_tc_d$d.cu || exit 1; done &&
  nvcc -arch=sm_90 -Xptxas -v --cubin -o /tmp/linear_norm_rope.cubin native/kernels/linear_norm_rope.cu'
# the first use of each module compiles it with NVRTC, and one test compiles every module again into a fresh
# cache: allow for both
LIMIT=${CUDA_TESTS_LIMIT:-300} step cuda-tests "${tests[@]}" -class XDit.Tests.Cuda.CudaRuntimeTests -class XDit.Tests.Cuda.CudaOpsTests \
  -class XDit.Tests.Comm.NcclCommunicatorTests -class XDit.Tests.Cuda.CudaModelWeightsTests -class XDit.Tests.Cuda.CudaGraphExecutorTests \
  -class XDit.Tests.Bench.LedgerLaunchTests -class XDit.Tests.Cuda.CudaLinearNormRopeTests -class XDit.Tests.Cuda.CudaFusedOpsTests
# cuDNN's fused attention (backend graph API, issue 17 item 4), until now checked only against the emulator's
# stand-in: first its speed beside our tensor-core kernel at Flux's and PixArt's shapes (bench prints a "cudnn" row,
# or our kernel's with cuDNN's refusal as "fallback"), then the forced-cuDNN tests (outputs and LSE against our
# kernel and the CPU, head dims 64/72/128, Ring over cuDNN's LSE). Plans are built on first use (heuristics and
# finalize, a second or so each), hence its own limit.
LIMIT=${CUDNN_ATTENTION_LIMIT:-60} step cudnn-attention bash -c "${xdit[*]} bench --device cuda --what attention \
  --attention-shape 4608x24x128 --attention-shape 4096x16x72 --repeats 10 && ${tests[*]} -class XDit.Tests.Cuda.CudnnAttentionTests"
# every golden case (a folder with a meta.json; the others hold tokenizer files, options or pipeline references),
# each in the dtype and bound that EmulatedCudaPipelineTests holds it to (the reasons are there): the whole
# pipelines (pipe_*) against diffusers in float32; flux and flux_kontext in f16 (they round the timestep to bf16 as
# diffusers does, so in bf16 they miss the float32 golden output by design); sana and dcae in bf16 within 3e-2 and
# 5e-2 (bf16 rounding flips the sign of one query of their random weights); qwenimage in f32 and wan_vae in bf16
# within 0.25 (EmulatedCudaPipelineTests says why); the others in bf16
for m in tests/fixtures/*/meta.json; do
  f=$(dirname "$m")
  case $(basename "$f") in
    pipe_*) dt=(--dtype f32) ;;
    flux | flux_kontext) dt=(--dtype f16) ;;
    flux2) dt=(--dtype f16) ;;   # t 0.73 rounds to 0.732 in bf16 as diffusers rounds it (Flux2CudaTests: bf16 at t 0.5)
    qwenimage) dt=(--dtype f32) ;;   # t 0.87 rounds in bf16 and f16 as diffusers rounds it (qwenimage_shapes: bf16)
    wan_vae) dt=(--dtype bf16 --tolerance 0.25) ;;   # base_dim 3: an RMS norm over one channel flips sign on rounding
    sana) dt=(--dtype bf16 --tolerance 3e-2) ;;
    dcae) dt=(--dtype bf16 --tolerance 5e-2) ;;
    flux2_text) dt=(--dtype bf16 --tolerance 3e-2) ;;   # transformers in bf16 is itself 2.3e-2 off its float32 output
    *) dt=(--dtype bf16) ;;
  esac
  step "verify-$(basename "$f")" "${xdit[@]}" verify "$f" --device cuda "${dt[@]}"
done
step generate "${xdit[@]}" generate --device cuda -p "a red circle on a blue background" -o "$out/circle.png"
# the same with the blocks replayed from a CUDA graph: the picture must be the same file
step generate-graph "${xdit[@]}" generate --device cuda --use-cuda-graph -p "a red circle on a blue background" -o "$out/circle-graph.png"
# attention: PixArt's and Flux's shapes on the tensor cores, the VAE's one 512-wide head at 1024 px by GEMMs, each
# beside the general kernel, and each again with DiTFastAttn's default band window of 64
step bench "${xdit[@]}" bench --device cuda --what gemm --gemm-size 8192 --what attention \
  --attention-shape 4096x16x72 --attention-shape 4608x24x128 --attention-shape 16384x1x512 --attention-window 64 --repeats 10
# q and k of one stream normed and rotated in their projection's epilogue (linear_norm_rope.cu, mma.sync) beside
# cuBLASLt's GEMM + the rms_norm_rope pass and the GEMM alone, at FLUX.1-dev's image and text streams (4096 and 512
# tokens, 24 heads × 128; 114 such projections a forward: 9.9 TFLOP, 6.7 GB of passes saved): the faster of the
# first two should be CudaOps.FuseNormRopeEpilogue's default (XDIT_FUSED_QK_NORM=0 turns the kernel off)
step qk-projection "${xdit[@]}" bench --device cuda --what qk-projection --attention-shape 4096x24x128 --attention-shape 512x24x128 --repeats 20
# one transformer forward at 1024 px with random bf16 weights, as diffusers was timed on the H100
# (../shared/gpu/README.md, eager / compiled): PixArt-XL-2, 2 rows, 120 text tokens (60.2 / 33.9 ms); SD3-medium,
# 2 rows, 333 tokens (56.4 / 43.3 ms); FLUX.1-dev, 1 row, 512 tokens (185.7 / 135.9 ms; 12 B parameters to make)
LIMIT=240 step forward bash -c "${xdit[*]} bench --device cuda --what forward --repeats 10 &&
  ${xdit[*]} bench --device cuda --what forward --forward-model sd3-medium --repeats 10 &&
  ${xdit[*]} bench --device cuda --what forward --forward-model flux-dev --repeats 10"
# the launch ledger of the same three forwards, each op timed with CUDA events beside its roofline on this card
# (bytes, FLOPs and launches as `xdit bench --what forward --ledger` counts them without a GPU)
LIMIT=200 step forward-ledger bash -c "${xdit[*]} bench --device cuda --what forward --ledger --gpu $GPU_KIND &&
  ${xdit[*]} bench --device cuda --what forward --ledger --gpu $GPU_KIND --forward-model sd3-medium &&
  ${xdit[*]} bench --device cuda --what forward --ledger --gpu $GPU_KIND --forward-model flux-dev"
# out-of-bounds accesses of the attention kernels, if the run has time left (it must end well within timeout_s);
# XDIT_CUDA_ARENA_EXACT=1: each tensor its own allocation of its own size, so a read past its end leaves the allocation
LIMIT=400 XDIT_CUDA_ARENA_EXACT=1 step memcheck-attention compute-sanitizer --tool memcheck --print-limit 20 --error-exitcode 1 "${tests[@]}" \
  -method XDit.Tests.Cuda.CudaOpsTests.AttentionMatchesCpu -method XDit.Tests.Cuda.CudaOpsTests.AttentionWithBiasesCausalAndLseMatchesCpu

{
  echo "--- nvidia-smi"; head -12 "$logs/nvidia-smi.log"
  echo "--- cuda tests"; grep -E "\[FAIL\]|Total:" "$logs/cuda-tests.log"; grep -A10 "\[FAIL\]" "$logs/cuda-tests.log" | head -60
  echo "--- cudnn attention (bench: cudnn vs tensor_cores rows; then the forced-cuDNN tests)"
  grep -E "attention|fallback|\[FAIL\]|Total:" "$logs/cudnn-attention.log" | head -30
  echo "--- verify"
  for f in "$logs"/verify-*.log; do echo "$(basename "$f" .log): $(grep -E '^(PASS|FAIL)$' "$f" || echo 'no verdict')"; done
  echo "--- generate"; tail -8 "$logs/generate.log"
  echo "--- generate --use-cuda-graph"; tail -3 "$logs/generate-graph.log"
  cmp "$out/circle.png" "$out/circle-graph.png" && echo "the two pictures are identical"
  echo "--- ptxas"; grep -E "registers|spill" "$logs/ptxas-attention_tc.log" | sort | uniq -c | head -20
  echo "--- bench"; cat "$logs/bench.log" "$logs/forward.log"
  echo "--- ledger (roofline and measured per op kind)"; cat "$logs/forward-ledger.log"
  echo "--- q/k projection: fused kernel vs cuBLASLt + pass vs cuBLASLt alone"; cat "$logs/qk-projection.log"
  echo "--- memcheck"; grep -E "ERROR SUMMARY|Invalid|\[FAIL\]|Total:" "$logs/memcheck-attention.log" | head -20
} >>"$out/summary.txt" 2>/dev/null
cat "$out/summary.txt"

// Kernels that exist only to show what the emulator checks (tests/XDit.Tests/Cuda/Emulation/KernelEmulatorTests.cs).
// Not CUDA sources: NVRTC never sees them.
#include "cuda_emu.h"
#include "common.cuh"
#include "cp_async.cuh"
#include "mma.cuh"

// out[warp] = the sum of in over the warp's 32 threads, by butterfly shuffles.
extern "C" __global__ void emu_selftest_warp_sum(const float* in, float* out)
{
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    float v = in[i];
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    if ((threadIdx.x & 31) == 0) out[i / 32] = v;
}

// Lanes 16..31 exit before a full-warp shuffle: undefined on a GPU, refused here.
extern "C" __global__ void emu_selftest_exited_lanes(float* out)
{
    if ((threadIdx.x & 31) >= 16) return;
    out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1.f, 1);
}

// Half of each warp waits at __syncthreads while the other half shuffles: neither can ever complete.
extern "C" __global__ void emu_selftest_split_warp(float* out)
{
    if ((threadIdx.x & 31) < 16) __syncthreads();
    else out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1.f, 1);
}

// Reads dynamic shared memory that nothing wrote.
extern "C" __global__ void emu_selftest_unwritten_smem(float* out)
{
    XDIT_DYNAMIC_SMEM(float, s);
    out[threadIdx.x] = s[threadIdx.x];
}

// ldmatrix with row addresses 2 bytes off 16-byte alignment (a misaligned-address fault on a GPU).
extern "C" __global__ void emu_selftest_ldmatrix_misaligned(float* out)
{
    XDIT_DYNAMIC_SMEM(u16, s);
    unsigned r[4];
    ldmatrix_x4<false>(r, smem_address(s + 8 * (threadIdx.x & 7) + 1));
    out[threadIdx.x] = (float)r[0];
}

// cp.async into global memory instead of shared memory.
extern "C" __global__ void emu_selftest_cp_async_to_global(float* out)
{
    cp_async16(smem_address(out + 4 * threadIdx.x), out, 16);
    cp_async_commit();
    cp_async_wait_prior<0>();
}

// 32 threads copy in[0, 256) to shared memory by cp.async in two groups (in[0, 128), then in[128, 256)), then
// read it back twice: out[0, 256) after waiting for all but the newest group, out[256, 512) after waiting for all.
extern "C" __global__ void emu_selftest_cp_async_groups(const float* in, float* out)
{
    XDIT_DYNAMIC_SMEM(float, s);
    const int t = threadIdx.x;
    cp_async16(smem_address(s + 4 * t), in + 4 * t, 16);
    cp_async_commit();
    cp_async16(smem_address(s + 128 + 4 * t), in + 128 + 4 * t, 16);
    cp_async_commit();
    cp_async_wait_prior<1>();
    __syncthreads();
    for (int i = t; i < 256; i += 32) out[i] = s[i];
    __syncthreads();
    cp_async_wait_prior<0>();
    __syncthreads();
    for (int i = t; i < 256; i += 32) out[256 + i] = s[i];
}

// Each thread writes its index to shared memory and reads another warp's slot with no barrier between: a race.
extern "C" __global__ void emu_selftest_missing_barrier(float* out)
{
    XDIT_DYNAMIC_SMEM(float, s);
    s[threadIdx.x] = (float)threadIdx.x;
    out[blockIdx.x * blockDim.x + threadIdx.x] = s[(threadIdx.x + 32) % blockDim.x];
}

// Each lane writes its index to shared memory and reads its neighbour's (lane ^ 1) with nothing between: a race
// inside the warp.
extern "C" __global__ void emu_selftest_warp_race(float* out)
{
    XDIT_DYNAMIC_SMEM(float, s);
    s[threadIdx.x] = (float)threadIdx.x;
    out[threadIdx.x] = s[threadIdx.x ^ 1];
}

// Each thread reads buf[193 + t]: with 64 threads over a 256-float buffer, thread 63 reads one float past its end.
extern "C" __global__ void emu_selftest_read_past_end(float* buf)
{
    float v = buf[193 + threadIdx.x];
    if (v == 12345.f) buf[0] = v;   // uses the value, so the read stays
}

// Each thread writes buf[193 + t]: thread 63 writes one float past the end of a 256-float buffer.
extern "C" __global__ void emu_selftest_write_past_end(float* buf) { buf[193 + threadIdx.x] = 1.f; }

XDIT_EMU_KERNEL(emu_selftest_read_past_end)
XDIT_EMU_KERNEL(emu_selftest_write_past_end)
XDIT_EMU_KERNEL(emu_selftest_cp_async_groups)
XDIT_EMU_KERNEL(emu_selftest_warp_race)
XDIT_EMU_KERNEL(emu_selftest_missing_barrier)
XDIT_EMU_KERNEL(emu_selftest_ldmatrix_misaligned)
XDIT_EMU_KERNEL(emu_selftest_cp_async_to_global)
XDIT_EMU_KERNEL(emu_selftest_warp_sum)
XDIT_EMU_KERNEL(emu_selftest_exited_lanes)
XDIT_EMU_KERNEL(emu_selftest_split_warp)
XDIT_EMU_KERNEL(emu_selftest_unwritten_smem)

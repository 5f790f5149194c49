// Asynchronous 16-byte copies from global to shared memory (sm_80 and later), with zero fill.
//
// cp_async16(dst, src, bytes) starts copying `bytes` (0 or 16) from global src to shared dst (a smem_addr,
// common.cuh) and fills the rest of the 16 bytes with zeros, so rows past the end of a tensor cost nothing but a zero
// store; both addresses 16-byte aligned. cp_async_commit() closes a group of copies, cp_async_wait_prior<N>() waits until at most the N newest
// groups are in flight; a __syncthreads after it makes the copies visible to the block. Under XDIT_HOST_EMU
// (native/emu) a copy lands only at its wait, its destination reads as NaN until then, and misaligned or
// non-shared addresses fail the launch.
#pragma once
#include "common.cuh"

__device__ __forceinline__ void cp_async16(smem_addr dst, const void* src, int bytes)
{
#ifdef XDIT_HOST_EMU
    xdit_emu::cp_async16(dst, src, bytes);
#else
    // a generic address of global memory is its global address
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" :: "r"(dst), "l"(src), "r"(bytes) : "memory");
#endif
}

// Closes the group of copies this thread started since the last commit (an empty group is fine).
__device__ __forceinline__ void cp_async_commit()
{
#ifdef XDIT_HOST_EMU
    xdit_emu::cp_async_commit();
#else
    asm volatile("cp.async.commit_group;" ::: "memory");
#endif
}

// Waits until at most N of this thread's committed groups are still in flight (N = 0: all of them).
template <int N>
__device__ __forceinline__ void cp_async_wait_prior()
{
#ifdef XDIT_HOST_EMU
    xdit_emu::cp_async_wait(N);
#else
    asm volatile("cp.async.wait_group %0;" :: "n"(N) : "memory");
#endif
}

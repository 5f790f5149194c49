// Host emulation of the CUDA device environment, so that native/kernels/*.cu compile with g++ and run on the CPU.
// It exists for the tests (tests/XDit.Tests/Cuda/Emulation): every kernel can be run against its CPU twin on a
// machine with no GPU, with the very source NVRTC compiles. The fake_*.cpp files beside it stand in for the CUDA
// libraries on top of it.
//
// What is emulated: the index variables, __syncthreads, full-warp shuffles, mma.sync m16n8k16 and ldmatrix
// (mma.cuh), cp.async (cp_async.cuh: a copy lands when its thread waits for it, and its destination reads as NaN
// until then), float <-> half conversion, dynamic shared memory (filled with 0xFF bytes, a NaN in every float type,
// so a read of unwritten shared memory shows up). __shared__ variables become function statics, which is right
// because blocks run one at a time. Each block's threads run as fibers on the launching thread; a barrier or warp
// collective is a point where a fiber yields until all the live threads of its block (or lanes of its warp) have
// arrived, and one that cannot complete (a lane has exited, or lanes wait at different places) fails the launch
// with a message instead of hanging. Between two barriers one warp runs to the next barrier before the next warp
// starts, in ascending warp order in even blocks and descending in odd ones, so a missing barrier between warps
// that share memory gives wrong (often NaN) results; between collectives a warp's lanes run one after another,
// ascending or descending from warp to warp, which shows some races inside a warp too. Not emulated: memory spaces
// beyond the checks of ldmatrix and cp.async, timing, atomics, __syncwarp. Device memory has guard pages around each
// allocation (guarded_memory.cpp), so a global read or write past a buffer's end fails the launch.
#pragma once
#define XDIT_HOST_EMU 1

#include <math.h>

#include <cmath>
#include <cstddef>
#include <cstring>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static
#define __restrict__ __restrict

struct uint3
{
    unsigned x, y, z;
};

extern uint3 threadIdx, blockIdx, blockDim, gridDim;

void __syncthreads();

float __shfl_sync(unsigned mask, float v, int srcLane, int width = 32);
int __shfl_sync(unsigned mask, int v, int srcLane, int width = 32);
unsigned __shfl_sync(unsigned mask, unsigned v, int srcLane, int width = 32);
float __shfl_xor_sync(unsigned mask, float v, int laneMask, int width = 32);
int __shfl_xor_sync(unsigned mask, int v, int laneMask, int width = 32);
unsigned __shfl_xor_sync(unsigned mask, unsigned v, int laneMask, int width = 32);
int __any_sync(unsigned mask, int predicate);

inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, 4); return f; }
inline float __uint_as_float(unsigned u) { float f; std::memcpy(&f, &u, 4); return f; }
inline int __float_as_int(float f) { int i; std::memcpy(&i, &f, 4); return i; }
inline unsigned __float_as_uint(float f) { unsigned u; std::memcpy(&u, &f, 4); return u; }
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float rsqrtf(float x) { return 1.f / std::sqrt(x); }

inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }

namespace xdit_emu
{
    float f16_to_f32(unsigned short h);
    unsigned short f32_to_f16(float f);   // round to nearest even
    void* dynamic_smem();

    // D = A·B + D over the warp, with mma.cuh's fragment ownership.
    void mma_m16n8k16(float (&d)[4], const unsigned (&a)[4], const unsigned (&b)[2], bool bf16);

    // ldmatrix.x4 (mma.cuh) over the warp; a row address that is not 16-byte aligned or not inside the block's
    // dynamic shared memory fails the launch.
    void ldmatrix_x4(unsigned (&r)[4], const void* row, bool trans);

    // cp.async of 16 bytes with zero fill (cp_async.cuh); dst must lie in the dynamic shared memory and both
    // addresses be 16-byte aligned, or the launch fails. The copy is asynchronous as on a GPU, at its latest: dst
    // reads as NaN from the issue until the issuing thread waits for the copy's group (cp_async_wait), when src is
    // read and dst written.
    void cp_async16(void* dst, const void* src, int bytes);
    // cp.async.commit_group: the calling thread's copies since its last commit become one group.
    void cp_async_commit();
    // cp.async.wait_group n: the calling thread's committed groups, but the n newest, land.
    void cp_async_wait(int n);

    using Thunk = void (*)(void** args);

    // A registered kernel: how to call it, and the size of each parameter (what a graph capture copies).
    struct Kernel
    {
        Thunk thunk;
        std::vector<std::size_t> paramSizes;
    };

    struct Registrar
    {
        Registrar(const char* name, Thunk thunk, std::vector<std::size_t> paramSizes);
    };

    // The kernel registered under name, or null.
    const Kernel* find_kernel(const char* name);

    // Sets the message xdit_emu_error() returns on this thread (a launch the stand-in driver refused, say).
    void set_error(const std::string& message);

    // Runs kernel k over the grid; false with the reason in error when the launch cannot complete. illegalAddress
    // (where given) says whether it failed because a thread touched a guard page (CUDA_ERROR_ILLEGAL_ADDRESS).
    bool launch(const Kernel& k, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz, unsigned sharedBytes,
                void** args, std::string& error, bool* illegalAddress = nullptr);

    // Device memory (guarded_memory.cpp): bytes at the end of a mapping of their own, 16-byte aligned, between two
    // inaccessible guard pages, filled with 0xFF (a NaN in every float type). A kernel thread that touches a guard page fails its launch with a message naming the
    // allocation and the offset. guarded_free is false for a pointer guarded_alloc did not return.
    void* guarded_alloc(std::size_t bytes);
    bool guarded_free(void* p);

    // Called on a guard-page fault with what was touched: when the faulting thread is running an emulated kernel,
    // fails that launch (and does not return); otherwise returns.
    void fail_launch_on_fault(const std::string& what);

    // Whether the calling thread is in no-exec mode (no_exec.cpp): work is checked and queued, never run, and fresh
    // allocations are left unfilled (uncommitted).
    bool no_exec();

    template <class... A>
    std::vector<std::size_t> param_sizes(void (*)(A...)) { return { sizeof(A)... }; }

    // Calls kernel f with its parameters read from args, as cuLaunchKernel's kernelParams hands them over.
    template <class... A, std::size_t... I>
    void invoke(void (*f)(A...), void** args, std::index_sequence<I...>)
    {
        f(*static_cast<std::remove_cv_t<std::remove_reference_t<A>>*>(args[I])...);
    }

    template <class... A>
    void invoke(void (*f)(A...), void** args) { invoke(f, args, std::index_sequence_for<A...>{}); }
}

// Makes kernel K launchable by name through xdit_emu_launch.
#define XDIT_EMU_KERNEL(K) \
    static xdit_emu::Registrar xdit_emu_registrar_##K(#K, [](void** args) { xdit_emu::invoke(&K, args); }, xdit_emu::param_sizes(&K));

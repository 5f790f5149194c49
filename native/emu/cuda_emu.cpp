// The emulator's scheduler, collectives and C entry points (see cuda_emu.h).
#include "cuda_emu.h"
#include "common.cuh"

#include <setjmp.h>
#include <ucontext.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

uint3 threadIdx, blockIdx, blockDim, gridDim;

namespace xdit_emu
{
    namespace
    {
        enum class State { Runnable, AtBarrier, AtCollective, Done };

        // A warp collective: each lane deposits its input, and once all 32 have, combine() computes every output.
        struct Slot
        {
            unsigned char in[48];
            unsigned char out[16];
        };
        using Combine = void (*)(const Slot* in, Slot* out);

        // A cp.async in flight: it lands (src read, the rest zero-filled) when its thread waits for its group.
        struct AsyncCopy
        {
            unsigned char* dst;
            const unsigned char* src;
            int bytes;
        };

        // A thread of the block. makecontext gives it its own stack and first entry; after that, switches go through
        // _setjmp/_longjmp, which (unlike swapcontext) do not save the signal mask: no system call per switch, and a
        // warp collective switches 32 times.
        struct Fiber
        {
            ucontext_t ctx;
            jmp_buf resume;
            bool started = false;
            State state = State::Runnable;
            Combine op = nullptr;
            const char* opName = nullptr;
            std::vector<AsyncCopy> open;                   // issued since the last commit
            std::deque<std::vector<AsyncCopy>> committed;  // oldest first
        };

        constexpr std::size_t StackBytes = 256 * 1024;

        std::map<std::string, Kernel>& registry()
        {
            static std::map<std::string, Kernel> r;
            return r;
        }

        std::mutex launchLock;   // one launch at a time: __shared__ statics and the state below are process-wide
        ucontext_t schedulerContext;
        jmp_buf scheduler;
        std::vector<Fiber> fibers;
        std::vector<std::unique_ptr<char[]>> stacks;
        std::vector<Slot> slots;
        std::vector<unsigned char> smem;
        int current = -1;
        bool faulted = false;                  // the launch failed on a guard page
        thread_local bool inKernel = false;    // this thread is running a fiber of a launch (step below)
        Thunk thunk = nullptr;
        void** kernelArgs = nullptr;
        std::string error;

        // A fiber runs the kernel once per block: after each run it parks, and the next block resumes it here with a
        // fresh stack frame. So each thread is entered through swapcontext (a system call) once per launch, not once
        // per block.
        void fiberMain()
        {
            for (;;)
            {
                thunk(kernelArgs);
                fibers[current].state = State::Done;
                if (_setjmp(fibers[current].resume) == 0) _longjmp(scheduler, 1);
            }
        }

        void yield(State s)
        {
            fibers[current].state = s;
            if (_setjmp(fibers[current].resume) == 0) _longjmp(scheduler, 1);
        }

        void collective(Combine op, const char* name, unsigned mask, const void* in, std::size_t inBytes, void* out, std::size_t outBytes)
        {
            if (mask != 0xffffffffu)
            {
                if (error.empty()) error = std::string(name) + " with a partial mask: the emulator supports full warps only";
                yield(State::AtCollective);   // never resumed: the launch fails
            }
            std::memcpy(slots[current].in, in, inBytes);
            fibers[current].op = op;
            fibers[current].opName = name;
            yield(State::AtCollective);
            std::memcpy(out, slots[current].out, outBytes);
        }

        std::string where(int t)
        {
            return "thread " + std::to_string(t) + " of block (" + std::to_string(blockIdx.x) + ", " + std::to_string(blockIdx.y) +
                   ", " + std::to_string(blockIdx.z) + ")";
        }

        // Runs fiber i until it yields; false when it set the launch's error.
        bool step(int i)
        {
            current = i;
            threadIdx = { (unsigned)i % blockDim.x, (unsigned)i / blockDim.x % blockDim.y, (unsigned)i / (blockDim.x * blockDim.y) };
            if (_setjmp(scheduler) == 0)
            {
                inKernel = true;
                if (fibers[i].started) _longjmp(fibers[i].resume, 1);
                fibers[i].started = true;
                swapcontext(&schedulerContext, &fibers[i].ctx);   // first entry; it comes back by _longjmp
            }
            inKernel = false;
            return error.empty();
        }

        // Completes the collective warp w's live lanes all wait at: 1 when it did, 0 when they do not all wait at
        // one, -1 (with error set) when it cannot complete.
        int releaseWarp(int w, int n)
        {
            int lo = w * 32, hi = std::min(n, lo + 32), waiting = 0, alive = 0;
            for (int i = lo; i < hi; ++i)
            {
                if (fibers[i].state != State::Done) ++alive;
                if (fibers[i].state == State::AtCollective) ++waiting;
            }
            if (waiting == 0 || waiting != alive) return 0;
            if (alive != 32)
            {
                error = std::string(fibers[lo].opName ? fibers[lo].opName : "warp collective") + " in warp " + std::to_string(w) + " with " +
                        std::to_string(alive) + " live lanes of 32 (" + where(lo) + ")";
                return -1;
            }
            for (int i = lo; i < hi; ++i)
                if (fibers[i].op != fibers[lo].op)
                {
                    error = "the lanes of warp " + std::to_string(w) + " wait at different collectives (" + fibers[lo].opName + " and " +
                            fibers[i].opName + ", " + where(i) + ")";
                    return -1;
                }
            fibers[lo].op(&slots[lo], &slots[lo]);
            if (!error.empty()) return -1;   // the collective itself refused (ldmatrix's addresses)
            for (int i = lo; i < hi; ++i) fibers[i].state = State::Runnable;
            return 1;
        }

        // Runs the current block to completion; false (with error set) when it cannot complete. Between two
        // barriers each warp runs as far as it can before the next one starts, in ascending warp order in even
        // blocks and descending in odd ones: so a warp that writes shared memory another warp has yet to read (or
        // reads what another has yet to write) without a barrier between them gets wrong data in one of the two
        // orders, as it could on a GPU. Lanes alternate between ascending and descending order from warp to warp.
        bool runBlock(int n, bool descending)
        {
            for (int i = 0; i < n; ++i)
            {
                fibers[i].state = State::Runnable;
                fibers[i].op = nullptr;
                fibers[i].open.clear();       // copies a thread never waited for end with its block
                fibers[i].committed.clear();
            }
            std::memset(smem.data(), 0xFF, smem.size());
            const int warps = (n + 31) / 32;
            for (;;)
            {
                for (int k = 0; k < warps; ++k)
                {
                    const int w = descending ? warps - 1 - k : k, lo = w * 32, hi = std::min(n, lo + 32);
                    // lanes run one after another too, in the warp's order: a lane reading what another lane of
                    // its warp writes, with no collective between, sees it only in one of the two orders
                    const bool lanesDown = (w % 2 == 1) != descending;
                    for (int released = 1; released == 1;)
                    {
                        for (int j = lo; j < hi; ++j)
                        {
                            const int i = lanesDown ? lo + hi - 1 - j : j;
                            if (fibers[i].state == State::Runnable && !step(i)) return false;
                        }
                        released = releaseWarp(w, n);
                        if (released < 0) return false;
                    }
                }
                int live = 0, atBarrier = 0, atCollective = 0;
                for (int i = 0; i < n; ++i)
                {
                    if (fibers[i].state != State::Done) ++live;
                    if (fibers[i].state == State::AtBarrier) ++atBarrier;
                    if (fibers[i].state == State::AtCollective) ++atCollective;
                }
                if (live == 0) return true;
                if (atBarrier != live)
                {
                    error = "deadlock: " + std::to_string(atBarrier) + " threads wait at __syncthreads and " + std::to_string(atCollective) +
                            " at warp collectives that cannot complete (" + where(0) + ")";
                    return false;
                }
                for (int i = 0; i < n; ++i)
                    if (fibers[i].state == State::AtBarrier) fibers[i].state = State::Runnable;
            }
        }

        // shuffle inputs: the value (4 bytes) then the source lane or xor mask
        template <bool Xor>
        void shuffle(const Slot* in, Slot* out)
        {
            unsigned vals[32];
            for (int l = 0; l < 32; ++l) std::memcpy(&vals[l], in[l].in, 4);
            for (int l = 0; l < 32; ++l)
            {
                int arg;
                std::memcpy(&arg, in[l].in + 4, 4);
                int src = Xor ? (l ^ arg) : arg;
                src &= 31;
                std::memcpy(out[l].out, &vals[src], 4);
            }
        }

        template <class T, bool Xor>
        T shfl(unsigned mask, T v, int arg, int width, const char* name)
        {
            if (width != 32)
            {
                if (error.empty()) error = std::string(name) + " with width " + std::to_string(width) + ": the emulator supports width 32 only";
                yield(State::AtCollective);
            }
            unsigned char in[8];
            std::memcpy(in, &v, 4);
            std::memcpy(in + 4, &arg, 4);
            T r;
            collective(&shuffle<Xor>, name, mask, in, sizeof in, &r, sizeof r);
            return r;
        }

        // mma inputs: a[4], b[2] (16-bit pairs) then the flag bf16; the accumulators travel through in[24..40)
        void mma(const Slot* in, Slot* out)
        {
            bool isBf16 = in[0].in[24 + 16] != 0;
            auto val = [&](unsigned reg, int half) {
                unsigned short h = (unsigned short)(reg >> (16 * half));
                return isBf16 ? bf16_to_f(h) : f16_to_f32(h);
            };
            float A[16][16], B[16][8];
            for (int l = 0; l < 32; ++l)
            {
                unsigned a[4], b[2];
                std::memcpy(a, in[l].in, 16);
                std::memcpy(b, in[l].in + 16, 8);
                int g = l >> 2, t = l & 3;
                for (int r = 0; r < 4; ++r)
                    for (int e = 0; e < 2; ++e) A[g + 8 * (r & 1)][2 * t + 8 * (r >> 1) + e] = val(a[r], e);
                for (int r = 0; r < 2; ++r)
                    for (int e = 0; e < 2; ++e) B[2 * t + 8 * r + e][g] = val(b[r], e);
            }
            float C[16][8];
            for (int l = 0; l < 32; ++l)
            {
                float c[4];
                std::memcpy(c, in[l].in + 24, 16);
                int g = l >> 2, t = l & 3;
                for (int i = 0; i < 4; ++i) C[g + 8 * (i >> 1)][2 * t + (i & 1)] = c[i];
            }
            for (int l = 0; l < 32; ++l)
            {
                int g = l >> 2, t = l & 3;
                float d[4];
                for (int i = 0; i < 4; ++i)
                {
                    int row = g + 8 * (i >> 1), col = 2 * t + (i & 1);
                    float acc = C[row][col];
                    for (int k = 0; k < 16; ++k) acc += A[row][k] * B[k][col];
                    d[i] = acc;
                }
                std::memcpy(out[l].out, d, 16);
            }
        }

        // What is wrong with p as the address of 16 bytes of dynamic shared memory, or null.
        const char* sharedProblem(const void* p)
        {
            auto* b = static_cast<const unsigned char*>(p);
            if (((std::uintptr_t)b & 15) != 0) return "not 16-byte aligned";
            if (b < smem.data() || b + 16 > smem.data() + smem.size()) return "outside the dynamic shared memory";
            return nullptr;
        }

        // ldmatrix inputs: the row address (8 bytes) then the flag trans
        void ldmatrix(const Slot* in, Slot* out)
        {
            bool trans = in[0].in[8] != 0;
            unsigned short m[4][8][8];
            for (int l = 0; l < 32; ++l)
            {
                const unsigned char* p;
                std::memcpy(&p, in[l].in, sizeof p);
                if (const char* problem = sharedProblem(p))
                {
                    if (error.empty()) error = "ldmatrix: lane " + std::to_string(l) + "'s row address is " + problem;
                    return;
                }
                std::memcpy(m[l / 8][l % 8], p, 16);
            }
            for (int l = 0; l < 32; ++l)
            {
                unsigned r[4];
                for (int i = 0; i < 4; ++i)
                {
                    int a = l / 4, b = 2 * (l % 4);
                    unsigned short e0 = trans ? m[i][b][a] : m[i][a][b], e1 = trans ? m[i][b + 1][a] : m[i][a][b + 1];
                    r[i] = (unsigned)e0 | ((unsigned)e1 << 16);
                }
                std::memcpy(out[l].out, r, 16);
            }
        }
    }

    void cp_async16(void* dst, const void* src, int bytes)
    {
        std::string problem;
        if (const char* p = sharedProblem(dst)) problem = std::string("the destination is ") + p;
        else if (((std::uintptr_t)src & 15) != 0) problem = "the source is not 16-byte aligned";
        else if (bytes != 0 && bytes != 16) problem = "copies 0 or 16 bytes only here";
        if (!problem.empty())
        {
            if (error.empty()) error = "cp.async: " + problem + " (" + where(current) + ")";
            yield(State::AtCollective);   // never resumed: the launch fails
        }
        // Until it lands the destination holds NaN: what a GPU leaves there is undefined, so both a read before the
        // wait and a copy into a buffer other warps still read show up in the results.
        std::memset(dst, 0xFF, 16);
        fibers[current].open.push_back({ static_cast<unsigned char*>(dst), static_cast<const unsigned char*>(src), bytes });
    }

    void cp_async_commit()
    {
        Fiber& f = fibers[current];
        f.committed.push_back(std::move(f.open));
        f.open.clear();
    }

    void cp_async_wait(int n)
    {
        Fiber& f = fibers[current];
        while ((int)f.committed.size() > n)
        {
            for (const AsyncCopy& c : f.committed.front())
            {
                std::memset(c.dst, 0, 16);
                std::memcpy(c.dst, c.src, (std::size_t)c.bytes);
            }
            f.committed.pop_front();
        }
    }

    void ldmatrix_x4(unsigned (&r)[4], const void* row, bool trans)
    {
        unsigned char in[9];
        std::memcpy(in, &row, 8);
        in[8] = trans ? 1 : 0;
        collective(&ldmatrix, trans ? "ldmatrix.x4.trans" : "ldmatrix.x4", 0xffffffffu, in, sizeof in, r, sizeof r);
    }

    Registrar::Registrar(const char* name, Thunk t, std::vector<std::size_t> sizes) { registry()[name] = Kernel{ t, std::move(sizes) }; }

    const Kernel* find_kernel(const char* name)
    {
        auto it = registry().find(name);
        return it == registry().end() ? nullptr : &it->second;
    }

    bool launch(const Kernel& k, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz, unsigned sharedBytes,
                void** args, std::string& message, bool* illegalAddress)
    {
        std::lock_guard<std::mutex> hold(launchLock);
        error.clear();
        faulted = false;
        if (illegalAddress) *illegalAddress = false;
        int n = (int)(bx * by * bz);
        if (n <= 0 || n > 1024)
        {
            message = "block of " + std::to_string(n) + " threads: CUDA allows 1 to 1024";
            return false;
        }
        thunk = k.thunk;
        kernelArgs = args;
        fibers.assign(n, Fiber{});
        slots.assign(n, Slot{});
        while ((int)stacks.size() < n) stacks.emplace_back(new char[StackBytes]);
        for (int i = 0; i < n; ++i)
        {
            Fiber& f = fibers[i];
            getcontext(&f.ctx);
            f.ctx.uc_stack.ss_sp = stacks[i].get();
            f.ctx.uc_stack.ss_size = StackBytes;
            f.ctx.uc_link = nullptr;
            makecontext(&f.ctx, fiberMain, 0);
        }
        smem.assign(std::max(sharedBytes, 16u), 0xFF);
        blockDim = { bx, by, bz };
        gridDim = { gx, gy, gz };
        for (unsigned z = 0; z < gz; ++z)
            for (unsigned y = 0; y < gy; ++y)
                for (unsigned x = 0; x < gx; ++x)
                {
                    blockIdx = { x, y, z };
                    if (!runBlock(n, (x + y + z) % 2 == 1))
                    {
                        fibers.clear();   // the stuck fibers are abandoned; they hold nothing but their stacks
                        message = error;
                        if (illegalAddress) *illegalAddress = faulted;
                        return false;
                    }
                }
        return true;
    }

    void fail_launch_on_fault(const std::string& what)
    {
        if (!inKernel) return;
        // the fiber is abandoned where it faulted, as a stuck one is; the signal handler is left by this jump
        error = what + " (" + where(current) + ")";
        faulted = true;
        fibers[current].state = State::Done;
        _longjmp(scheduler, 1);
    }

    void* dynamic_smem() { return smem.data(); }

    float f16_to_f32(unsigned short h) { _Float16 x; std::memcpy(&x, &h, 2); return (float)x; }

    unsigned short f32_to_f16(float f) { _Float16 x = (_Float16)f; unsigned short h; std::memcpy(&h, &x, 2); return h; }

    void mma_m16n8k16(float (&d)[4], const unsigned (&a)[4], const unsigned (&b)[2], bool isBf16)
    {
        unsigned char in[41];
        std::memcpy(in, a, 16);
        std::memcpy(in + 16, b, 8);
        std::memcpy(in + 24, d, 16);
        in[40] = isBf16 ? 1 : 0;
        collective(&mma, "mma.sync.m16n8k16", 0xffffffffu, in, sizeof in, d, sizeof d);
    }
}

void __syncthreads() { xdit_emu::yield(xdit_emu::State::AtBarrier); }

float __shfl_sync(unsigned m, float v, int s, int w) { return xdit_emu::shfl<float, false>(m, v, s, w, "__shfl_sync"); }
int __shfl_sync(unsigned m, int v, int s, int w) { return xdit_emu::shfl<int, false>(m, v, s, w, "__shfl_sync"); }
unsigned __shfl_sync(unsigned m, unsigned v, int s, int w) { return xdit_emu::shfl<unsigned, false>(m, v, s, w, "__shfl_sync"); }
float __shfl_xor_sync(unsigned m, float v, int x, int w) { return xdit_emu::shfl<float, true>(m, v, x, w, "__shfl_xor_sync"); }
int __shfl_xor_sync(unsigned m, int v, int x, int w) { return xdit_emu::shfl<int, true>(m, v, x, w, "__shfl_xor_sync"); }
unsigned __shfl_xor_sync(unsigned m, unsigned v, int x, int w) { return xdit_emu::shfl<unsigned, true>(m, v, x, w, "__shfl_xor_sync"); }
// a butterfly of shuffles: every lane of the mask sees the OR of the predicates
int __any_sync(unsigned m, int p)
{
    unsigned v = p != 0;
    for (int x = 1; x < 32; x <<= 1) v |= __shfl_xor_sync(m, v, x, 32);
    return v != 0;
}

namespace
{
    thread_local std::string lastError;
}

void xdit_emu::set_error(const std::string& message) { lastError = message; }

// The C entry points, called by tests/XDit.Tests/Cuda/Emulation/KernelEmulator.cs.
extern "C"
{
    // Runs kernel `name` over the grid as cuLaunchKernel would; 0 on success, otherwise xdit_emu_error() says why
    // (also after a launch the stand-in driver refused).
    int xdit_emu_launch(const char* name, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                        unsigned sharedBytes, void** args)
    {
        std::string message;
        const xdit_emu::Kernel* k = xdit_emu::find_kernel(name);
        if (!k)
        {
            lastError = std::string("no kernel named ") + name + " is registered with the emulator";
            return 1;
        }
        if (xdit_emu::launch(*k, gx, gy, gz, bx, by, bz, sharedBytes, args, message)) return 0;
        lastError = message;
        return 1;
    }

    const char* xdit_emu_error() { return lastError.c_str(); }
}

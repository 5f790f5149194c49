// A CPU stand-in for the CUDA driver API (libcuda.so.1): the subset src/Runtime/Cuda/Interop/Driver.cs binds, so
// that CudaOps runs end to end on a machine with no GPU when XDIT_CUDA_LIBRARY_DIR points at the emulator's folder
// (tests/XDit.Tests/Cuda/Emulation). One device (XDIT_EMU_DEVICE_COUNT asks for more), "XDit CPU emulator", of
// compute capability 9.0, with XDIT_EMU_DEVICE_MEMORY bytes (80 GiB unless set). Device memory is host memory
// (fresh allocations are filled with 0xFF, a NaN in every float type, so reading memory nobody wrote shows up,
// and each sits between guard pages, so a kernel reading or writing past its end fails with CUDA_ERROR_ILLEGAL_ADDRESS);
// copies and launches run at once on the calling thread, so streams and events only keep order and time. Modules
// come from fake_nvrtc.cpp, whose "CUBIN" names the module; their kernels are the ones registered with the kernel
// emulator (cuda_emu.cpp). Stream capture records launches, copies, memsets and the GEMMs of the cuBLAS(Lt)
// stand-in, and a graph replays them. What real CUDA refuses is refused here too where it is cheap to check:
// copies outside a live allocation, dynamic shared memory above 48 KiB without cuFuncSetAttribute, kernels that
// cannot complete, cuMemAlloc and cuMemFree during a global or thread-local capture.
#include "cuda_emu.h"

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace
{
    enum : int
    {
        CUDA_SUCCESS = 0,
        CUDA_ERROR_INVALID_VALUE = 1,
        CUDA_ERROR_OUT_OF_MEMORY = 2,
        CUDA_ERROR_NOT_INITIALIZED = 3,
        CUDA_ERROR_INVALID_DEVICE = 101,
        CUDA_ERROR_INVALID_IMAGE = 200,
        CUDA_ERROR_INVALID_CONTEXT = 201,
        CUDA_ERROR_INVALID_HANDLE = 400,
        CUDA_ERROR_NOT_FOUND = 500,
        CUDA_ERROR_ILLEGAL_ADDRESS = 700,
        CUDA_ERROR_LAUNCH_FAILED = 719,
        CUDA_ERROR_NOT_SUPPORTED = 801,
        CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED = 900,
    };

    const char* errorName(int e)
    {
        switch (e)
        {
            case CUDA_SUCCESS: return "CUDA_SUCCESS";
            case CUDA_ERROR_INVALID_VALUE: return "CUDA_ERROR_INVALID_VALUE";
            case CUDA_ERROR_OUT_OF_MEMORY: return "CUDA_ERROR_OUT_OF_MEMORY";
            case CUDA_ERROR_NOT_INITIALIZED: return "CUDA_ERROR_NOT_INITIALIZED";
            case CUDA_ERROR_INVALID_DEVICE: return "CUDA_ERROR_INVALID_DEVICE";
            case CUDA_ERROR_INVALID_IMAGE: return "CUDA_ERROR_INVALID_IMAGE";
            case CUDA_ERROR_INVALID_CONTEXT: return "CUDA_ERROR_INVALID_CONTEXT";
            case CUDA_ERROR_INVALID_HANDLE: return "CUDA_ERROR_INVALID_HANDLE";
            case CUDA_ERROR_NOT_FOUND: return "CUDA_ERROR_NOT_FOUND";
            case CUDA_ERROR_ILLEGAL_ADDRESS: return "CUDA_ERROR_ILLEGAL_ADDRESS";
            case CUDA_ERROR_LAUNCH_FAILED: return "CUDA_ERROR_LAUNCH_FAILED";
            case CUDA_ERROR_NOT_SUPPORTED: return "CUDA_ERROR_NOT_SUPPORTED";
            case CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED: return "CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED";
            default: return nullptr;
        }
    }

    // The device's memory: nominal (nothing is reserved up front), 80 GiB unless XDIT_EMU_DEVICE_MEMORY gives a number
    // of bytes, so that a test can run a process out of device memory.
    std::size_t deviceMemory()
    {
        const char* v = std::getenv("XDIT_EMU_DEVICE_MEMORY");
        return v && *v ? (std::size_t)std::strtoull(v, nullptr, 10) : 80ull << 30;
    }
    const std::size_t TotalMemory = deviceMemory();

    // How many devices there are: 1 unless XDIT_EMU_DEVICE_COUNT says more (up to 8), for multi-rank NCCL tests.
    // They share one pool of host memory; each has its primary context.
    constexpr int MaxDevices = 8;
    int deviceCount()
    {
        const char* v = std::getenv("XDIT_EMU_DEVICE_COUNT");
        int n = v && *v ? std::atoi(v) : 1;
        return n < 1 ? 1 : n > MaxDevices ? MaxDevices : n;
    }
    const int DeviceCount = deviceCount();
    bool validDevice(int d) { return d >= 0 && d < DeviceCount; }
    constexpr int MaxDynamicSharedOptin = 227 * 1024;
    constexpr int DefaultDynamicShared = 48 * 1024;

    std::mutex gate;   // one lock for the driver's tables; launches serialise in cuda_emu.cpp anyway
    bool initialised = false;
    std::map<std::uint64_t, std::size_t> allocations;   // device address -> bytes
    std::size_t allocated = 0;
    int primaryRefs[MaxDevices] = {};
    thread_local void* currentContext = nullptr;
    char primaryContexts[MaxDevices];   // the address of entry d is device d's context handle

    struct Module
    {
        std::string name;
    };

    struct Function
    {
        std::string name;
        const xdit_emu::Kernel* kernel;
        int maxDynamicShared = DefaultDynamicShared;
    };

    // One recorded operation of a stream capture.
    struct Op
    {
        enum Kind { Launch, Copy, Memset8, Memset32, Host } kind;
        Function* f = nullptr;
        unsigned grid[3] = {}, block[3] = {}, shared = 0;
        std::vector<std::vector<unsigned char>> params;   // copied at capture, as CUDA does
        std::uint64_t dst = 0, src = 0;
        std::size_t bytes = 0;
        bool deviceToDevice = false;   // a copy that no-exec mode skips (host transfers still run)
        unsigned value = 0;
        std::function<int()> host;   // work of another stand-in (a cuBLAS(Lt) GEMM) queued on the stream
    };

    struct Stream
    {
        bool capturing = false;
        bool prohibitsUnsafeCalls = false;   // a global or thread-local capture, begun on this thread
        std::vector<Op> captured;
    };

    // Captures in global or thread-local mode this thread has begun and not ended: while one is open, the thread
    // may not cuMemAlloc or cuMemFree (CUDA refuses them as unsafe during capture).
    thread_local int unsafeCallsProhibited = 0;

    struct Graph
    {
        std::vector<Op> ops;
    };

    struct Event
    {
        std::chrono::steady_clock::time_point at;
        bool recorded = false;
    };

    Stream defaultStream;

    Stream* streamOf(void* s) { return s ? static_cast<Stream*>(s) : &defaultStream; }

    // Whether [p, p + bytes) lies inside one live allocation.
    bool inAllocation(std::uint64_t p, std::size_t bytes)
    {
        auto it = allocations.upper_bound(p);
        if (it == allocations.begin()) return false;
        --it;
        return p >= it->first && p + bytes <= it->first + it->second;
    }

    // The last failed launch's line, and whether it goes to stderr: a test that makes a launch fail on purpose
    // (xdit_emu_driver_expect_failures) reads the line here rather than have it print like a failure in the log.
    std::mutex failureLock;
    std::string lastFailure;
    bool echoFailures = true;

    int launchNow(Function* f, const unsigned* g, const unsigned* b, unsigned shared, void** params)
    {
        if (xdit_emu::no_exec()) return CUDA_SUCCESS;
        std::string message;
        bool illegalAddress = false;
        if (xdit_emu::launch(*f->kernel, g[0], g[1], g[2], b[0], b[1], b[2], shared, params, message, &illegalAddress)) return CUDA_SUCCESS;
        {
            std::lock_guard<std::mutex> hold(failureLock);
            lastFailure = f->name + ": " + message;
            if (echoFailures) std::fprintf(stderr, "xdit emulator: %s\n", lastFailure.c_str());
        }
        return illegalAddress ? CUDA_ERROR_ILLEGAL_ADDRESS : CUDA_ERROR_LAUNCH_FAILED;
    }

    int run(const Op& op)
    {
        switch (op.kind)
        {
            case Op::Launch:
            {
                std::vector<void*> ptrs;
                for (auto& p : op.params) ptrs.push_back(const_cast<unsigned char*>(p.data()));
                return launchNow(op.f, op.grid, op.block, op.shared, ptrs.data());
            }
            case Op::Copy:
                if (!(op.deviceToDevice && xdit_emu::no_exec())) std::memmove((void*)op.dst, (const void*)op.src, op.bytes);
                return CUDA_SUCCESS;
            case Op::Memset8:
                if (!xdit_emu::no_exec()) std::memset((void*)op.dst, (int)op.value, op.bytes);
                return CUDA_SUCCESS;
            case Op::Memset32:
                if (!xdit_emu::no_exec())
                    for (std::size_t i = 0; i < op.bytes; ++i) ((unsigned*)op.dst)[i] = op.value;
                return CUDA_SUCCESS;
            case Op::Host: return xdit_emu::no_exec() ? CUDA_SUCCESS : op.host();
        }
        return CUDA_ERROR_INVALID_VALUE;
    }

    // Runs op now, or records it when the stream is capturing.
    int submit(void* stream, Op op)
    {
        Stream* s = streamOf(stream);
        if (s->capturing)
        {
            s->captured.push_back(std::move(op));
            return CUDA_SUCCESS;
        }
        return run(op);
    }

    int copy(std::uint64_t dst, std::uint64_t src, std::size_t bytes, bool dstDevice, bool srcDevice, void* stream)
    {
        {
            std::lock_guard<std::mutex> hold(gate);
            if ((dstDevice && !inAllocation(dst, bytes)) || (srcDevice && !inAllocation(src, bytes))) return CUDA_ERROR_INVALID_VALUE;
        }
        Op op{ Op::Copy };
        op.dst = dst;
        op.src = src;
        op.bytes = bytes;
        op.deviceToDevice = dstDevice && srcDevice;
        return submit(stream, std::move(op));
    }
}

namespace xdit_emu
{
    // For the other stand-ins (fake_cublaslt.cpp): runs work now, or records it when the stream is capturing, so
    // that a graph replays it. The work returns a CUresult-like status (0 = success).
    int submit_host(void* stream, std::function<int()> work)
    {
        Op op{ Op::Host };
        op.host = std::move(work);
        return submit(stream, std::move(op));
    }

    // For the other stand-ins (fake_nccl.cpp): whether [p, p + bytes) is device memory.
    bool in_device_memory(std::uint64_t p, std::size_t bytes)
    {
        std::lock_guard<std::mutex> hold(gate);
        return inAllocation(p, bytes);
    }
}

extern "C"
{
    int cuGetErrorName(int e, const char** s)
    {
        *s = errorName(e);
        return *s ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
    }

    int cuGetErrorString(int e, const char** s) { return cuGetErrorName(e, s); }

    // For tests: 1 while launches that fail on purpose run (their line is kept, not printed), 0 after.
    __attribute__((visibility("default"))) void xdit_emu_driver_expect_failures(int on)
    {
        std::lock_guard<std::mutex> hold(failureLock);
        echoFailures = on == 0;
        if (on) lastFailure.clear();
    }

    // The line of the last failed launch ("kernel: why"); valid until the next failure or expect call.
    __attribute__((visibility("default"))) const char* xdit_emu_driver_last_failure()
    {
        std::lock_guard<std::mutex> hold(failureLock);
        return lastFailure.c_str();
    }

    int cuInit(unsigned)
    {
        initialised = true;
        return CUDA_SUCCESS;
    }

    int cuDriverGetVersion(int* v)
    {
        *v = 13000;
        return CUDA_SUCCESS;
    }

    int cuDeviceGetCount(int* n)
    {
        if (!initialised) return CUDA_ERROR_NOT_INITIALIZED;
        *n = DeviceCount;
        return CUDA_SUCCESS;
    }

    int cuDeviceGet(int* d, int ordinal)
    {
        if (!initialised) return CUDA_ERROR_NOT_INITIALIZED;
        if (!validDevice(ordinal)) return CUDA_ERROR_INVALID_DEVICE;
        *d = ordinal;
        return CUDA_SUCCESS;
    }

    int cuDeviceGetName(char* name, int len, int d)
    {
        if (!validDevice(d)) return CUDA_ERROR_INVALID_DEVICE;
        std::snprintf(name, (std::size_t)len, "XDit CPU emulator");
        return CUDA_SUCCESS;
    }

    int cuDeviceGetAttribute(int* v, int attribute, int d)
    {
        if (!validDevice(d)) return CUDA_ERROR_INVALID_DEVICE;
        switch (attribute)
        {
            case 16: *v = 132; return CUDA_SUCCESS;                    // multiprocessors
            case 38: *v = 50 << 20; return CUDA_SUCCESS;               // L2 bytes
            case 75: *v = 9; return CUDA_SUCCESS;                      // compute capability
            case 76: *v = 0; return CUDA_SUCCESS;
            case 97: *v = MaxDynamicSharedOptin; return CUDA_SUCCESS;  // max shared memory per block, opt-in
            default: return CUDA_ERROR_INVALID_VALUE;
        }
    }

    int cuDeviceTotalMem_v2(std::size_t* bytes, int d)
    {
        if (!validDevice(d)) return CUDA_ERROR_INVALID_DEVICE;
        *bytes = TotalMemory;
        return CUDA_SUCCESS;
    }

    int cuDevicePrimaryCtxRetain(void** ctx, int d)
    {
        if (!initialised) return CUDA_ERROR_NOT_INITIALIZED;
        if (!validDevice(d)) return CUDA_ERROR_INVALID_DEVICE;
        std::lock_guard<std::mutex> hold(gate);
        ++primaryRefs[d];
        *ctx = &primaryContexts[d];
        return CUDA_SUCCESS;
    }

    int cuDevicePrimaryCtxRelease_v2(int d)
    {
        if (!validDevice(d)) return CUDA_ERROR_INVALID_DEVICE;
        std::lock_guard<std::mutex> hold(gate);
        if (primaryRefs[d] == 0) return CUDA_ERROR_INVALID_CONTEXT;
        --primaryRefs[d];
        return CUDA_SUCCESS;
    }

    int cuCtxSetCurrent(void* ctx)
    {
        if (ctx && (static_cast<char*>(ctx) < primaryContexts || static_cast<char*>(ctx) >= primaryContexts + DeviceCount))
            return CUDA_ERROR_INVALID_CONTEXT;
        currentContext = ctx;
        return CUDA_SUCCESS;
    }

    int cuCtxGetCurrent(void** ctx)
    {
        *ctx = currentContext;
        return CUDA_SUCCESS;
    }

    int cuCtxSynchronize() { return CUDA_SUCCESS; }

    int cuMemGetInfo_v2(std::size_t* free, std::size_t* total)
    {
        std::lock_guard<std::mutex> hold(gate);
        *total = TotalMemory;
        *free = TotalMemory - allocated;
        return CUDA_SUCCESS;
    }

    int cuMemAlloc_v2(std::uint64_t* p, std::size_t bytes)
    {
        if (!currentContext) return CUDA_ERROR_INVALID_CONTEXT;
        if (unsafeCallsProhibited > 0) return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
        if (bytes == 0) return CUDA_ERROR_INVALID_VALUE;
        std::lock_guard<std::mutex> hold(gate);
        if (allocated + bytes > TotalMemory) return CUDA_ERROR_OUT_OF_MEMORY;
        void* m = xdit_emu::guarded_alloc(bytes);   // filled with 0xFF
        if (!m) return CUDA_ERROR_OUT_OF_MEMORY;
        *p = (std::uint64_t)m;
        allocations[*p] = bytes;
        allocated += bytes;
        return CUDA_SUCCESS;
    }

    int cuMemFree_v2(std::uint64_t p)
    {
        if (unsafeCallsProhibited > 0) return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
        std::lock_guard<std::mutex> hold(gate);
        auto it = allocations.find(p);
        if (it == allocations.end()) return CUDA_ERROR_INVALID_VALUE;
        allocated -= it->second;
        allocations.erase(it);
        xdit_emu::guarded_free((void*)p);
        return CUDA_SUCCESS;
    }

    int cuMemHostAlloc(void** p, std::size_t bytes, unsigned)
    {
        *p = std::aligned_alloc(256, (bytes + 255) / 256 * 256);
        return *p ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
    }

    int cuMemFreeHost(void* p)
    {
        std::free(p);
        return CUDA_SUCCESS;
    }

    int cuMemcpyHtoDAsync_v2(std::uint64_t dst, const void* src, std::size_t bytes, void* stream)
    {
        return copy(dst, (std::uint64_t)src, bytes, true, false, stream);
    }

    int cuMemcpyDtoHAsync_v2(void* dst, std::uint64_t src, std::size_t bytes, void* stream)
    {
        return copy((std::uint64_t)dst, src, bytes, false, true, stream);
    }

    int cuMemcpyDtoDAsync_v2(std::uint64_t dst, std::uint64_t src, std::size_t bytes, void* stream)
    {
        return copy(dst, src, bytes, true, true, stream);
    }

    int cuMemsetD8Async(std::uint64_t dst, unsigned char value, std::size_t count, void* stream)
    {
        {
            std::lock_guard<std::mutex> hold(gate);
            if (!inAllocation(dst, count)) return CUDA_ERROR_INVALID_VALUE;
        }
        Op op{ Op::Memset8 };
        op.dst = dst;
        op.bytes = count;
        op.value = value;
        return submit(stream, std::move(op));
    }

    int cuMemsetD32Async(std::uint64_t dst, unsigned value, std::size_t count, void* stream)
    {
        {
            std::lock_guard<std::mutex> hold(gate);
            if (dst % 4 != 0 || !inAllocation(dst, count * 4)) return CUDA_ERROR_INVALID_VALUE;
        }
        Op op{ Op::Memset32 };
        op.dst = dst;
        op.bytes = count;
        op.value = value;
        return submit(stream, std::move(op));
    }

    int cuStreamCreate(void** s, unsigned)
    {
        *s = new Stream();
        return CUDA_SUCCESS;
    }

    int cuStreamDestroy_v2(void* s)
    {
        if (!s) return CUDA_ERROR_INVALID_HANDLE;
        delete static_cast<Stream*>(s);
        return CUDA_SUCCESS;
    }

    int cuStreamSynchronize(void* s) { return streamOf(s)->capturing ? CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED : CUDA_SUCCESS; }

    int cuStreamWaitEvent(void*, void* e, unsigned) { return e ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE; }

    int cuEventCreate(void** e, unsigned)
    {
        *e = new Event();
        return CUDA_SUCCESS;
    }

    int cuEventRecord(void* e, void*)
    {
        if (!e) return CUDA_ERROR_INVALID_HANDLE;
        auto* ev = static_cast<Event*>(e);
        ev->at = std::chrono::steady_clock::now();
        ev->recorded = true;
        return CUDA_SUCCESS;
    }

    int cuEventSynchronize(void* e) { return e ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE; }

    int cuEventQuery(void* e) { return e ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE; }   // work is done when queued

    int cuEventElapsedTime_v2(float* ms, void* start, void* end)
    {
        auto *a = static_cast<Event*>(start), *b = static_cast<Event*>(end);
        if (!a || !b) return CUDA_ERROR_INVALID_HANDLE;
        if (!a->recorded || !b->recorded) return CUDA_ERROR_INVALID_VALUE;
        *ms = std::chrono::duration<float, std::milli>(b->at - a->at).count();
        return CUDA_SUCCESS;
    }

    int cuEventDestroy_v2(void* e)
    {
        delete static_cast<Event*>(e);
        return CUDA_SUCCESS;
    }

    int cuModuleLoadData(void** module, const void* image)
    {
        static const char magic[] = "XDITEMU\n";
        const char* p = static_cast<const char*>(image);
        if (std::strncmp(p, magic, sizeof magic - 1) != 0) return CUDA_ERROR_INVALID_IMAGE;
        *module = new Module{ std::string(p + sizeof magic - 1) };
        return CUDA_SUCCESS;
    }

    int cuModuleGetFunction(void** f, void* module, const char* name)
    {
        if (!module) return CUDA_ERROR_INVALID_HANDLE;
        const xdit_emu::Kernel* k = xdit_emu::find_kernel(name);
        if (!k) return CUDA_ERROR_NOT_FOUND;
        *f = new Function{ name, k };   // lives as long as the process, like the module's code would
        return CUDA_SUCCESS;
    }

    int cuModuleUnload(void* module)
    {
        if (!module) return CUDA_ERROR_INVALID_HANDLE;
        delete static_cast<Module*>(module);
        return CUDA_SUCCESS;
    }

    int cuFuncSetAttribute(void* f, int attribute, int value)
    {
        if (!f) return CUDA_ERROR_INVALID_HANDLE;
        if (attribute == 9)   // CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT: a hint, -1 or a percentage
            return value >= -1 && value <= 100 ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
        if (attribute != 8) return CUDA_ERROR_INVALID_VALUE;   // else only CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES
        if (value < 0 || value > MaxDynamicSharedOptin) return CUDA_ERROR_INVALID_VALUE;
        static_cast<Function*>(f)->maxDynamicShared = value;
        return CUDA_SUCCESS;
    }

    int cuLaunchKernel(void* fn, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz, unsigned shared,
                       void* stream, void** params, void** extra)
    {
        auto* f = static_cast<Function*>(fn);
        if (!f) return CUDA_ERROR_INVALID_HANDLE;
        if (extra) return CUDA_ERROR_NOT_SUPPORTED;
        if (gx == 0 || gy == 0 || gz == 0 || gy > 65535 || gz > 65535 || bx * by * bz == 0 || bx * by * bz > 1024)
            return CUDA_ERROR_INVALID_VALUE;
        if ((int)shared > f->maxDynamicShared) return CUDA_ERROR_INVALID_VALUE;
        if (!f->kernel->paramSizes.empty() && !params) return CUDA_ERROR_INVALID_VALUE;
        if (params)
        {
            // The host passes kernelParams null-terminated (KernelLibrary.Launch): the real driver reads only the
            // kernel's own count, so a launch with one argument too many or too few would go unseen there. Here
            // the null must sit exactly at the registered parameter count.
            const std::size_t expected = f->kernel->paramSizes.size();
            std::size_t found = 0;
            while (found < 256 && params[found]) ++found;
            if (found != expected)
            {
                std::string message = "cuLaunchKernel(" + f->name + "): the kernel takes " + std::to_string(expected)
                    + " parameters, kernelParams holds " + std::to_string(found) + " before its terminating null";
                std::fprintf(stderr, "xdit emulator: %s\n", message.c_str());
                xdit_emu::set_error(message);
                return CUDA_ERROR_INVALID_VALUE;
            }
        }
        Op op{ Op::Launch };
        op.f = f;
        unsigned g[3] = { gx, gy, gz }, b[3] = { bx, by, bz };
        std::memcpy(op.grid, g, sizeof g);
        std::memcpy(op.block, b, sizeof b);
        op.shared = shared;
        if (!streamOf(stream)->capturing) return launchNow(f, g, b, shared, params);
        for (std::size_t i = 0; i < f->kernel->paramSizes.size(); ++i)
        {
            auto* p = static_cast<unsigned char*>(params[i]);
            op.params.emplace_back(p, p + f->kernel->paramSizes[i]);
        }
        return submit(stream, std::move(op));
    }

    int cuStreamBeginCapture_v2(void* s, int mode)
    {
        Stream* st = streamOf(s);
        if (st->capturing || mode < 0 || mode > 2) return CUDA_ERROR_INVALID_VALUE;
        st->capturing = true;
        st->prohibitsUnsafeCalls = mode != 2;   // CU_STREAM_CAPTURE_MODE_GLOBAL 0, THREAD_LOCAL 1, RELAXED 2
        if (st->prohibitsUnsafeCalls) ++unsafeCallsProhibited;
        st->captured.clear();
        return CUDA_SUCCESS;
    }

    int cuStreamEndCapture(void* s, void** graph)
    {
        Stream* st = streamOf(s);
        if (!st->capturing) return CUDA_ERROR_INVALID_VALUE;
        st->capturing = false;
        if (st->prohibitsUnsafeCalls) --unsafeCallsProhibited;
        *graph = new Graph{ std::move(st->captured) };
        st->captured.clear();
        return CUDA_SUCCESS;
    }

    int cuStreamIsCapturing(void* s, int* status)
    {
        *status = streamOf(s)->capturing ? 1 : 0;   // CU_STREAM_CAPTURE_STATUS_ACTIVE / NONE
        return CUDA_SUCCESS;
    }

    int cuGraphInstantiateWithFlags(void** exec, void* graph, unsigned long long)
    {
        if (!graph) return CUDA_ERROR_INVALID_HANDLE;
        *exec = new Graph(*static_cast<Graph*>(graph));
        return CUDA_SUCCESS;
    }

    int cuGraphLaunch(void* exec, void* stream)
    {
        if (!exec) return CUDA_ERROR_INVALID_HANDLE;
        if (streamOf(stream)->capturing) return CUDA_ERROR_NOT_SUPPORTED;
        for (const Op& op : static_cast<Graph*>(exec)->ops)
            if (int r = run(op); r != CUDA_SUCCESS) return r;
        return CUDA_SUCCESS;
    }

    int cuGraphExecDestroy(void* exec)
    {
        delete static_cast<Graph*>(exec);
        return CUDA_SUCCESS;
    }

    int cuGraphDestroy(void* graph)
    {
        delete static_cast<Graph*>(graph);
        return CUDA_SUCCESS;
    }
}

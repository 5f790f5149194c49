// Device memory with guard pages (see cuda_emu.h): each allocation is its own mapping, ending 16-byte aligned just
// before an inaccessible page, with another inaccessible page before it. A kernel that reads or writes past the end
// (or before the start) of a buffer touches a guard page; the SIGSEGV handler installed here turns that into a
// failed launch that names the allocation and the offset, as CUDA's illegal-address error plus compute-sanitizer
// would, instead of a crash or a silent read of a neighbour's data. Faults elsewhere go on to the handler that was
// there before (the .NET runtime's, which turns its own into NullReferenceException).
#include "cuda_emu.h"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>

namespace xdit_emu
{
    namespace
    {
        struct Region
        {
            std::uintptr_t map;     // the mapping: lead guard page, data pages, tail guard page
            std::size_t mapBytes;
            std::uintptr_t data;    // what the caller got
            std::size_t bytes;
        };

        std::mutex regionsLock;
        std::map<std::uintptr_t, Region> regions;   // by mapping start
        struct sigaction previous;
        std::once_flag installed;

        std::size_t pageSize()
        {
            static const std::size_t p = (std::size_t)sysconf(_SC_PAGESIZE);
            return p;
        }

        std::string hex(std::uintptr_t a)
        {
            char b[32];
            std::snprintf(b, sizeof b, "0x%llx", (unsigned long long)a);
            return b;
        }

        // What a faulting address is, when it is one of our guard pages; empty otherwise.
        std::string describe(std::uintptr_t a)
        {
            std::lock_guard<std::mutex> hold(regionsLock);
            auto it = regions.upper_bound(a);
            if (it == regions.begin()) return {};
            const Region& r = (--it)->second;
            if (a >= r.map + r.mapBytes) return {};
            std::string what = "a " + std::to_string(r.bytes) + "-byte device allocation at " + hex(r.data);
            if (a < r.data)
                return "an access " + std::to_string(r.data - a) + " bytes before the start of " + what;
            return "an access at byte " + std::to_string(a - r.data) + " of " + what + ", past its end";
        }

        void chain(int sig, siginfo_t* info, void* context)
        {
            if (previous.sa_flags & SA_SIGINFO)
            {
                if (previous.sa_sigaction) { previous.sa_sigaction(sig, info, context); return; }
            }
            else if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN)
            {
                previous.sa_handler(sig);
                return;
            }
            signal(sig, SIG_DFL);   // nobody else wants it: let the fault kill the process as it would have
            raise(sig);
        }

        void onFault(int sig, siginfo_t* info, void* context)
        {
            std::string what = describe((std::uintptr_t)info->si_addr);
            if (what.empty()) { chain(sig, info, context); return; }
            // inside an emulated kernel: the launch fails (this does not return); elsewhere (a stand-in library's
            // host code), there is nothing to unwind to, so say what happened and stop
            fail_launch_on_fault(what);
            std::string line = "xdit emulator: " + what + " outside any kernel\n";
            (void)!write(2, line.data(), line.size());
            std::abort();
        }

        void install()
        {
            struct sigaction sa = {};
            sa.sa_sigaction = onFault;
            // SA_NODEFER: the handler leaves by longjmp, so SIGSEGV must not stay blocked after it
            sa.sa_flags = SA_SIGINFO | SA_NODEFER;
            sigemptyset(&sa.sa_mask);
            sigaction(SIGSEGV, &sa, &previous);
        }
    }

    void* guarded_alloc(std::size_t bytes)
    {
        std::call_once(installed, install);
        const std::size_t page = pageSize(), span = (bytes + 15) / 16 * 16;
        const std::size_t dataPages = (span + page - 1) / page * page, mapBytes = dataPages + 2 * page;
        void* m = mmap(nullptr, mapBytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (m == MAP_FAILED) return nullptr;
        const std::uintptr_t map = (std::uintptr_t)m;
        if (mprotect((void*)(map + page), dataPages, PROT_READ | PROT_WRITE) != 0)
        {
            munmap(m, mapBytes);
            return nullptr;
        }
        const std::uintptr_t data = map + page + dataPages - span;
        if (!no_exec()) std::memset((void*)data, 0xFF, bytes);   // no-exec: pages stay uncommitted
        std::lock_guard<std::mutex> hold(regionsLock);
        regions[map] = { map, mapBytes, data, bytes };
        return (void*)data;
    }

    bool guarded_free(void* p)
    {
        Region r;
        {
            std::lock_guard<std::mutex> hold(regionsLock);
            auto it = regions.upper_bound((std::uintptr_t)p);
            if (it == regions.begin()) return false;
            --it;
            if (it->second.data != (std::uintptr_t)p) return false;
            r = it->second;
            regions.erase(it);
        }
        munmap((void*)r.map, r.mapBytes);
        return true;
    }
}

extern "C"
{
    // For the tests' own buffers (tests/XDit.Tests/Cuda/Emulation/EmuMemory.cs): the same guarded memory as
    // cuMemAlloc's.
    void* xdit_emu_guarded_alloc(std::size_t bytes) { return xdit_emu::guarded_alloc(bytes); }

    int xdit_emu_guarded_free(void* p) { return xdit_emu::guarded_free(p) ? 0 : 1; }
}

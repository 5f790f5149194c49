// The emulator's no-exec mode: the stand-ins check and queue work as usual but run none of it. Kernels, GEMMs,
// convolutions, device-to-device copies and memsets return success without touching memory, and fresh device
// allocations are left unfilled, so their pages are never committed: a transformer of any size "runs" on a machine
// whose memory is a fraction of its weights, for what the host side does (the launch ledger: which launches, of
// what shapes, through which path). Copies between host and device still run, so what the host reads back (a mask,
// a position table) has its real size and the host code takes its real path; weights come without host data
// (RandomCheckpoint's shape-only tensors) so those copies stay small.
// XDIT_EMU_NO_EXEC=1 turns it on for every thread; xdit_emu_no_exec() sets it for the calling thread alone (the tests
// run it beside executing tests in one process; the emulator runs work on the thread that queues it).
#include "cuda_emu.h"

#include <cstdlib>
#include <cstring>

namespace
{
    bool processDefault()
    {
        const char* v = std::getenv("XDIT_EMU_NO_EXEC");
        return v && std::strcmp(v, "1") == 0;
    }
    const bool ProcessNoExec = processDefault();
    thread_local int threadNoExec = -1;   // -1: as the process says
}

namespace xdit_emu
{
    bool no_exec() { return threadNoExec < 0 ? ProcessNoExec : threadNoExec != 0; }
}

extern "C"
{
    // 1: this thread's work is checked and queued but not run; 0: it runs; -1: as XDIT_EMU_NO_EXEC says. Returns
    // whether the thread was in no-exec mode before.
    __attribute__((visibility("default"))) int xdit_emu_no_exec(int mode)
    {
        int was = xdit_emu::no_exec() ? 1 : 0;
        threadNoExec = mode < 0 ? -1 : mode != 0;
        return was;
    }
}

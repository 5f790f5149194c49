// A CPU stand-in for NCCL (libnccl.so.2) with one rank per communicator: what src/Comm/Nccl/NcclNative.cs binds,
// so that NcclCommunicator's one-GPU test runs on the emulated device (fake_driver.cpp has one). Every collective
// of a lone rank is a copy from send to receive buffer; a send to itself pairs with a receive from itself inside
// one ncclGroupStart/End, in order, and one left unpaired at ncclGroupEnd is an error, as it would hang NCCL.
// Buffers must lie inside device allocations. Communicators of more than one rank are refused (ncclInvalidUsage).
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <string>

namespace xdit_emu
{
    bool in_device_memory(std::uint64_t p, std::size_t bytes);   // fake_driver.cpp
}

namespace
{
    enum : int { ncclSuccess = 0, ncclInvalidArgument = 4, ncclInvalidUsage = 5 };
    enum : int { ncclSum = 0, ncclProd = 1, ncclMax = 2, ncclMin = 3, ncclAvg = 4 };

    struct Pending
    {
        std::uint64_t buffer;
        std::size_t bytes;
    };

    struct Comm
    {
        std::deque<Pending> sends, recvs;
        std::string lastError;
    };

    thread_local int groupDepth = 0;
    thread_local Comm* groupComm = nullptr;   // the communicator with point-to-point work in the open group
    thread_local std::string lastError;

    int fail(Comm* c, int status, const std::string& what)
    {
        lastError = what;
        if (c) c->lastError = what;
        return status;
    }

    // bytes per element of ncclDataType_t, 0 for an unknown type
    std::size_t size(int type)
    {
        switch (type)
        {
            case 0: case 1: return 1;            // int8, uint8
            case 2: case 3: case 7: return 4;    // int32, uint32, float32
            case 4: case 5: case 8: return 8;    // int64, uint64, float64
            case 6: case 9: return 2;            // float16, bfloat16
            default: return 0;
        }
    }

    int copy(Comm* c, const char* call, std::uint64_t send, std::uint64_t recv, std::size_t count, int type)
    {
        if (!c) return fail(c, ncclInvalidArgument, std::string(call) + ": null communicator");
        std::size_t bytes = count * size(type);
        if (size(type) == 0) return fail(c, ncclInvalidArgument, std::string(call) + ": unknown data type " + std::to_string(type));
        if (bytes == 0) return ncclSuccess;
        if (!xdit_emu::in_device_memory(send, bytes) || !xdit_emu::in_device_memory(recv, bytes))
            return fail(c, ncclInvalidArgument, std::string(call) + ": a buffer is not inside a device allocation");
        if (send != recv) std::memmove((void*)recv, (const void*)send, bytes);
        return ncclSuccess;
    }

    int pair(Comm* c)
    {
        while (!c->sends.empty() && !c->recvs.empty())
        {
            Pending s = c->sends.front(), r = c->recvs.front();
            c->sends.pop_front();
            c->recvs.pop_front();
            if (s.bytes != r.bytes)
                return fail(c, ncclInvalidUsage, "a send of " + std::to_string(s.bytes) + " bytes met a receive of " + std::to_string(r.bytes));
            std::memmove((void*)r.buffer, (const void*)s.buffer, s.bytes);
        }
        if (!c->sends.empty() || !c->recvs.empty())
            return fail(c, ncclInvalidUsage, "a send or receive was left without its partner at ncclGroupEnd (it would hang)");
        return ncclSuccess;
    }

    int p2p(Comm* c, const char* call, std::uint64_t buffer, std::size_t count, int type, int peer, bool send)
    {
        if (!c) return fail(c, ncclInvalidArgument, std::string(call) + ": null communicator");
        if (peer != 0) return fail(c, ncclInvalidArgument, std::string(call) + ": peer " + std::to_string(peer) + " of a 1-rank communicator");
        if (size(type) == 0) return fail(c, ncclInvalidArgument, std::string(call) + ": unknown data type " + std::to_string(type));
        std::size_t bytes = count * size(type);
        if (bytes > 0 && !xdit_emu::in_device_memory(buffer, bytes))
            return fail(c, ncclInvalidArgument, std::string(call) + ": the buffer is not inside a device allocation");
        (send ? c->sends : c->recvs).push_back(Pending{ buffer, bytes });
        if (groupDepth == 0) return pair(c);   // outside a group a self send/receive cannot complete
        groupComm = c;
        return ncclSuccess;
    }
}

extern "C"
{
    int ncclGetVersion(int* v)
    {
        *v = 22803;   // 2.28.3
        return ncclSuccess;
    }

    int ncclGetUniqueId(unsigned char* id)
    {
        std::memset(id, 0, 128);
        std::memcpy(id, "xdit-emulator", 13);
        return ncclSuccess;
    }

    // ncclUniqueId is 128 bytes passed by value; on x86-64 that travels in memory, as this struct does.
    struct UniqueId
    {
        unsigned char internal[128];
    };

    int ncclCommInitRank(void** comm, int nranks, UniqueId, int rank)
    {
        if (nranks != 1 || rank != 0)
            return fail(nullptr, ncclInvalidUsage, "the emulator's NCCL runs communicators of one rank only (asked for rank " +
                                                       std::to_string(rank) + " of " + std::to_string(nranks) + ")");
        *comm = new Comm();
        return ncclSuccess;
    }

    int ncclCommDestroy(void* comm)
    {
        delete static_cast<Comm*>(comm);
        return ncclSuccess;
    }

    int ncclCommAbort(void* comm) { return ncclCommDestroy(comm); }

    int ncclCommGetAsyncError(void* comm, int* asyncError)
    {
        if (!comm) return ncclInvalidArgument;
        *asyncError = ncclSuccess;
        return ncclSuccess;
    }

    const char* ncclGetErrorString(int r)
    {
        switch (r)
        {
            case ncclSuccess: return "no error";
            case ncclInvalidArgument: return "invalid argument";
            case ncclInvalidUsage: return "invalid usage";
            default: return "unknown result code";
        }
    }

    const char* ncclGetLastError(void* comm) { return comm ? static_cast<Comm*>(comm)->lastError.c_str() : lastError.c_str(); }

    int ncclGroupStart()
    {
        ++groupDepth;
        return ncclSuccess;
    }

    int ncclGroupEnd()
    {
        if (groupDepth == 0) return fail(nullptr, ncclInvalidUsage, "ncclGroupEnd without ncclGroupStart");
        if (--groupDepth > 0 || !groupComm) return ncclSuccess;
        Comm* c = groupComm;
        groupComm = nullptr;
        return pair(c);
    }

    int ncclAllReduce(std::uint64_t send, std::uint64_t recv, std::size_t count, int type, int op, void* comm, void*)
    {
        if (op < ncclSum || op > ncclAvg) return fail((Comm*)comm, ncclInvalidArgument, "ncclAllReduce: unknown reduction " + std::to_string(op));
        return copy((Comm*)comm, "ncclAllReduce", send, recv, count, type);
    }

    int ncclAllGather(std::uint64_t send, std::uint64_t recv, std::size_t count, int type, void* comm, void*)
    {
        return copy((Comm*)comm, "ncclAllGather", send, recv, count, type);
    }

    int ncclReduceScatter(std::uint64_t send, std::uint64_t recv, std::size_t count, int type, int op, void* comm, void*)
    {
        if (op < ncclSum || op > ncclAvg) return fail((Comm*)comm, ncclInvalidArgument, "ncclReduceScatter: unknown reduction " + std::to_string(op));
        return copy((Comm*)comm, "ncclReduceScatter", send, recv, count, type);
    }

    int ncclBroadcast(std::uint64_t send, std::uint64_t recv, std::size_t count, int type, int root, void* comm, void*)
    {
        if (root != 0) return fail((Comm*)comm, ncclInvalidArgument, "ncclBroadcast: root " + std::to_string(root) + " of a 1-rank communicator");
        return copy((Comm*)comm, "ncclBroadcast", send, recv, count, type);
    }

    int ncclSend(std::uint64_t send, std::size_t count, int type, int peer, void* comm, void*)
    {
        return p2p((Comm*)comm, "ncclSend", send, count, type, peer, true);
    }

    int ncclRecv(std::uint64_t recv, std::size_t count, int type, int peer, void* comm, void*)
    {
        return p2p((Comm*)comm, "ncclRecv", recv, count, type, peer, false);
    }
}

// A CPU stand-in for NCCL (libnccl.so.2): what src/Comm/Nccl/NcclNative.cs binds, so that NcclCommunicator runs on
// the emulated devices (fake_driver.cpp; XDIT_EMU_DEVICE_COUNT gives more than one), each rank on a thread of its
// own in one process, as NcclCommunicatorTests runs them.
//
// ncclCommInitRank waits until every rank of the unique id has joined. A collective waits until every rank of the
// communicator has called it (the n-th call of each rank is one collective, and they must agree on the call, count,
// type, reduction and root), then computes every rank's output at once from all inputs. A send copies its data at
// the call (or at ncclGroupEnd inside a group) and returns; a receive waits for the oldest unmatched send from its
// peer to itself, which must be of the same size. So what would hang NCCL (a rank that never calls, a receive with
// no send) fails after a timeout (XDIT_EMU_NCCL_TIMEOUT_S, default 60) with a message instead, and ncclCommAbort
// wakes every waiter of the communicator. Streams are ignored: everything is done when a call returns. Buffers
// must lie inside device allocations. An aborted communicator's memory is never freed (another thread may still
// be inside it).
#include "cuda_emu.h"
#include "common.cuh"   // the kernels' f16/bf16 conversions, so reductions round as the kernels do

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace xdit_emu
{
    bool in_device_memory(std::uint64_t p, std::size_t bytes);   // fake_driver.cpp
}

namespace
{
    enum : int { ncclSuccess = 0, ncclSystemError = 2, ncclInvalidArgument = 4, ncclInvalidUsage = 5, ncclRemoteError = 6 };
    enum : int { ncclSum = 0, ncclProd = 1, ncclMax = 2, ncclMin = 3, ncclAvg = 4 };

    struct Comm;

    // One collective call of every rank: its arguments, and who has arrived and left.
    struct Collective
    {
        std::string call;
        std::size_t count = 0;
        int type = 0, op = 0, root = 0;
        std::vector<std::uint64_t> send, recv;
        int arrived = 0, left = 0;
        bool done = false;
        std::string error;
    };

    // The ranks of one unique id.
    struct Clique
    {
        int size = 0, joined = 0, destroyed = 0;
        std::vector<Comm*> members;
        std::map<std::uint64_t, Collective> collectives;                            // by sequence number
        std::map<std::pair<int, int>, std::deque<std::vector<unsigned char>>> mail;  // (from, to) -> sent data, oldest first
        bool aborted = false;
    };

    struct Comm
    {
        Clique* clique = nullptr;
        int rank = 0;
        std::uint64_t seq = 0;   // collectives this rank has called
        std::string lastError;
    };

    // A send or receive inside ncclGroupStart/End, done at ncclGroupEnd.
    struct P2p
    {
        Comm* comm;
        bool send;
        std::uint64_t buffer;
        std::size_t bytes;
        int peer;
    };

    std::mutex gate;   // every table below, and every clique
    std::condition_variable changed;
    std::map<std::string, Clique*> forming;   // unique id -> clique still waiting for ranks
    std::uint64_t ids = 0;

    thread_local int groupDepth = 0;
    thread_local std::vector<P2p> groupOps;
    thread_local std::string lastError;

    std::chrono::seconds timeout()
    {
        const char* v = std::getenv("XDIT_EMU_NCCL_TIMEOUT_S");
        return std::chrono::seconds(v && *v ? std::atoi(v) : 60);
    }

    int fail(Comm* c, int status, const std::string& what)
    {
        lastError = what;
        if (c) c->lastError = what;
        return status;
    }

    // Waits (holding `lock` on gate) until ready() or the clique is aborted; the status to return and why.
    template <class Ready>
    int wait(std::unique_lock<std::mutex>& lock, Comm* c, const std::string& what, Ready ready)
    {
        if (!changed.wait_for(lock, timeout(), [&] { return ready() || c->clique->aborted; }))
            return fail(c, ncclSystemError, "rank " + std::to_string(c->rank) + " waited " + std::to_string(timeout().count()) + " s for " + what +
                                                " (the emulator's NCCL would hang here)");
        if (!ready()) return fail(c, ncclRemoteError, what + ": the communicator was aborted");
        return ncclSuccess;
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

    double load(const unsigned char* p, int type)
    {
        switch (type)
        {
            case 0: return *(const std::int8_t*)p;
            case 1: return *p;
            case 2: return *(const std::int32_t*)p;
            case 3: return *(const std::uint32_t*)p;
            case 4: return (double)*(const std::int64_t*)p;
            case 5: return (double)*(const std::uint64_t*)p;
            case 6: return f16_to_f(*(const u16*)p);
            case 7: return *(const float*)p;
            case 8: return *(const double*)p;
            default: return bf16_to_f(*(const u16*)p);
        }
    }

    void store(unsigned char* p, int type, double v)
    {
        switch (type)
        {
            case 0: *(std::int8_t*)p = (std::int8_t)v; break;
            case 1: *p = (unsigned char)v; break;
            case 2: *(std::int32_t*)p = (std::int32_t)v; break;
            case 3: *(std::uint32_t*)p = (std::uint32_t)v; break;
            case 4: *(std::int64_t*)p = (std::int64_t)v; break;
            case 5: *(std::uint64_t*)p = (std::uint64_t)v; break;
            case 6: *(u16*)p = f_to_f16((float)v); break;
            case 7: *(float*)p = (float)v; break;
            case 8: *(double*)p = v; break;
            default: *(u16*)p = f_to_bf16((float)v); break;
        }
    }

    double reduce(double a, double b, int op)
    {
        switch (op)
        {
            case ncclProd: return a * b;
            case ncclMax: return a > b ? a : b;
            case ncclMin: return a < b ? a : b;
            default: return a + b;   // sum, and avg before its division
        }
    }

    // out[i] = op over ranks r of in(r)[i], i < count; every input is read before any output is written, since a
    // rank's send and receive buffers may be one (in place).
    void reduceInto(const Collective& c, int n, std::size_t offset, std::vector<double>& acc)
    {
        const std::size_t es = size(c.type);
        acc.assign(c.count, 0.0);
        for (int r = 0; r < n; ++r)
        {
            auto* in = (const unsigned char*)c.send[r] + offset * es;
            for (std::size_t i = 0; i < c.count; ++i)
            {
                double v = load(in + i * es, c.type);
                acc[i] = r == 0 ? v : reduce(acc[i], v, c.op);
            }
        }
        if (c.op == ncclAvg)
            for (auto& v : acc) v /= n;
    }

    // Computes every rank's output of a collective all ranks have called.
    void compute(Collective& c, int n)
    {
        const std::size_t es = size(c.type), bytes = c.count * es;
        if (c.call == "ncclAllReduce")
        {
            std::vector<double> acc;
            reduceInto(c, n, 0, acc);
            for (int r = 0; r < n; ++r)
                for (std::size_t i = 0; i < c.count; ++i) store((unsigned char*)c.recv[r] + i * es, c.type, acc[i]);
        }
        else if (c.call == "ncclReduceScatter")
        {
            std::vector<std::vector<double>> parts(n);
            for (int r = 0; r < n; ++r) reduceInto(c, n, r * c.count, parts[r]);
            for (int r = 0; r < n; ++r)
                for (std::size_t i = 0; i < c.count; ++i) store((unsigned char*)c.recv[r] + i * es, c.type, parts[r][i]);
        }
        else if (c.call == "ncclAllGather")
        {
            std::vector<unsigned char> all(bytes * n);
            for (int q = 0; q < n; ++q) std::memcpy(all.data() + q * bytes, (const void*)c.send[q], bytes);
            for (int r = 0; r < n; ++r) std::memcpy((void*)c.recv[r], all.data(), all.size());
        }
        else   // ncclBroadcast
        {
            std::vector<unsigned char> data((const unsigned char*)c.send[c.root], (const unsigned char*)c.send[c.root] + bytes);
            for (int r = 0; r < n; ++r) std::memcpy((void*)c.recv[r], data.data(), bytes);
        }
    }

    // Bytes of each rank's send and receive buffers for a collective of `count` elements of n ranks.
    void extents(const std::string& call, std::size_t bytes, int n, std::size_t& sendBytes, std::size_t& recvBytes)
    {
        sendBytes = call == "ncclReduceScatter" ? bytes * n : bytes;
        recvBytes = call == "ncclAllGather" ? bytes * n : bytes;
    }

    int collective(Comm* c, const char* call, std::uint64_t send, std::uint64_t recv, std::size_t count, int type, int op, int root)
    {
        if (!c) return fail(c, ncclInvalidArgument, std::string(call) + ": null communicator");
        if (size(type) == 0) return fail(c, ncclInvalidArgument, std::string(call) + ": unknown data type " + std::to_string(type));
        if (op < ncclSum || op > ncclAvg) return fail(c, ncclInvalidArgument, std::string(call) + ": unknown reduction " + std::to_string(op));
        const int n = c->clique->size;
        if (root < 0 || root >= n)
            return fail(c, ncclInvalidArgument, std::string(call) + ": root " + std::to_string(root) + " of a " + std::to_string(n) + "-rank communicator");
        std::size_t sendBytes, recvBytes;
        extents(call, count * size(type), n, sendBytes, recvBytes);
        bool reads = std::string(call) != "ncclBroadcast" || c->rank == root;
        if ((recvBytes > 0 && !xdit_emu::in_device_memory(recv, recvBytes)) || (reads && sendBytes > 0 && !xdit_emu::in_device_memory(send, sendBytes)))
            return fail(c, ncclInvalidArgument, std::string(call) + ": a buffer is not inside a device allocation");

        std::unique_lock<std::mutex> lock(gate);
        Clique* q = c->clique;
        if (q->aborted) return fail(c, ncclRemoteError, std::string(call) + ": the communicator was aborted");
        const std::uint64_t seq = c->seq++;
        Collective& col = q->collectives[seq];
        if (col.arrived == 0)
        {
            col.call = call;
            col.count = count;
            col.type = type;
            col.op = op;
            col.root = root;
            col.send.assign(n, 0);
            col.recv.assign(n, 0);
        }
        else if (col.call != call || col.count != count || col.type != type || (col.call != "ncclAllGather" && col.call != "ncclBroadcast" && col.op != op) ||
                 col.root != root)
            col.error = "collective #" + std::to_string(seq) + ": rank " + std::to_string(c->rank) + " called " + call + " of " + std::to_string(count) +
                        " elements where another rank called " + col.call + " of " + std::to_string(col.count) + " (it would hang or corrupt NCCL)";
        col.send[c->rank] = send;
        col.recv[c->rank] = recv;
        if (++col.arrived == n)
        {
            if (col.error.empty()) compute(col, n);
            col.done = true;
            changed.notify_all();
        }
        int status = wait(lock, c, std::string(call) + " (collective #" + std::to_string(seq) + ")", [&] { return col.done; });
        if (status != ncclSuccess) return status;
        std::string error = col.error;
        if (++col.left == n) q->collectives.erase(seq);
        return error.empty() ? ncclSuccess : fail(c, ncclInvalidUsage, error);
    }

    int checkP2p(Comm* c, const char* call, std::uint64_t buffer, std::size_t count, int type, int peer)
    {
        if (!c) return fail(c, ncclInvalidArgument, std::string(call) + ": null communicator");
        if (peer < 0 || peer >= c->clique->size)
            return fail(c, ncclInvalidArgument, std::string(call) + ": peer " + std::to_string(peer) + " of a " + std::to_string(c->clique->size) + "-rank communicator");
        if (size(type) == 0) return fail(c, ncclInvalidArgument, std::string(call) + ": unknown data type " + std::to_string(type));
        std::size_t bytes = count * size(type);
        if (bytes > 0 && !xdit_emu::in_device_memory(buffer, bytes))
            return fail(c, ncclInvalidArgument, std::string(call) + ": the buffer is not inside a device allocation");
        return ncclSuccess;
    }

    // Runs one group's sends (all of them first: they never wait), then its receives, in call order.
    int runP2p(const std::vector<P2p>& ops)
    {
        std::unique_lock<std::mutex> lock(gate);
        for (const P2p& p : ops)
            if (p.send)
            {
                if (p.comm->clique->aborted) return fail(p.comm, ncclRemoteError, "ncclSend: the communicator was aborted");
                auto* b = (const unsigned char*)p.buffer;
                p.comm->clique->mail[{ p.comm->rank, p.peer }].emplace_back(b, b + p.bytes);
            }
        changed.notify_all();
        for (const P2p& p : ops)
        {
            if (p.send) continue;
            auto& box = p.comm->clique->mail[{ p.peer, p.comm->rank }];
            int status = wait(lock, p.comm, "ncclRecv from rank " + std::to_string(p.peer), [&] { return !box.empty(); });
            if (status != ncclSuccess) return status;
            std::vector<unsigned char> data = std::move(box.front());
            box.pop_front();
            if (data.size() != p.bytes)
                return fail(p.comm, ncclInvalidUsage, "a receive of " + std::to_string(p.bytes) + " bytes on rank " + std::to_string(p.comm->rank) +
                                                          " met a send of " + std::to_string(data.size()) + " from rank " + std::to_string(p.peer));
            std::memcpy((void*)p.buffer, data.data(), data.size());
        }
        return ncclSuccess;
    }

    int p2p(Comm* c, const char* call, std::uint64_t buffer, std::size_t count, int type, int peer, bool send)
    {
        int status = checkP2p(c, call, buffer, count, type, peer);
        if (status != ncclSuccess) return status;
        P2p op{ c, send, buffer, count * size(type), peer };
        if (groupDepth > 0)
        {
            groupOps.push_back(op);
            return ncclSuccess;
        }
        return runP2p({ op });
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
        std::lock_guard<std::mutex> hold(gate);
        std::memset(id, 0, 128);
        std::snprintf((char*)id, 128, "xdit-emulator-%llu", (unsigned long long)++ids);
        return ncclSuccess;
    }

    // ncclUniqueId is 128 bytes passed by value; on x86-64 that travels in memory, as this struct does.
    struct UniqueId
    {
        unsigned char internal[128];
    };

    int ncclCommInitRank(void** comm, int nranks, UniqueId id, int rank)
    {
        if (nranks < 1 || rank < 0 || rank >= nranks)
            return fail(nullptr, ncclInvalidArgument, "ncclCommInitRank: rank " + std::to_string(rank) + " of " + std::to_string(nranks));
        std::string key((const char*)id.internal, 128);
        std::unique_lock<std::mutex> lock(gate);
        Clique*& q = forming[key];
        if (!q)
        {
            q = new Clique();
            q->size = nranks;
            q->members.assign(nranks, nullptr);
        }
        Clique* clique = q;
        if (clique->size != nranks || clique->members[rank])
            return fail(nullptr, ncclInvalidUsage, "ncclCommInitRank: rank " + std::to_string(rank) + " of " + std::to_string(nranks) +
                                                       " does not fit the ranks that joined this unique id");
        auto* c = new Comm();
        c->clique = clique;
        c->rank = rank;
        clique->members[rank] = c;
        if (++clique->joined == nranks)
        {
            forming.erase(key);
            changed.notify_all();
        }
        int status = wait(lock, c, "the other ranks at ncclCommInitRank", [&] { return clique->joined == nranks; });
        if (status != ncclSuccess) return status;
        *comm = c;
        return ncclSuccess;
    }

    int ncclCommDestroy(void* comm)
    {
        if (!comm) return ncclInvalidArgument;
        auto* c = static_cast<Comm*>(comm);
        std::lock_guard<std::mutex> hold(gate);
        Clique* q = c->clique;
        if (q->aborted) return ncclSuccess;   // leaked on purpose: see ncclCommAbort
        if (++q->destroyed < q->size) return ncclSuccess;
        for (Comm* m : q->members) delete m;
        delete q;
        return ncclSuccess;
    }

    // Wakes everybody waiting in the communicator's clique; their calls, and every later one, fail.
    int ncclCommAbort(void* comm)
    {
        if (!comm) return ncclInvalidArgument;
        std::lock_guard<std::mutex> hold(gate);
        static_cast<Comm*>(comm)->clique->aborted = true;
        changed.notify_all();
        return ncclSuccess;
    }

    int ncclCommGetAsyncError(void* comm, int* asyncError)
    {
        if (!comm) return ncclInvalidArgument;
        std::lock_guard<std::mutex> hold(gate);
        *asyncError = static_cast<Comm*>(comm)->clique->aborted ? ncclRemoteError : ncclSuccess;
        return ncclSuccess;
    }

    const char* ncclGetErrorString(int r)
    {
        switch (r)
        {
            case ncclSuccess: return "no error";
            case ncclSystemError: return "unhandled system error";
            case ncclInvalidArgument: return "invalid argument";
            case ncclInvalidUsage: return "invalid usage";
            case ncclRemoteError: return "remote process exited or there was a network error";
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
        if (--groupDepth > 0) return ncclSuccess;
        std::vector<P2p> ops;
        ops.swap(groupOps);
        return ops.empty() ? ncclSuccess : runP2p(ops);
    }

    int ncclAllReduce(std::uint64_t send, std::uint64_t recv, std::size_t count, int type, int op, void* comm, void*)
    {
        return collective((Comm*)comm, "ncclAllReduce", send, recv, count, type, op, 0);
    }

    int ncclAllGather(std::uint64_t send, std::uint64_t recv, std::size_t count, int type, void* comm, void*)
    {
        return collective((Comm*)comm, "ncclAllGather", send, recv, count, type, ncclSum, 0);
    }

    int ncclReduceScatter(std::uint64_t send, std::uint64_t recv, std::size_t count, int type, int op, void* comm, void*)
    {
        return collective((Comm*)comm, "ncclReduceScatter", send, recv, count, type, op, 0);
    }

    int ncclBroadcast(std::uint64_t send, std::uint64_t recv, std::size_t count, int type, int root, void* comm, void*)
    {
        return collective((Comm*)comm, "ncclBroadcast", send, recv, count, type, ncclSum, root);
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

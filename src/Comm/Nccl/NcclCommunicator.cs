using XDit.Comm.Tcp;
using XDit.Kernels.Cuda;
using XDit.Runtime;
using XDit.Runtime.Cuda;

namespace XDit.Comm.Nccl;

/// <summary>
/// One rank's view of a group of GPUs (one rank per GPU, each its own process) over NCCL, on tensors of one
/// <see cref="CudaOps"/>. Every operation is enqueued on the ops' stream, so it is ordered with the kernels before
/// and after it and the host does not wait (Barrier excepted). Axes other than the first are handled by making the
/// split axis outermost (a permuted contiguous copy) so NCCL's flat chunks are the contract's chunks; AllToAll is
/// grouped ncclSend/ncclRecv (runtimes.md §5). Every NCCL status is checked; a watchdog aborts a run whose peer
/// died (see <see cref="NcclWorld"/>).
/// NCCL has no tags: point-to-point messages between two ranks match in call order whatever their tag, and a plain
/// Send to a peer that is itself sending may block until it receives: use <see cref="SendRecvAsync"/> for exchanges.
/// </summary>
public sealed class NcclCommunicator : ICommunicator, IDisposable
{
    readonly NcclWorld _world;
    readonly NcclGroup _group;
    readonly CudaOps _ops;
    readonly bool _ownsWorld;

    NcclCommunicator(NcclWorld world, NcclGroup group, int rank, bool ownsWorld)
    {
        _world = world;
        _group = group;
        _ops = world.Ops;
        Rank = rank;
        _ownsWorld = ownsWorld;
    }

    /// <summary>True when libnccl loads here; otherwise a one-line reason.</summary>
    public static bool IsAvailable(out string? reason) => NcclLibrary.IsAvailable(out reason);

    /// <summary>Makes the world communicator of this rank (collective: every rank calls it). Owns the rendezvous;
    /// <paramref name="opTimeout"/> is the watchdog's limit for one operation; <paramref name="silence"/> how long a
    /// peer may send no heartbeat while an operation waits (30 s by default).</summary>
    public static NcclCommunicator Connect(Rendezvous rendezvous, CudaOps ops, TimeSpan opTimeout, TimeSpan? silence = null)
    {
        try
        {
            NcclLibrary.Require();
            var world = new NcclWorld(rendezvous, ops, opTimeout, silence ?? NcclWorld.DefaultSilence);
            var comm = new NcclCommunicator(world, world.Group(Enumerable.Range(0, rendezvous.WorldSize).ToArray()), rendezvous.Rank, ownsWorld: true);
            try { world.Handle(comm._group, comm.Rank, "world communicator"); }
            catch { world.Dispose(); throw; }
            return comm;
        }
        catch
        {
            rendezvous.Dispose(); // idempotent: the world may have disposed it already
            throw;
        }
    }

    public int Rank { get; }
    public int Size => _group.WorldRanks.Length;
    public XDit.Kernels.IOps Ops => _ops;
    public IReadOnlyList<int> WorldRanks => _group.WorldRanks;
    public CommStats Stats => _world.Stats;

    public void AllReduce(Tensor t)
    {
        var (what, comm) = Begin("AllReduce");
        using var c = Dense(t);
        Check(NcclNative.ncclAllReduce(Ptr(c.T), Ptr(c.T), Count(c.T), DataType(t), NcclNative.Sum, comm, Stream), "ncclAllReduce", comm);
        CopyBack(t, c);
        _world.Enqueued(what);
        Stats.Record("AllReduce", 2 * (Size - 1) * Bytes(t) / Size);
    }

    public Tensor AllGather(Tensor input, int axis)
    {
        int a = input.NormAxis(axis);
        var sizes = GatherSizes(input.Dim(a));
        var (what, comm) = Begin("AllGather");
        Tensor result;
        if (sizes.All(s => s == sizes[0]))
        {
            // Gather along the outermost axis of the permuted copy, then put the axis back.
            var perm = Front(input.Rank, a);
            using var x = _ops.Contiguous(input.Permute(perm));
            var outDims = x.Dims;
            outDims[0] *= Size;
            using var gathered = _ops.Empty(input.DType, outDims);
            Check(NcclNative.ncclAllGather(Ptr(x), Ptr(gathered), Count(x), DataType(input), comm, Stream), "ncclAllGather", comm);
            result = _ops.Contiguous(gathered.Permute(Inverse(perm)));
        }
        else
        {
            // Sizes differ along the axis: every rank sends its whole tensor to every other (grouped P2P).
            using var mine = _ops.Contiguous(input);
            var parts = new Tensor[Size];
            try
            {
                for (int r = 0; r < Size; r++)
                {
                    var dims = input.Dims;
                    dims[a] = sizes[r];
                    parts[r] = r == Rank ? _ops.Contiguous(mine) : _ops.Empty(input.DType, dims);
                }
                Group(() =>
                {
                    for (int r = 0; r < Size; r++)
                    {
                        if (r == Rank) continue;
                        Check(NcclNative.ncclSend(Ptr(mine), Count(mine), DataType(input), r, comm, Stream), "ncclSend", comm);
                        Check(NcclNative.ncclRecv(Ptr(parts[r]), Count(parts[r]), DataType(input), r, comm, Stream), "ncclRecv", comm);
                    }
                }, comm);
                result = _ops.Concat(a, parts);
            }
            finally { foreach (var p in parts) p?.Dispose(); }
        }
        _world.Enqueued(what);
        Stats.Record("AllGather", (Size - 1) * Bytes(input));
        return result;
    }

    public Tensor ReduceScatter(Tensor input, int axis)
    {
        int a = input.NormAxis(axis);
        CommChecks.ReduceAxisSplits(input, a, Size);
        var (what, comm) = Begin("ReduceScatter");
        var perm = Front(input.Rank, a);
        using var x = _ops.Contiguous(input.Permute(perm));
        var outDims = x.Dims;
        outDims[0] /= Size;
        using var mine = _ops.Empty(input.DType, outDims);
        Check(NcclNative.ncclReduceScatter(Ptr(x), Ptr(mine), Count(mine), DataType(input), NcclNative.Sum, comm, Stream), "ncclReduceScatter", comm);
        var result = _ops.Contiguous(mine.Permute(Inverse(perm)));
        _world.Enqueued(what);
        Stats.Record("ReduceScatter", (Size - 1) * Bytes(input) / Size);
        return result;
    }

    public Tensor AllToAll(Tensor input, int scatterAxis, int gatherAxis)
    {
        int s = input.NormAxis(scatterAxis), g = input.NormAxis(gatherAxis);
        CommChecks.ScatterAxisSplits(input, s, Size, Rank, GroupLabel);
        var (what, comm) = Begin("AllToAll");
        var perm = Front(input.Rank, s);
        using var x = _ops.Contiguous(input.Permute(perm));   // chunk j = rows j·c.. of the outermost axis
        using var recv = _ops.Empty(input.DType, x.Dims);       // chunk from rank i lands in rows i·c..
        int c = x.Dim(0) / Size;
        _ops.Copy(recv.Slice(0, Rank * c, c), x.Slice(0, Rank * c, c));
        Group(() =>
        {
            for (int j = 0; j < Size; j++)
            {
                if (j == Rank) continue;
                var send = x.Slice(0, j * c, c);
                var into = recv.Slice(0, j * c, c);
                Check(NcclNative.ncclSend(Ptr(send), Count(send), DataType(input), j, comm, Stream), "ncclSend", comm);
                Check(NcclNative.ncclRecv(Ptr(into), Count(into), DataType(input), j, comm, Stream), "ncclRecv", comm);
            }
        }, comm);
        var inv = Inverse(perm);
        var parts = Enumerable.Range(0, Size).Select(i => recv.Slice(0, i * c, c).Permute(inv)).ToArray();
        var result = Size == 1 ? _ops.Contiguous(parts[0]) : _ops.Concat(g, parts);
        _world.Enqueued(what);
        Stats.Record("AllToAll", (Size - 1) * Bytes(input) / Size);
        return result;
    }

    public void Broadcast(Tensor t, int root)
    {
        CheckPeer(root, "Broadcast root");
        var (what, comm) = Begin("Broadcast");
        using var c = Dense(t);
        Check(NcclNative.ncclBroadcast(Ptr(c.T), Ptr(c.T), Count(c.T), DataType(t), root, comm, Stream), "ncclBroadcast", comm);
        CopyBack(t, c);
        _world.Enqueued(what);
        if (Rank == root) Stats.Record("Broadcast", (Size - 1) * Bytes(t));
    }

    /// <summary>An all-reduce of one float, then the host waits for the stream (under the watchdog).</summary>
    public void Barrier()
    {
        var (what, comm) = Begin("Barrier");
        using var one = _ops.Zeros(DType.F32, 1);
        Check(NcclNative.ncclAllReduce(Ptr(one), Ptr(one), 1, NcclNative.Float32, NcclNative.Sum, comm, Stream), "ncclAllReduce", comm);
        _world.Enqueued(what);
        _world.WaitStream(what);
    }

    public void Send(Tensor t, int dst, int tag = 0)
    {
        CheckPeer(dst, "Send destination");
        var what = $"Send from rank {Rank} to rank {dst} (tag {tag}) in group [{_group.Key}]";
        var comm = _world.Handle(_group, Rank, what);
        using var c = Dense(t);
        Check(NcclNative.ncclSend(Ptr(c.T), Count(c.T), DataType(t), dst, comm, Stream), "ncclSend", comm);
        _world.Enqueued(what);
        Stats.Record("Send", dst == Rank ? 0 : Bytes(t));
    }

    public void Recv(Tensor dst, int src, int tag = 0)
    {
        CheckPeer(src, "Recv source");
        var what = $"Recv on rank {Rank} from rank {src} (tag {tag}) in group [{_group.Key}]";
        var comm = _world.Handle(_group, Rank, what);
        using var c = Dense(dst);
        Check(NcclNative.ncclRecv(Ptr(c.T), Count(c.T), DataType(dst), src, comm, Stream), "ncclRecv", comm);
        CopyBack(dst, c);
        _world.Enqueued(what);
    }

    /// <summary>One NCCL group of a send and a receive; Wait orders the (non-contiguous) copy-back on the stream,
    /// which is all later kernels need: the data are there in stream order.</summary>
    public ICommRequest SendRecvAsync(Tensor send, int dst, Tensor recv, int src, int tag = 0)
    {
        CheckPeer(dst, "Send destination");
        CheckPeer(src, "Recv source");
        var what = $"SendRecv on rank {Rank} (to {dst}, from {src}, tag {tag}) in group [{_group.Key}]";
        var comm = _world.Handle(_group, Rank, what);
        var s = Dense(send);
        var r = Dense(recv);
        try
        {
            Group(() =>
            {
                Check(NcclNative.ncclSend(Ptr(s.T), Count(s.T), DataType(send), dst, comm, Stream), "ncclSend", comm);
                Check(NcclNative.ncclRecv(Ptr(r.T), Count(r.T), DataType(recv), src, comm, Stream), "ncclRecv", comm);
            }, comm);
        }
        catch { s.Dispose(); r.Dispose(); throw; }
        _world.Enqueued(what);
        Stats.Record("Send", dst == Rank ? 0 : Bytes(send));
        return new Pending(this, recv, s, r);
    }

    sealed class Pending(NcclCommunicator owner, Tensor recv, Temp s, Temp r) : ICommRequest
    {
        bool _done;
        public void Wait()
        {
            if (_done) return;
            _done = true;
            owner.CopyBack(recv, r);
            s.Dispose();
            r.Dispose();
        }
    }

    public ICommunicator Split(int[] ranks)
    {
        int me = CommChecks.SplitMember(ranks, Rank, Size, GroupLabel);
        // The NCCL communicator is made on the sub-group's first operation, which all its members reach together.
        return new NcclCommunicator(_world, _world.Group(ranks.Select(r => _group.WorldRanks[r]).ToArray()), me, ownsWorld: false);
    }

    /// <summary>Stops this rank's heartbeats, as a stopped process's stop: for tests of the silence detection.</summary>
    public bool HeartbeatsPaused { get => _world.HeartbeatsPaused; set => _world.HeartbeatsPaused = value; }

    /// <summary>Heartbeats this rank has seen from <paramref name="worldRank"/>.</summary>
    public long HeartbeatsFrom(int worldRank) => _world.HeartbeatsFrom(worldRank);

    public void Dispose()
    {
        if (_ownsWorld) _world.Dispose();
    }

    public override string ToString() => $"nccl rank {Rank}/{Size} of group [{_group.Key}] on {_ops.Name}";

    // ---- plumbing ----

    nint Stream => _ops.Stream.Handle;

    (string What, nint Comm) Begin(string op)
    {
        var what = $"{op} #{_group.NextSeq()} on rank {Rank} of group [{_group.Key}]";
        var comm = _world.Handle(_group, Rank, what);
        _ops.Context.MakeCurrent();
        _world.Entering(what);
        return (what, comm);
    }

    /// <summary>NcclCheck.Ok, except that a call the watchdog's abort made fail reports the abort's reason (a silent
    /// peer, a timeout) rather than NCCL's bare error.</summary>
    void Check(int result, string call, nint comm = 0)
    {
        if (result == NcclNative.Success) return;
        _world.CallFailed();
        _world.ThrowIfAborted(call);
        NcclCheck.Ok(result, call, comm);
    }

    /// <summary>Sizes of every member's tensor along the gathered axis (an all-gather of one float32 each: exact
    /// below 2^24), read back to the host.</summary>
    int[] GatherSizes(int mine)
    {
        if (Size == 1) return [mine];
        var (what, comm) = Begin("AllGather(sizes)");
        using var host = Tensor.FromArray([mine], 1);
        using var one = _ops.Upload(host);
        using var all = _ops.Empty(DType.F32, Size);
        Check(NcclNative.ncclAllGather(Ptr(one), Ptr(all), 1, NcclNative.Float32, comm, Stream), "ncclAllGather", comm);
        _world.Enqueued(what);
        return _ops.ToHost(all).Select(v => (int)v).ToArray();
    }

    void Group(Action calls, nint comm)
    {
        Check(NcclNative.ncclGroupStart(), "ncclGroupStart", comm);
        try { calls(); }
        finally { Check(NcclNative.ncclGroupEnd(), "ncclGroupEnd", comm); }
    }

    /// <summary>The tensor itself when contiguous, else a contiguous copy (written back by <see cref="CopyBack"/>).</summary>
    Temp Dense(Tensor t)
    {
        if (t.IsContiguous) return new Temp(t, null);
        var copy = _ops.Contiguous(t);
        return new Temp(copy, copy);
    }

    void CopyBack(Tensor t, Temp c)
    {
        if (!ReferenceEquals(t, c.T)) _ops.Copy(t, c.T);
    }

    readonly struct Temp(Tensor t, Tensor? owned) : IDisposable
    {
        public Tensor T { get; } = t;
        readonly Tensor? _owned = owned;
        public void Dispose() => _owned?.Dispose();
    }

    static ulong Ptr(Tensor t)
    {
        if (t.Storage is not CudaStorage cs)
            throw new ArgumentException($"NCCL needs GPU tensors; {t} lives in {t.Storage.GetType().Name}");
        if (!t.IsContiguous) throw new ArgumentException($"NCCL needs a contiguous buffer; {t} is a strided view");
        return cs.Pointer + (ulong)(t.Offset * t.DType.SizeOf());
    }

    static nuint Count(Tensor t) => (nuint)t.NumElements;

    static int DataType(Tensor t) => t.DType switch
    {
        DType.F32 => NcclNative.Float32,
        DType.F16 => NcclNative.Float16,
        DType.BF16 => NcclNative.Bfloat16,
        _ => throw new NotSupportedException($"NCCL collectives here carry F32, F16 or BF16 tensors, not {t.DType}"),
    };

    /// <summary>The permutation that moves <paramref name="axis"/> to the front, keeping the others in order.</summary>
    static int[] Front(int rank, int axis) => [axis, .. Enumerable.Range(0, rank).Where(i => i != axis)];

    static int[] Inverse(int[] perm)
    {
        var inv = new int[perm.Length];
        for (int i = 0; i < perm.Length; i++) inv[perm[i]] = i;
        return inv;
    }

    void CheckPeer(int r, string what) => CommChecks.Peer(r, Size, what, GroupLabel);

    /// <summary>How messages name this communicator's group (made once: the checks run on every call).</summary>
    string GroupLabel => _groupLabel ??= $"group [{_group.Key}]";
    string? _groupLabel;

    static long Bytes(Tensor t) => CommChecks.Bytes(t);
}

using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Comm.Tcp;

/// <summary>
/// One rank's view of a group of ranks in separate processes (or threads), talking over the <see cref="TcpWorld"/>'s
/// sockets. Tensors travel as float32 host copies. Collectives are direct exchanges: every member sends each other
/// member what it needs, then receives (the peers' reader threads buffer, so the order never deadlocks). AllReduce
/// is reduce-scatter + all-gather with each chunk summed in rank order, so every rank gets the same bits as
/// <see cref="InProcessWorld"/>. A peer that closes fails the waiting call at once; one that sends nothing for
/// <see cref="TcpWorld.OpTimeout"/> fails it with <see cref="CommTimeoutException"/>; both name the op and the peer.
/// </summary>
public sealed class TcpCommunicator : ICommunicator, IDisposable
{
    readonly TcpWorld _world;
    readonly TcpGroup _group;
    readonly bool _ownsWorld;

    internal TcpCommunicator(TcpWorld world, TcpGroup group, int rank, IOps ops, bool ownsWorld)
    {
        _world = world;
        _group = group;
        Rank = rank;
        Ops = ops;
        _ownsWorld = ownsWorld;
    }

    /// <summary>Joins the run described by <paramref name="options"/> and returns the world communicator.</summary>
    public static TcpCommunicator Connect(RendezvousOptions options, IOps ops, TimeSpan? opTimeout = null) =>
        TcpWorld.Connect(Rendezvous.Join(options), opTimeout).Communicator(ops);

    public int Rank { get; }
    public int Size => _group.WorldRanks.Length;
    public IOps Ops { get; }
    public IReadOnlyList<int> WorldRanks => _group.WorldRanks;
    public CommStats Stats => _world.Stats;
    public TcpWorld World => _world;

    // ---- collectives ----

    public void AllReduce(Tensor t)
    {
        var what = Begin("AllReduce", out var key);
        var mine = Ops.ToHost(t);
        var dims = t.Dims;
        // Phase 1 (reduce-scatter): chunk j of the flat values goes to rank j, which sums its chunk in rank order.
        for (int j = 0; j < Size; j++)
            if (j != Rank) SendTo(j, new TcpMessage(key, "AllReduce", dims, Chunk(mine, j).ToArray()), what);
        var (lo, hi) = Bounds(mine.Length, Rank);
        var acc = new float[hi - lo];
        for (int r = 0; r < Size; r++)
        {
            ReadOnlySpan<float> part = r == Rank ? Chunk(mine, r) : Receive(r, key, "AllReduce", what, dims, -1).Data;
            if (r == 0) part.CopyTo(acc);
            else for (int i = 0; i < acc.Length; i++) acc[i] += part[i];
        }
        // Phase 2 (all-gather) of the summed chunks.
        var what2 = Begin("AllReduce", out var key2);
        for (int j = 0; j < Size; j++)
            if (j != Rank) SendTo(j, new TcpMessage(key2, "AllReduce", dims, acc), what2);
        var sum = new float[mine.Length];
        for (int r = 0; r < Size; r++)
        {
            var (a, b) = Bounds(mine.Length, r);
            var part = r == Rank ? acc : Receive(r, key2, "AllReduce", what2, dims, -1).Data;
            if (part.Length != b - a) throw new InvalidDataException($"{what2}: rank {r} sent {part.Length} values for a chunk of {b - a}");
            part.CopyTo(sum.AsSpan(a));
        }
        Stats.Record("AllReduce", 2 * (Size - 1) * Bytes(t) / Size);
        using var result = HostUpload.As(Ops, sum, dims, t.DType);
        Ops.Copy(t, result);
    }

    public Tensor AllGather(Tensor input, int axis)
    {
        int a = input.NormAxis(axis);
        var what = Begin("AllGather", out var key);
        var mine = new TcpMessage(key, "AllGather", input.Dims, Ops.ToHost(input));
        for (int j = 0; j < Size; j++) if (j != Rank) SendTo(j, mine, what);
        var parts = new TcpMessage[Size];
        for (int r = 0; r < Size; r++) parts[r] = r == Rank ? mine : Receive(r, key, "AllGather", what, mine.Dims, a);
        Stats.Record("AllGather", (Size - 1) * Bytes(input));
        return Concat(a, parts.Select(p => (p.Dims, p.Data)).ToArray(), input.DType);
    }

    public Tensor ReduceScatter(Tensor input, int axis)
    {
        int a = input.NormAxis(axis);
        CommChecks.ReduceAxisSplits(input, a, Size);
        var what = Begin("ReduceScatter", out var key);
        var dims = input.Dims;
        using var host = Tensor.FromArray(Ops.ToHost(input), dims);
        int c = dims[a] / Size;
        for (int j = 0; j < Size; j++)
            if (j != Rank) SendTo(j, new TcpMessage(key, "ReduceScatter", dims, host.Slice(a, j * c, c).ToFloatArray()), what);
        float[]? acc = null;
        for (int r = 0; r < Size; r++)
        {
            var part = r == Rank ? host.Slice(a, Rank * c, c).ToFloatArray() : Receive(r, key, "ReduceScatter", what, dims, -1).Data;
            if (acc is null) acc = part;
            else for (int i = 0; i < acc.Length; i++) acc[i] += part[i];
        }
        Stats.Record("ReduceScatter", (Size - 1) * Bytes(input) / Size);
        var outDims = (int[])dims.Clone();
        outDims[a] = c;
        return HostUpload.As(Ops, acc!, outDims, input.DType);
    }

    public Tensor AllToAll(Tensor input, int scatterAxis, int gatherAxis)
    {
        int s = input.NormAxis(scatterAxis), g = input.NormAxis(gatherAxis);
        CommChecks.ScatterAxisSplits(input, s, Size, Rank, GroupLabel);
        var what = Begin("AllToAll", out var key);
        var dims = input.Dims;
        using var host = Tensor.FromArray(Ops.ToHost(input), dims);
        int c = dims[s] / Size;
        for (int j = 0; j < Size; j++)
            if (j != Rank) SendTo(j, new TcpMessage(key, "AllToAll", dims, host.Slice(s, j * c, c).ToFloatArray()), what);
        var chunkDims = (int[])dims.Clone();
        chunkDims[s] = c;
        var parts = new (int[], float[])[Size];
        for (int r = 0; r < Size; r++)
            parts[r] = (chunkDims, r == Rank ? host.Slice(s, Rank * c, c).ToFloatArray() : Receive(r, key, "AllToAll", what, dims, -1).Data);
        Stats.Record("AllToAll", (Size - 1) * Bytes(input) / Size);
        return Concat(g, parts, input.DType);
    }

    public void Broadcast(Tensor t, int root)
    {
        CheckPeer(root, "Broadcast root");
        var what = Begin("Broadcast", out var key);
        if (Rank == root)
        {
            var m = new TcpMessage(key, "Broadcast", t.Dims, Ops.ToHost(t));
            for (int j = 0; j < Size; j++) if (j != Rank) SendTo(j, m, what);
            Stats.Record("Broadcast", (Size - 1) * Bytes(t));
            return;
        }
        var got = Receive(root, key, "Broadcast", what, null, -1);
        if (!Shape.Equal(got.Dims, t.ShapeSpan))
            throw new ArgumentException($"Broadcast in group {_group.Name}: root {root} sent {Shape.Format(got.Dims)} but rank {Rank} expects {Shape.Format(t.ShapeSpan)}");
        using var tmp = HostUpload.As(Ops, got.Data, got.Dims, t.DType);
        Ops.Copy(t, tmp);
    }

    public void Barrier()
    {
        var what = Begin("Barrier", out var key);
        var m = new TcpMessage(key, "Barrier", [], []);
        for (int j = 0; j < Size; j++) if (j != Rank) SendTo(j, m, what);
        for (int r = 0; r < Size; r++) if (r != Rank) Receive(r, key, "Barrier", what, null, -1);
    }

    // ---- point to point ----

    public void Send(Tensor t, int dst, int tag = 0)
    {
        CheckPeer(dst, "Send destination");
        var what = $"Send from rank {Rank} to rank {dst} (tag {tag}) in group {_group.Name}";
        SendTo(dst, new TcpMessage(new MailKey(MailKey.PointToPoint, _group.Id, tag), "Send", t.Dims, Ops.ToHost(t)), what);
        Stats.Record("Send", dst == Rank ? 0 : Bytes(t));
    }

    public void Recv(Tensor dst, int src, int tag = 0)
    {
        CheckPeer(src, "Recv source");
        var what = $"Recv on rank {Rank} from rank {src} (tag {tag}) in group {_group.Name}";
        var m = Take(src, new MailKey(MailKey.PointToPoint, _group.Id, tag), what);
        if (!Shape.Equal(m.Dims, dst.ShapeSpan))
            throw new ArgumentException($"{what}: received {Shape.Format(m.Dims)} into a buffer of {Shape.Format(dst.ShapeSpan)}");
        using var tmp = HostUpload.As(Ops, m.Data, m.Dims, dst.DType);
        Ops.Copy(dst, tmp);
    }

    /// <summary>The send is written to the socket now (the peer's reader buffers it); the receive completes in Wait.</summary>
    public ICommRequest SendRecvAsync(Tensor send, int dst, Tensor recv, int src, int tag = 0)
    {
        Send(send, dst, tag);
        CheckPeer(src, "Recv source");
        return new PendingRecv(this, recv, src, tag);
    }

    sealed class PendingRecv(TcpCommunicator comm, Tensor recv, int src, int tag) : ICommRequest
    {
        bool _done;
        public void Wait()
        {
            if (_done) return;
            comm.Recv(recv, src, tag);
            _done = true;
        }
    }

    public ICommunicator Split(int[] ranks)
    {
        int me = CommChecks.SplitMember(ranks, Rank, Size, GroupLabel);
        return new TcpCommunicator(_world, _world.Group(ranks.Select(r => _group.WorldRanks[r]).ToArray()), me, Ops, ownsWorld: false);
    }

    /// <summary>The world communicator closes the world (every peer's pending call fails at once); a sub-group's does nothing.</summary>
    public void Dispose()
    {
        if (_ownsWorld) _world.Dispose();
    }

    public override string ToString() => $"tcp rank {Rank}/{Size} of group {_group.Name}";

    // ---- plumbing ----

    string Begin(string op, out MailKey key)
    {
        long seq = _group.NextSeq();
        key = new MailKey(MailKey.Collective, _group.Id, seq);
        return $"{op} #{seq} on rank {Rank} of group {_group.Name}";
    }

    string PeerName(int groupRank) =>
        _group.WorldRanks.Length == _world.Size && _group.WorldRanks[groupRank] == groupRank
            ? $"rank {groupRank}"
            : $"rank {groupRank} (world rank {_group.WorldRanks[groupRank]})";

    void SendTo(int groupRank, TcpMessage m, string what) => _world.Link(_group.WorldRanks[groupRank]).Send(m, what, PeerName(groupRank));

    TcpMessage Take(int groupRank, MailKey key, string what)
    {
        var timeout = _world.OpTimeout;
        return _world.Link(_group.WorldRanks[groupRank]).Take(key, DateTime.UtcNow + timeout, timeout, what, PeerName(groupRank), _world.Silence);
    }

    /// <summary>The peer's part of the current collective, checked: same op, and its shape equal to
    /// <paramref name="expect"/> except along <paramref name="freeAxis"/> (null: no check).</summary>
    TcpMessage Receive(int groupRank, MailKey key, string op, string what, int[]? expect, int freeAxis)
    {
        var m = Take(groupRank, key, what);
        if (m.Op != op)
            throw new InvalidOperationException($"{what}: rank {groupRank} called {m.Op} as its collective #{key.Id}: every rank must call the same collectives in the same order");
        if (expect is not null)
        {
            bool ok = m.Dims.Length == expect.Length;
            for (int i = 0; ok && i < expect.Length; i++) ok = i == freeAxis || m.Dims[i] == expect[i];
            if (!ok)
                throw new ArgumentException($"{op} in group {_group.Name}: rank {groupRank} passed {Shape.Format(m.Dims)} but rank {Rank} passed {Shape.Format(expect)}" +
                                            (freeAxis >= 0 ? $" (only axis {freeAxis} may differ)" : ""));
        }
        return m;
    }

    (int Lo, int Hi) Bounds(int length, int r) => ((int)((long)length * r / Size), (int)((long)length * (r + 1) / Size));

    ReadOnlySpan<float> Chunk(float[] data, int r)
    {
        var (lo, hi) = Bounds(data.Length, r);
        return data.AsSpan(lo, hi - lo);
    }

    Tensor Concat(int axis, (int[] Dims, float[] Data)[] parts, DType dtype)
    {
        var uploaded = new Tensor[parts.Length];
        try
        {
            for (int i = 0; i < parts.Length; i++) uploaded[i] = HostUpload.As(Ops, parts[i].Data, parts[i].Dims, dtype);
            return uploaded.Length == 1 ? Ops.Contiguous(uploaded[0]) : Ops.Concat(axis, uploaded);
        }
        finally { foreach (var u in uploaded) u?.Dispose(); }
    }

    void CheckPeer(int r, string what) => CommChecks.Peer(r, Size, what, GroupLabel);

    /// <summary>How messages name this communicator's group (made once: the checks run on every call).</summary>
    string GroupLabel => _groupLabel ??= $"group {_group.Name}";
    string? _groupLabel;

    static long Bytes(Tensor t) => CommChecks.Bytes(t);
}

using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Comm;

/// <summary>
/// One rank's view of an <see cref="InProcessGroup"/>. Each contribution is copied to host memory by the sender
/// and copied again onto the receiver's backend, so ranks never share a buffer. Shapes are checked after the
/// exchange on every rank, so a mismatch fails on all of them with the same message.
/// </summary>
sealed class InProcessCommunicator : ICommunicator
{
    readonly InProcessWorld _world;
    readonly InProcessGroup _group;

    public InProcessCommunicator(InProcessWorld world, InProcessGroup group, int rank, IOps ops)
    {
        _world = world;
        _group = group;
        Rank = rank;
        Ops = ops;
    }

    public int Rank { get; }
    public int Size => _group.Size;
    public IOps Ops { get; }
    public IReadOnlyList<int> WorldRanks => _group.WorldRanks;
    public CommStats Stats => _world.Stats(_group.WorldRanks[Rank]);

    public void AllReduce(Tensor t)
    {
        var items = _group.Exchange(Rank, "AllReduce", HostCopy(t));
        SameShapes("AllReduce", items, -1);
        Stats.Record("AllReduce", 2 * (Size - 1) * Bytes(t) / Size);
        using var sum = HostUpload.As(Ops, Sum(items), t.Dims, t.DType);
        Ops.Copy(t, sum);
    }

    public Tensor AllGather(Tensor input, int axis)
    {
        int a = input.NormAxis(axis);
        var items = _group.Exchange(Rank, "AllGather", HostCopy(input));
        SameShapes("AllGather", items, a);
        Stats.Record("AllGather", (Size - 1) * Bytes(input));
        return ConcatUploads(a, items.Select(x => x!).ToArray(), input.DType);
    }

    public Tensor ReduceScatter(Tensor input, int axis)
    {
        int a = input.NormAxis(axis);
        CommChecks.ReduceAxisSplits(input, a, Size);
        var items = _group.Exchange(Rank, "ReduceScatter", HostCopy(input));
        SameShapes("ReduceScatter", items, -1);
        Stats.Record("ReduceScatter", (Size - 1) * Bytes(input) / Size);
        using var sum = Tensor.FromArray(Sum(items), input.Dims);
        int c = input.Dim(a) / Size;
        return HostUpload.As(Ops, sum.Slice(a, Rank * c, c), input.DType);
    }

    public Tensor AllToAll(Tensor input, int scatterAxis, int gatherAxis)
    {
        int s = input.NormAxis(scatterAxis), g = input.NormAxis(gatherAxis);
        CommChecks.ScatterAxisSplits(input, s, Size, Rank, GroupLabel);
        var items = _group.Exchange(Rank, "AllToAll", HostCopy(input));
        SameShapes("AllToAll", items, -1);
        Stats.Record("AllToAll", (Size - 1) * Bytes(input) / Size);
        int c = input.Dim(s) / Size;
        return ConcatUploads(g, items.Select(x => x!.Slice(s, Rank * c, c)).ToArray(), input.DType);
    }

    public void Broadcast(Tensor t, int root)
    {
        CheckPeer(root, "Broadcast root");
        var items = _group.Exchange(Rank, "Broadcast", Rank == root ? HostCopy(t) : null);
        var src = items[root]!;
        if (!Shape.Equal(src.ShapeSpan, t.ShapeSpan))
            throw new ArgumentException($"Broadcast in group {_group.Name}: root {root} sent {Shape.Format(src.ShapeSpan)} but rank {Rank} expects {Shape.Format(t.ShapeSpan)}");
        if (Rank == root) { Stats.Record("Broadcast", (Size - 1) * Bytes(t)); return; }
        using var tmp = HostUpload.As(Ops, src, t.DType);
        Ops.Copy(t, tmp);
    }

    public void Barrier() => _group.Exchange(Rank, "Barrier", null);

    public void Send(Tensor t, int dst, int tag = 0)
    {
        CheckPeer(dst, "Send destination");
        _group.Post(Rank, dst, tag, HostCopy(t));
        Stats.Record("Send", dst == Rank ? 0 : Bytes(t));
    }

    public void Recv(Tensor dst, int src, int tag = 0)
    {
        CheckPeer(src, "Recv source");
        var m = _group.Take(src, Rank, tag);
        if (!Shape.Equal(m.ShapeSpan, dst.ShapeSpan))
            throw new ArgumentException($"Recv on rank {Rank} from rank {src} (tag {tag}) in group {_group.Name}: received {Shape.Format(m.ShapeSpan)} into a buffer of {Shape.Format(dst.ShapeSpan)}");
        using var tmp = HostUpload.As(Ops, m, dst.DType);
        Ops.Copy(dst, tmp);
    }

    /// <summary>Sends are buffered here, so the send goes out now and the receive waits in <see cref="ICommRequest.Wait"/>.</summary>
    public ICommRequest SendRecvAsync(Tensor send, int dst, Tensor recv, int src, int tag = 0)
    {
        Send(send, dst, tag);
        CheckPeer(src, "Recv source");
        return new PendingRecv(this, recv, src, tag);
    }

    public ICommunicator Split(int[] ranks)
    {
        int me = CommChecks.SplitMember(ranks, Rank, Size, GroupLabel);
        var sub = _world.Group(ranks.Select(r => _group.WorldRanks[r]).ToArray());
        return new InProcessCommunicator(_world, sub, me, Ops);
    }

    public override string ToString() => $"in-process rank {Rank}/{Size} of group {_group.Name}";

    sealed class PendingRecv(InProcessCommunicator comm, Tensor recv, int src, int tag) : ICommRequest
    {
        bool _done;
        public void Wait()
        {
            if (_done) return;
            comm.Recv(recv, src, tag);
            _done = true;
        }
    }

    void CheckPeer(int r, string what) => CommChecks.Peer(r, Size, what, GroupLabel);

    /// <summary>How messages name this communicator's group (made once: the checks run on every call).</summary>
    string GroupLabel => _groupLabel ??= $"group {_group.Name}";
    string? _groupLabel;

    static long Bytes(Tensor t) => CommChecks.Bytes(t);

    Tensor HostCopy(Tensor t) => Tensor.FromArray(Ops.ToHost(t), t.Dims);

    Tensor ConcatUploads(int axis, Tensor[] hostParts, DType dtype)
    {
        var parts = new Tensor[hostParts.Length];
        try
        {
            for (int i = 0; i < parts.Length; i++) parts[i] = HostUpload.As(Ops, hostParts[i], dtype);
            return parts.Length == 1 ? Ops.Contiguous(parts[0]) : Ops.Concat(axis, parts);
        }
        finally { foreach (var p in parts) p?.Dispose(); }
    }

    /// <summary>Sum in rank order, so every rank computes bit-identical values.</summary>
    static float[] Sum(Tensor?[] items)
    {
        var acc = items[0]!.Span<float>().ToArray();
        for (int r = 1; r < items.Length; r++)
        {
            var x = items[r]!.Span<float>();
            for (int i = 0; i < acc.Length; i++) acc[i] += x[i];
        }
        return acc;
    }

    /// <summary>Every member's shape must match this rank's except along <paramref name="freeAxis"/> (−1: none).</summary>
    void SameShapes(string op, Tensor?[] items, int freeAxis)
    {
        var mine = items[Rank]!.ShapeSpan;
        for (int r = 0; r < items.Length; r++)
        {
            var other = items[r]!.ShapeSpan;
            bool ok = other.Length == mine.Length;
            for (int i = 0; ok && i < mine.Length; i++) ok = i == freeAxis || other[i] == mine[i];
            if (!ok)
                throw new ArgumentException($"{op} in group {_group.Name}: rank {r} passed {Shape.Format(other)} but rank {Rank} passed {Shape.Format(mine)}" +
                                            (freeAxis >= 0 ? $" (only axis {freeAxis} may differ)" : ""));
        }
    }
}

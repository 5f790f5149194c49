using XDit.Comm.Tcp;
using XDit.Kernels.Cuda;
using XDit.Runtime.Cuda;

namespace XDit.Comm.Nccl;

/// <summary>
/// One rank's NCCL state: its device's op set, the rendezvous that carries each group's unique id, one NCCL
/// communicator per group (made on the group's first operation, which every member reaches at a matching point),
/// and the watchdog. The watchdog thread polls ncclCommGetAsyncError and the event recorded after the last
/// enqueued operation; an NCCL error, or an operation that makes no progress for <see cref="OpTimeout"/>, aborts
/// every communicator (ncclCommAbort makes the stuck kernels return) and every later call throws
/// <see cref="CommAbortedException"/> naming the operation.
/// </summary>
sealed class NcclWorld : IDisposable
{
    static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(100);

    readonly Dictionary<string, NcclGroup> _groups = new();
    readonly object _gate = new();
    readonly Thread _watchdog;
    readonly CudaEvent _lastOp;
    string? _pendingOp;
    DateTime _pendingSince;
    string? _abortReason;
    bool _disposed;

    public NcclWorld(Rendezvous rendezvous, CudaOps ops, TimeSpan opTimeout)
    {
        Rendezvous = rendezvous;
        Ops = ops;
        OpTimeout = opTimeout;
        ops.Context.MakeCurrent();
        _lastOp = new CudaEvent();
        _watchdog = new Thread(Watch) { IsBackground = true, Name = $"xdit-nccl-watchdog-{rendezvous.Rank}" };
        _watchdog.Start();
    }

    public Rendezvous Rendezvous { get; }
    public CudaOps Ops { get; }
    public TimeSpan OpTimeout { get; }
    public int Rank => Rendezvous.Rank;
    public int Size => Rendezvous.WorldSize;
    public CommStats Stats { get; } = new();

    public NcclGroup Group(int[] worldRanks)
    {
        var key = string.Join(",", worldRanks);
        lock (_gate)
        {
            if (!_groups.TryGetValue(key, out var g)) _groups[key] = g = new NcclGroup(worldRanks);
            return g;
        }
    }

    /// <summary>The group's NCCL communicator, made now if this is its first use: its first member makes the
    /// unique id and publishes it at the store under the group's member list, the others read it.</summary>
    public unsafe nint Handle(NcclGroup g, int groupRank, string what)
    {
        ThrowIfAborted(what);
        // Every operation comes through here: Send/Recv/SendRecvAsync on a contiguous tensor make no other CUDA call
        // that would set the context before ncclSend/ncclRecv and the event record on this thread.
        Ops.Context.MakeCurrent();
        if (g.Handle != 0) return g.Handle;
        NcclUniqueId id;
        string key = $"nccl-id/{g.Key}";
        if (groupRank == 0)
        {
            NcclCheck.Ok(NcclNative.ncclGetUniqueId(&id), "ncclGetUniqueId");
            Rendezvous.Publish(key, id.ToArray());
        }
        else id = NcclUniqueId.FromBytes(Rendezvous.Read(key, g.WorldRanks[0]));
        nint comm;
        NcclCheck.Ok(NcclNative.ncclCommInitRank(&comm, g.WorldRanks.Length, id, groupRank), $"ncclCommInitRank ({what})");
        lock (_gate) g.Handle = comm;
        return comm;
    }

    /// <summary>Records that <paramref name="what"/> was just enqueued on the ops' stream: the watchdog times it from now.</summary>
    public void Enqueued(string what)
    {
        _lastOp.Record(Ops.Stream);
        lock (_gate)
        {
            _pendingOp = what;
            _pendingSince = DateTime.UtcNow;
        }
    }

    public void ThrowIfAborted(string what)
    {
        lock (_gate)
        {
            if (_disposed) throw new CommAbortedException($"{what}: this rank's NCCL communicator was disposed", null);
            if (_abortReason is not null) throw new CommAbortedException($"{what}: NCCL was aborted: {_abortReason}", null);
        }
    }

    /// <summary>Blocks the host until the stream has run everything queued (Barrier), failing instead of hanging
    /// when the watchdog aborts.</summary>
    public void WaitStream(string what)
    {
        Ops.Context.MakeCurrent();
        try { Ops.Stream.Synchronize(); }
        catch (CudaException) when (AbortReason is not null) { }
        ThrowIfAborted(what);
    }

    string? AbortReason { get { lock (_gate) return _abortReason; } }

    unsafe void Watch()
    {
        Ops.Context.MakeCurrent();
        while (true)
        {
            Thread.Sleep(Poll); // a polling period, not a synchronisation: nothing waits on this thread
            string? reason = null;
            lock (_gate)
            {
                if (_disposed || _abortReason is not null) return;
                foreach (var g in _groups.Values.Where(g => g.Handle != 0))
                {
                    int asyncError = 0;
                    int rc = NcclNative.ncclCommGetAsyncError(g.Handle, &asyncError);
                    int err = rc != NcclNative.Success ? rc : asyncError;
                    if (err is not (NcclNative.Success or NcclNative.InProgress))
                    {
                        reason = $"group [{g.Key}] reported {NcclCheck.Name(err)} ({NcclCheck.Describe(err, g.Handle)}) during {_pendingOp ?? "setup"}";
                        break;
                    }
                }
                if (reason is null && _pendingOp is not null)
                {
                    if (CudaQuery.cuEventQuery(_lastOp.Handle) == CudaQuery.NotReady)
                    {
                        if (DateTime.UtcNow - _pendingSince > OpTimeout)
                            reason = $"{_pendingOp} made no progress for {OpTimeout.TotalSeconds:0.#} s (a peer died, or never called it)";
                    }
                    else _pendingOp = null;
                }
                if (reason is not null) _abortReason = reason;
            }
            if (reason is not null)
            {
                Console.Error.WriteLine($"xdit: NCCL watchdog on rank {Rank}: {reason}; aborting");
                foreach (var g in _groups.Values.Where(g => g.Handle != 0)) NcclNative.ncclCommAbort(g.Handle);
                return;
            }
        }
    }

    public void Dispose()
    {
        bool aborted;
        lock (_gate)
        {
            if (_disposed) return;
            aborted = _abortReason is not null;
            _disposed = true;
        }
        _watchdog.Join(TimeSpan.FromSeconds(5));
        Ops.Context.MakeCurrent();
        foreach (var g in _groups.Values.Where(g => g.Handle != 0))
        {
            // Destroy waits for the queued work; after an abort the handles are already gone.
            if (!aborted) NcclNative.ncclCommDestroy(g.Handle);
            g.Handle = 0;
        }
        _lastOp.Dispose();
        Rendezvous.Dispose();
    }
}

/// <summary>A group's member list and, once made, its NCCL communicator.</summary>
sealed class NcclGroup(int[] worldRanks)
{
    public int[] WorldRanks { get; } = worldRanks;
    public string Key { get; } = string.Join(",", worldRanks);
    public nint Handle { get; set; }
    long _seq = -1;
    public long NextSeq() => Interlocked.Increment(ref _seq);
}

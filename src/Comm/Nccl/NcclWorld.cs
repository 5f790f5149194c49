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
/// A heartbeat thread publishes a counter at the rendezvous store every <see cref="Silence"/> / 6 and reads the
/// peers' (NCCL itself has no way to tell a stopped peer from a slow one): when an operation has waited longer than
/// the silence limit and a peer's counter has not moved for that long, the watchdog aborts naming that peer, well
/// before <see cref="OpTimeout"/>; a peer busy in a long step keeps beating and is waited for.
/// </summary>
sealed class NcclWorld : IDisposable
{
    static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(100);
    /// <summary>How long a peer may send no heartbeat while an operation waits on it (as TcpWorld's default).</summary>
    public static readonly TimeSpan DefaultSilence = TimeSpan.FromSeconds(30);

    readonly Dictionary<string, NcclGroup> _groups = new();
    readonly object _gate = new();
    readonly Thread _watchdog;
    readonly CudaEvent _lastOp;
    string? _pendingOp;
    string? _inCall;           // an NCCL call entered and not yet returned (an emulated collective blocks in it)
    DateTime _pendingSince;
    readonly Thread _heart;
    readonly RendezvousClient _beatClient;   // its own connection: a long Read at setup must not delay the beats
    readonly long[] _peerBeat, _heartbeats;
    readonly DateTime[] _peerHeard;
    string? _abortReason;
    bool _disposed;

    public NcclWorld(Rendezvous rendezvous, CudaOps ops, TimeSpan opTimeout, TimeSpan silence)
    {
        Rendezvous = rendezvous;
        Ops = ops;
        OpTimeout = opTimeout;
        Silence = silence;
        ops.Context.MakeCurrent();
        var o = rendezvous.Options;
        _beatClient = RendezvousClient.Connect(o.MasterAddr, rendezvous.StorePort, o.Timeout, $"rank {o.Rank} heartbeat");
        _peerBeat = new long[rendezvous.WorldSize];
        _heartbeats = new long[rendezvous.WorldSize];
        _peerHeard = Enumerable.Repeat(DateTime.UtcNow, rendezvous.WorldSize).ToArray();
        _lastOp = new CudaEvent();
        _watchdog = new Thread(Watch) { IsBackground = true, Name = $"xdit-nccl-watchdog-{rendezvous.Rank}" };
        _watchdog.Start();
        _heart = new Thread(Beat) { IsBackground = true, Name = $"xdit-nccl-heartbeat-{rendezvous.Rank}" };
        _heart.Start();
    }

    public Rendezvous Rendezvous { get; }
    public CudaOps Ops { get; }
    public TimeSpan OpTimeout { get; }
    /// <summary>How long a peer may send no heartbeat while an operation waits before the watchdog aborts.</summary>
    public TimeSpan Silence { get; }
    /// <summary>Stops this rank's heartbeats, as a stopped process's stop: for tests of the silence detection.</summary>
    public bool HeartbeatsPaused { get; set; }

    /// <summary>Heartbeats this rank has seen from <paramref name="worldRank"/>.</summary>
    public long HeartbeatsFrom(int worldRank) => Interlocked.Read(ref _heartbeats[worldRank]);
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
            _inCall = null;
            _pendingOp = what;
            _pendingSince = DateTime.UtcNow;
        }
    }

    /// <summary>Records that an NCCL call for <paramref name="what"/> is about to be made: until it returns
    /// (<see cref="Enqueued"/>, <see cref="CallFailed"/>) it counts as waiting, whatever the stream says.</summary>
    public void Entering(string what)
    {
        lock (_gate)
        {
            _inCall = what;
            if (_pendingOp is null) _pendingSince = DateTime.UtcNow;
        }
    }

    public void CallFailed() { lock (_gate) _inCall = null; }

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
                if (reason is null && _pendingOp is not null && _inCall is null && CudaQuery.cuEventQuery(_lastOp.Handle) != CudaQuery.NotReady)
                    _pendingOp = null;
                if (reason is null && (_inCall ?? _pendingOp) is { } waiting)
                {
                    var now = DateTime.UtcNow;
                    if (now - _pendingSince > OpTimeout)
                        reason = $"{waiting} made no progress for {OpTimeout.TotalSeconds:0.#} s (a peer died, or never called it)";
                    else if (now - _pendingSince > Silence && SilentPeer(now) is { } peer)
                        reason = $"{waiting}: rank {peer} has sent no heartbeat for {(now - _peerHeard[peer]).TotalSeconds:0.#} s (stopped, hung or gone)";
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

    /// <summary>The first peer whose heartbeat counter has not moved for <see cref="Silence"/>, or null (under _gate).</summary>
    int? SilentPeer(DateTime now)
    {
        for (int r = 0; r < _peerHeard.Length; r++)
            if (r != Rank && now - _peerHeard[r] > Silence) return r;
        return null;
    }

    /// <summary>Publishes this rank's counter and reads the peers' every <see cref="Silence"/> / 6. A store that
    /// stopped answering (its host, rank 0, stopped) leaves every counter still, which the watchdog then reports.</summary>
    void Beat()
    {
        var period = TimeSpan.FromTicks(Math.Max(TimeSpan.FromMilliseconds(20).Ticks, Silence.Ticks / 6));
        long mine = 0;
        while (true)
        {
            lock (_gate) if (_disposed) return;
            try
            {
                if (!HeartbeatsPaused) _beatClient.Set($"nccl-beat/{Rank}", BitConverter.GetBytes(++mine));
                for (int r = 0; r < _peerBeat.Length; r++)
                {
                    if (r == Rank || _beatClient.TryGet($"nccl-beat/{r}", TimeSpan.Zero) is not { Length: 8 } value) continue;
                    long beat = BitConverter.ToInt64(value);
                    if (beat == _peerBeat[r]) continue;
                    _peerBeat[r] = beat;
                    Interlocked.Increment(ref _heartbeats[r]);
                    lock (_gate) _peerHeard[r] = DateTime.UtcNow;
                }
            }
            catch (IOException) { }   // the store is gone or stopped: the peers' counters stay still
            catch (ObjectDisposedException) { return; }
            Thread.Sleep(period); // a beating period, not a synchronisation: nothing waits on this thread
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
        _heart.Join(TimeSpan.FromSeconds(5));
        _beatClient.Dispose();
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

using System.Runtime.ExceptionServices;
using XDit.Kernels;

namespace XDit.Comm;

/// <summary>
/// N ranks as threads of one process (tests, and several ranks sharing one machine). Each rank gets its own
/// backend from a factory called on the rank's thread, so ranks share no memory: tensors crossing ranks are
/// copied through host buffers. A rank that throws aborts the world: every call blocked on another rank, and
/// every later call, throws <see cref="CommAbortedException"/>; a wait longer than <see cref="Timeout"/> throws
/// <see cref="CommTimeoutException"/> naming the operation and the ranks that never came.
/// </summary>
public sealed class InProcessWorld
{
    readonly CommStats[] _stats;
    readonly Dictionary<string, InProcessGroup> _groups = new();
    readonly bool[] _exited;
    bool _aborted;
    int _abortRank = -1;
    Exception? _abortCause;

    public InProcessWorld(int size, TimeSpan? timeout = null)
    {
        if (size < 1) throw new ArgumentOutOfRangeException(nameof(size), $"world size must be positive, got {size}");
        Size = size;
        Timeout = timeout ?? TimeSpan.FromSeconds(60);
        _exited = new bool[size];
        _stats = Enumerable.Range(0, size).Select(_ => new CommStats()).ToArray();
    }

    public int Size { get; }
    /// <summary>How long a blocking call waits for the other ranks before it gives up.</summary>
    public TimeSpan Timeout { get; }

    /// <summary>Guards every group's rendezvous state; one lock keeps abort simple (one PulseAll wakes everyone).</summary>
    internal object Lock { get; } = new();

    public CommStats Stats(int rank) => _stats[rank];

    /// <summary>Bytes sent by each world rank since the world was made (or <see cref="ResetStats"/>).</summary>
    public long[] BytesSentPerRank() => _stats.Select(s => s.BytesSent).ToArray();

    public void ResetStats() { foreach (var s in _stats) s.Reset(); }

    /// <summary>One line per rank: total bytes sent and the split by operation.</summary>
    public string TrafficReport()
    {
        var lines = new List<string>();
        for (int r = 0; r < Size; r++)
        {
            var by = _stats[r].BytesByOperation.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key} {kv.Value}");
            lines.Add($"rank {r}: {_stats[r].BytesSent} bytes sent in {_stats[r].Operations} ops ({string.Join(", ", by)})");
        }
        return string.Join(Environment.NewLine, lines);
    }

    /// <summary>Runs <paramref name="body"/> on <paramref name="size"/> ranks, each with its own CpuOps.</summary>
    public static T[] Run<T>(int size, Func<ICommunicator, T> body) => new InProcessWorld(size).Run(body);

    /// <summary>Runs <paramref name="body"/> on <paramref name="size"/> ranks with a backend per rank from <paramref name="makeOps"/>.</summary>
    public static T[] Run<T>(int size, Func<int, IOps> makeOps, Func<ICommunicator, T> body) => new InProcessWorld(size).Run(body, makeOps);

    /// <summary>
    /// Runs <paramref name="body"/> once per rank, each on its own thread with a world communicator and a backend
    /// made (and disposed) on that thread, and returns the results by rank. Return host data, not tensors: the
    /// rank's backend is disposed when the body returns. Rethrows the exception of the first rank that failed.
    /// </summary>
    public T[] Run<T>(Func<ICommunicator, T> body, Func<int, IOps>? makeOps = null)
    {
        makeOps ??= _ => new XDit.Kernels.Cpu.CpuOps();
        var world = Group(Enumerable.Range(0, Size).ToArray());
        var results = new T[Size];
        var threads = new Thread[Size];
        for (int r = 0; r < Size; r++)
        {
            int rank = r;
            threads[r] = new Thread(() =>
            {
                IOps? ops = null;
                try
                {
                    ops = makeOps(rank);
                    results[rank] = body(new InProcessCommunicator(this, world, rank, ops));
                }
                catch (Exception e) { Abort(rank, e); }
                finally { ops?.Dispose(); Exited(rank); }
            }, 16 << 20) { IsBackground = true, Name = $"xdit-rank-{rank}" };
        }
        foreach (var t in threads) t.Start();
        foreach (var t in threads) t.Join();
        lock (Lock)
            if (_aborted && _abortCause is not null)
                ExceptionDispatchInfo.Capture(_abortCause).Throw();
        return results;
    }

    /// <summary>Marks the world failed (the first cause wins) and wakes every blocked rank.</summary>
    public void Abort(int rank, Exception cause)
    {
        lock (Lock)
        {
            if (!_aborted)
            {
                _aborted = true;
                _abortRank = rank;
                _abortCause = cause;
                cause.Data["xdit.rank"] = rank;
            }
            Monitor.PulseAll(Lock);
        }
    }

    /// <summary>Records that a rank's body returned, so calls waiting for it fail at once instead of timing out.</summary>
    void Exited(int rank)
    {
        lock (Lock) { _exited[rank] = true; Monitor.PulseAll(Lock); }
    }

    /// <summary>Whether world rank <paramref name="rank"/> has left <see cref="Run{T}(Func{ICommunicator, T}, Func{int, IOps}?)"/>; call with <see cref="Lock"/> held.</summary>
    internal bool HasExited(int rank) => _exited[rank];

    /// <summary>Throws if the world was aborted; call with <see cref="Lock"/> held.</summary>
    internal void ThrowIfAborted(string what)
    {
        if (_aborted)
            throw new CommAbortedException($"{what}: aborted because rank {_abortRank} failed: {_abortCause?.GetType().Name}: {_abortCause?.Message}", _abortCause);
    }

    /// <summary>Waits on <see cref="Lock"/> (held) until <paramref name="done"/>, the world aborts, the timeout
    /// passes (<paramref name="missing"/> names who is late), or <paramref name="hopeless"/> says the ranks it waits
    /// for have returned and will never come.</summary>
    internal void WaitUntil(Func<bool> done, string what, Func<string> missing, Func<string?> hopeless)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (true)
        {
            ThrowIfAborted(what);
            if (done()) return;
            if (hopeless() is { } why) throw new InvalidOperationException($"{what}: {why}");
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
                throw new CommTimeoutException($"{what}: waited {Timeout.TotalSeconds:0.#} s; {missing()}");
            Monitor.Wait(Lock, left);
        }
    }

    /// <summary>The shared state of the group with these world ranks (same list, same group).</summary>
    internal InProcessGroup Group(int[] worldRanks)
    {
        var key = string.Join(",", worldRanks);
        lock (Lock)
        {
            if (!_groups.TryGetValue(key, out var g)) _groups[key] = g = new InProcessGroup(this, worldRanks);
            return g;
        }
    }
}

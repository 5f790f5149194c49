using System.Net;
using System.Net.Sockets;
using System.Text;
using XDit.Kernels;

namespace XDit.Comm.Tcp;

/// <summary>
/// This process's sockets to every other rank of a run: a full mesh built through the <see cref="Rendezvous"/>
/// (each rank listens on a free port of the interface that reaches the master, publishes it, connects to every
/// lower rank and accepts every higher one). Owns the rendezvous. Groups and communicators made from it share the
/// sockets and the traffic counters. A thread sends a heartbeat on every link every <see cref="Silence"/> / 6, so a
/// peer that stops (SIGSTOP, a hang in the kernel, a lost machine) is named within <see cref="Silence"/> instead of
/// at the operation timeout, while a peer computing a long step is still waited for.
/// </summary>
public sealed class TcpWorld : IDisposable
{
    const int Magic = 0x54494458; // "XDIT"
    static readonly TimeSpan Linger = TimeSpan.FromSeconds(2);

    /// <summary>How long a peer may send nothing at all, heartbeats included, before a wait on it fails.</summary>
    public static readonly TimeSpan DefaultSilence = TimeSpan.FromSeconds(30);

    readonly PeerLink[] _links;
    readonly Dictionary<string, TcpGroup> _groups = new();
    readonly ManualResetEventSlim _stopBeating = new();
    readonly Thread? _heart;
    bool _disposed;

    TcpWorld(Rendezvous rendezvous, PeerLink[] links, TimeSpan opTimeout, TimeSpan silence)
    {
        Rendezvous = rendezvous;
        _links = links;
        OpTimeout = opTimeout;
        Silence = silence;
        if (links.Length > 1)
        {
            _heart = new Thread(Beat) { IsBackground = true, Name = $"xdit-tcp-heartbeat-{Rank}" };
            _heart.Start();
        }
    }

    /// <summary>How long a peer may stay silent (no data, no heartbeat) before a wait on it fails.</summary>
    public TimeSpan Silence { get; }

    /// <summary>Stops this rank's heartbeats, as a stopped process's stop: for tests of the silence detection.</summary>
    public bool HeartbeatsPaused { get; set; }

    /// <summary>Heartbeats this rank has received from <paramref name="worldRank"/>.</summary>
    public long HeartbeatsFrom(int worldRank) => _links[worldRank].HeartbeatsReceived;

    void Beat()
    {
        var interval = Silence / 6;
        while (!_stopBeating.Wait(interval))
            if (!HeartbeatsPaused)
                foreach (var l in _links) l.Beat();
    }

    public Rendezvous Rendezvous { get; }
    public int Rank => Rendezvous.Rank;
    public int Size => Rendezvous.WorldSize;
    public CommStats Stats { get; } = new();
    /// <summary>The watchdog: how long one operation waits without any data from the peer it needs before it
    /// fails naming the operation and the peer.</summary>
    public TimeSpan OpTimeout { get; }

    /// <summary>Builds the mesh; disposes <paramref name="rendezvous"/> when it fails. <paramref name="opTimeout"/>
    /// defaults to the rendezvous timeout, <paramref name="silence"/> to <see cref="DefaultSilence"/> (never above
    /// the operation timeout).</summary>
    public static TcpWorld Connect(Rendezvous rendezvous, TimeSpan? opTimeout = null, TimeSpan? silence = null)
    {
        int rank = rendezvous.Rank, size = rendezvous.WorldSize;
        var timeout = rendezvous.Options.Timeout;
        var links = new PeerLink?[size];
        links[rank] = new PeerLink(rank);
        TcpListener? listener = null;
        try
        {
            if (size > 1)
            {
                listener = new TcpListener(rendezvous.Client.LocalAddress, 0);
                listener.Start(size);
                var me = (IPEndPoint)listener.LocalEndpoint;
                rendezvous.Publish($"peer/{rank}", Encoding.UTF8.GetBytes($"{me.Address}|{me.Port}"));
                var addresses = rendezvous.ReadAll("peer").Select(b => Encoding.UTF8.GetString(b).Split('|')).ToArray();
                var deadline = DateTime.UtcNow + timeout;
                // Lower ranks listen already (they published after listening), so connects never wait on accepts.
                for (int peer = 0; peer < rank; peer++)
                {
                    var (host, port) = (addresses[peer][0], int.Parse(addresses[peer][1]));
                    var client = Wire.ConnectWithRetry(host, port, deadline, $"rank {rank}: connecting to rank {peer}");
                    var s = client.GetStream();
                    Wire.WriteInt(s, Magic);
                    Wire.WriteInt(s, size);
                    Wire.WriteInt(s, rank);
                    links[peer] = new PeerLink(peer, client);
                }
                for (int waiting = size - 1 - rank; waiting > 0; waiting--)
                {
                    var left = deadline - DateTime.UtcNow;
                    TcpClient client;
                    try
                    {
                        using var cts = new CancellationTokenSource(left > TimeSpan.Zero ? left : TimeSpan.Zero);
                        client = listener.AcceptTcpClientAsync(cts.Token).AsTask().GetAwaiter().GetResult();
                    }
                    catch (OperationCanceledException)
                    {
                        var missing = Enumerable.Range(rank + 1, size - rank - 1).Where(r => links[r] is null);
                        throw new CommTimeoutException($"rank {rank}: rank(s) {string.Join(", ", missing)} never connected to {me} within {timeout.TotalSeconds:0.#} s");
                    }
                    client.NoDelay = true;
                    client.ReceiveTimeout = (int)Math.Min(int.MaxValue, timeout.TotalMilliseconds);
                    var s = client.GetStream();
                    int magic = Wire.ReadInt(s), theirSize = Wire.ReadInt(s), peer = Wire.ReadInt(s);
                    client.ReceiveTimeout = 0;
                    if (magic != Magic || theirSize != size || peer <= rank || peer >= size || links[peer] is not null)
                    {
                        client.Dispose();
                        throw new InvalidOperationException($"rank {rank}: a connection to {me} claimed to be rank {peer} of a world of {theirSize} (magic {magic:x}): another run uses these addresses");
                    }
                    links[peer] = new PeerLink(peer, client);
                }
            }
            var op = opTimeout ?? timeout;
            var quiet = silence ?? DefaultSilence;
            return new TcpWorld(rendezvous, links.Select(l => l!).ToArray(), op, quiet < op ? quiet : op);
        }
        catch
        {
            foreach (var l in links) l?.Dispose();
            rendezvous.Dispose();
            throw;
        }
        finally { listener?.Stop(); }
    }

    /// <summary>The world communicator of this rank on backend <paramref name="ops"/>; disposing it disposes this world.</summary>
    public TcpCommunicator Communicator(IOps ops) => new(this, Group(Enumerable.Range(0, Size).ToArray()), Rank, ops, ownsWorld: true);

    internal PeerLink Link(int worldRank)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _links[worldRank];
    }

    /// <summary>The shared state of the group with these world ranks (same list, same group and sequence).</summary>
    internal TcpGroup Group(int[] worldRanks)
    {
        var key = string.Join(",", worldRanks);
        lock (_groups)
        {
            if (!_groups.TryGetValue(key, out var g)) _groups[key] = g = new TcpGroup(worldRanks);
            return g;
        }
    }

    /// <summary>Closes every link: peers still waiting on this rank fail at once. Waits briefly for the peers to
    /// close too, then stops the store when this rank hosts it.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _stopBeating.Set();
        _heart?.Join();
        foreach (var l in _links) l.ShutdownSend();
        var until = DateTime.UtcNow + Linger;
        foreach (var l in _links)
        {
            var left = until - DateTime.UtcNow;
            if (left > TimeSpan.Zero) l.WaitClosed(left);
        }
        foreach (var l in _links) l.Dispose();
        Rendezvous.Dispose();
    }
}

/// <summary>A group's identity on the wire and its collective counter (the n-th collective of every member meets).</summary>
sealed class TcpGroup(int[] worldRanks)
{
    long _seq = -1;
    public int[] WorldRanks { get; } = worldRanks;
    public string Name { get; } = "[" + string.Join(",", worldRanks) + "]";
    /// <summary>FNV-1a of the member list: the same list gives the same id on every rank.</summary>
    public long Id { get; } = worldRanks.Aggregate(unchecked((long)14695981039346656037UL), (h, r) => unchecked((h ^ (r + 1)) * 1099511628211L));
    public long NextSeq() => Interlocked.Increment(ref _seq);
}

using System.Net.Sockets;

namespace XDit.Comm.Tcp;

/// <summary>
/// The connection to one other rank (or, with no socket, this rank's own mailbox for sends to itself). A reader
/// thread drains the socket into per-key FIFO mailboxes as fast as frames arrive, so senders never block on a
/// receiver that is busy elsewhere, and TCP's ordering gives "same tag, same order". When the socket closes the
/// link remembers why, and every wait on it fails at once instead of hanging. Every frame, heartbeats included, is
/// proof of life: a wait fails when the peer has sent nothing for the silence limit (a stopped or hung process,
/// whose heartbeat thread stops too), while a peer busy in a long step keeps beating and is waited for.
/// </summary>
sealed class PeerLink : IDisposable
{
    readonly TcpClient? _client;
    readonly Stream? _stream;
    readonly Thread? _reader;
    readonly object _gate = new();
    readonly object _writeGate = new();
    readonly Dictionary<MailKey, Queue<TcpMessage>> _mail = new();
    string? _closed;
    bool _disposed;
    long _lastHeard = Environment.TickCount64, _heartbeats;

    /// <summary>A link over a connected socket to world rank <paramref name="peer"/>.</summary>
    public PeerLink(int peer, TcpClient client)
    {
        Peer = peer;
        _client = client;
        _stream = client.GetStream();
        _reader = new Thread(ReadLoop) { IsBackground = true, Name = $"xdit-tcp-peer-{peer}" };
        _reader.Start();
    }

    /// <summary>This rank's own mailbox.</summary>
    public PeerLink(int self) => Peer = self;

    public int Peer { get; }

    void ReadLoop()
    {
        string reason;
        try
        {
            while (true)
            {
                var m = TcpMessage.ReadFrom(_stream!);
                Volatile.Write(ref _lastHeard, Environment.TickCount64);
                if (m is null)
                {
                    Interlocked.Increment(ref _heartbeats);
                    continue;
                }
                lock (_gate)
                {
                    if (!_mail.TryGetValue(m.Key, out var q)) _mail[m.Key] = q = new Queue<TcpMessage>();
                    q.Enqueue(m);
                    Monitor.PulseAll(_gate);
                }
            }
        }
        catch (EndOfStreamException) { reason = "closed its connection (its process exited or it disposed its communicator)"; }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or InvalidDataException)
        {
            reason = $"lost its connection ({(e.InnerException ?? e).Message})";
        }
        lock (_gate)
        {
            _closed ??= reason;
            Monitor.PulseAll(_gate);
        }
    }

    /// <summary>Sends one frame; a peer already gone, or a failed write, throws naming <paramref name="what"/> and <paramref name="peer"/>.</summary>
    public void Send(TcpMessage m, string what, string peer)
    {
        if (_stream is null)
        {
            lock (_gate)
            {
                if (!_mail.TryGetValue(m.Key, out var q)) _mail[m.Key] = q = new Queue<TcpMessage>();
                q.Enqueue(m);
                Monitor.PulseAll(_gate);
            }
            return;
        }
        lock (_gate)
        {
            if (_disposed) throw new CommAbortedException($"{what}: this rank's communicator was disposed", null);
            if (_closed is not null) throw new CommAbortedException($"{what}: cannot send to {peer}: it {_closed}", null);
        }
        try
        {
            lock (_writeGate) m.WriteTo(_stream);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            throw new CommAbortedException($"{what}: sending to {peer} failed: {(e.InnerException ?? e).Message}", e);
        }
    }

    /// <summary>Heartbeats received from the peer so far.</summary>
    public long HeartbeatsReceived => Interlocked.Read(ref _heartbeats);

    /// <summary>Sends a heartbeat unless a frame is being written (its bytes say as much) or the link is closed.</summary>
    public void Beat()
    {
        if (_stream is null || !Monitor.TryEnter(_writeGate)) return;
        try
        {
            lock (_gate) if (_closed is not null || _disposed) return;
            _stream.WriteByte(MailKey.Heartbeat);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or NotSupportedException) { }
        finally { Monitor.Exit(_writeGate); }
    }

    /// <summary>The next message for <paramref name="key"/>. Messages that arrived before the peer closed are
    /// still delivered; after that, a closed link fails at once, one that has sent nothing at all (not even a
    /// heartbeat) for <paramref name="silence"/> fails then, and a beating one fails at <paramref name="deadline"/>.</summary>
    public TcpMessage Take(MailKey key, DateTime deadline, TimeSpan timeout, string what, string peer, TimeSpan silence)
    {
        lock (_gate)
        {
            while (true)
            {
                if (_mail.TryGetValue(key, out var q) && q.Count > 0)
                {
                    var m = q.Dequeue();
                    if (q.Count == 0) _mail.Remove(key);
                    return m;
                }
                if (_disposed) throw new CommAbortedException($"{what}: this rank's communicator was disposed", null);
                if (_closed is not null) throw new CommAbortedException($"{what}: {peer} {_closed} before sending its part", null);
                var left = deadline - DateTime.UtcNow;
                if (left <= TimeSpan.Zero)
                    throw new CommTimeoutException($"{what}: no data from {peer} for {timeout.TotalSeconds:0.#} s (it is stuck, or called another operation)");
                if (_stream is not null)
                {
                    var quiet = TimeSpan.FromMilliseconds(Environment.TickCount64 - Volatile.Read(ref _lastHeard));
                    if (quiet > silence)
                        throw new CommTimeoutException($"{what}: {peer} has sent nothing, not even a heartbeat, for {quiet.TotalSeconds:0.#} s: " +
                                                       "its process is stopped (SIGSTOP?), hung or unreachable");
                    var check = silence / 4;
                    if (check < left) left = check;
                }
                Monitor.Wait(_gate, left);
            }
        }
    }

    /// <summary>Half-closes the socket (the peer reads everything sent, then end of stream).</summary>
    public void ShutdownSend()
    {
        try { _client?.Client.Shutdown(SocketShutdown.Send); }
        catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
    }

    /// <summary>Waits up to <paramref name="linger"/> for the peer to close its side too, so that nothing it
    /// still sends is cut by a reset.</summary>
    public void WaitClosed(TimeSpan linger) => _reader?.Join(linger);

    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            Monitor.PulseAll(_gate);
        }
        _client?.Dispose();
        _reader?.Join(TimeSpan.FromSeconds(5));
    }
}

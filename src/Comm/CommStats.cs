using System.Collections.Concurrent;

namespace XDit.Comm;

/// <summary>
/// Bytes one rank put on the wire, counted as a direct exchange would move them: each byte a rank's data needs
/// to reach another rank counts once at the sender (AllGather: (N−1)·local; AllToAll: the chunks for the others;
/// AllReduce: 2·(N−1)/N·size, as reduce-scatter + all-gather; ReduceScatter: (N−1)/N·size; Broadcast: the root
/// sends (N−1)·size; Send: size). Bytes are the tensor's own dtype size, not the host copy's.
/// </summary>
public sealed class CommStats
{
    long _bytes, _messages;
    readonly ConcurrentDictionary<string, long> _byOp = new();

    public long BytesSent => Interlocked.Read(ref _bytes);
    /// <summary>Collective calls and point-to-point sends made.</summary>
    public long Operations => Interlocked.Read(ref _messages);
    /// <summary>Bytes sent per operation name ("AllToAll", "Send", ...).</summary>
    public IReadOnlyDictionary<string, long> BytesByOperation => new Dictionary<string, long>(_byOp);

    public void Record(string operation, long bytes)
    {
        Interlocked.Add(ref _bytes, bytes);
        Interlocked.Increment(ref _messages);
        _byOp.AddOrUpdate(operation, bytes, (_, old) => old + bytes);
    }

    public void Reset()
    {
        Interlocked.Exchange(ref _bytes, 0);
        Interlocked.Exchange(ref _messages, 0);
        _byOp.Clear();
    }
}

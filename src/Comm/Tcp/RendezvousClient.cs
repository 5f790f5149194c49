using System.Net;
using System.Net.Sockets;

namespace XDit.Comm.Tcp;

/// <summary>One rank's connection to the <see cref="RendezvousStore"/>. Requests are serialised (one at a time per
/// client); a lost store becomes an <see cref="IOException"/> naming its address.</summary>
public sealed class RendezvousClient : IDisposable
{
    readonly TcpClient _client;
    readonly Stream _stream;
    readonly object _gate = new();

    RendezvousClient(TcpClient client, string host, int port)
    {
        _client = client;
        _stream = client.GetStream();
        Endpoint = $"{host}:{port}";
    }

    /// <summary>"host:port" of the store.</summary>
    public string Endpoint { get; }

    /// <summary>The local address this machine uses to reach the store: the one peers should use to reach us.</summary>
    public IPAddress LocalAddress
    {
        get
        {
            // Dual-mode sockets report IPv4 as ::ffff:a.b.c.d, which an IPv4 listener cannot bind.
            var a = ((IPEndPoint)_client.Client.LocalEndPoint!).Address;
            return a.IsIPv4MappedToIPv6 ? a.MapToIPv4() : a;
        }
    }

    public static RendezvousClient Connect(string host, int port, TimeSpan timeout, string who) =>
        new(Wire.ConnectWithRetry(host, port, DateTime.UtcNow + timeout, $"{who}: rendezvous store (--master-addr {host} --master-port {port}) not reachable within {timeout.TotalSeconds:0.#} s"), host, port);

    public void Set(string key, ReadOnlySpan<byte> value) => Request(RendezvousStore.OpSet, key, value, 0);

    /// <summary>Stores the value unless the key exists; false when it did (someone else registered it first).</summary>
    public bool SetIfAbsent(string key, ReadOnlySpan<byte> value) => Request(RendezvousStore.OpSetIfAbsent, key, value, 0).Status == RendezvousStore.Ok;

    /// <summary>The value of <paramref name="key"/>, waiting up to <paramref name="wait"/> for someone to set it; null when nobody did.</summary>
    public byte[]? TryGet(string key, TimeSpan wait)
    {
        var (status, value) = Request(RendezvousStore.OpGet, key, default, (int)Math.Clamp(wait.TotalMilliseconds, 0, int.MaxValue));
        return status == RendezvousStore.Ok ? value : null;
    }

    (byte Status, byte[] Value) Request(byte op, string key, ReadOnlySpan<byte> value, int waitMs)
    {
        lock (_gate)
        {
            try
            {
                // The store answers a GET within its wait; the margin only catches a store that stopped answering.
                _client.ReceiveTimeout = waitMs + 30_000;
                _stream.WriteByte(op);
                Wire.WriteString(_stream, key);
                if (op == RendezvousStore.OpGet) Wire.WriteInt(_stream, waitMs);
                else Wire.WriteBytes(_stream, value);
                byte status = Wire.ReadByte(_stream);
                return (status, Wire.ReadBytes(_stream));
            }
            catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
            {
                throw new IOException($"rendezvous store at {Endpoint} stopped answering ({(e is EndOfStreamException ? "connection closed: did the master process exit?" : e.Message)}) while handling '{key}'", e);
            }
        }
    }

    public void Dispose() => _client.Dispose();
}

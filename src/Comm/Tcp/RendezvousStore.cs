using System.Net;
using System.Net.Sockets;

namespace XDit.Comm.Tcp;

/// <summary>
/// The master's key-value store (torchrun's TCPStore in miniature): ranks set small blobs (their peer address,
/// the NCCL unique id) and read the others', a read waiting until the key exists or its wait runs out. One
/// thread per connected rank; everything is in memory and lives as long as this object.
/// </summary>
public sealed class RendezvousStore : IDisposable
{
    internal const byte OpSet = 1, OpSetIfAbsent = 2, OpGet = 3;
    internal const byte Ok = 0, Missing = 1, Exists = 2;

    readonly TcpListener _listener;
    readonly Dictionary<string, byte[]> _data = new();
    readonly List<TcpClient> _clients = new();
    readonly Thread _acceptor;
    bool _disposed;

    RendezvousStore(TcpListener listener)
    {
        _listener = listener;
        _acceptor = new Thread(AcceptLoop) { IsBackground = true, Name = "xdit-store-accept" };
        _acceptor.Start();
    }

    /// <summary>The port it listens on (the one asked for, or the one the system picked for port 0).</summary>
    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;
    public IPAddress Address => ((IPEndPoint)_listener.LocalEndpoint).Address;

    /// <summary>Listens on <paramref name="address"/>:<paramref name="port"/> (0: any free port).</summary>
    public static RendezvousStore Start(IPAddress address, int port)
    {
        var listener = new TcpListener(address, port);
        try { listener.Start(512); }
        catch (SocketException e)
        {
            listener.Stop();
            throw new IOException($"rendezvous store: cannot listen on {address}:{port}: {e.Message}" +
                                  (e.SocketErrorCode == SocketError.AddressAlreadyInUse ? " (another run uses this --master-port?)" : ""), e);
        }
        return new RendezvousStore(listener);
    }

    /// <summary>Where the master should listen for <paramref name="masterAddr"/>: loopback stays loopback,
    /// anything else listens on every interface (the name may resolve differently on other nodes).</summary>
    public static IPAddress BindAddressFor(string masterAddr) =>
        masterAddr is "localhost" || (IPAddress.TryParse(masterAddr, out var ip) && IPAddress.IsLoopback(ip)) ? IPAddress.Loopback : IPAddress.Any;

    void AcceptLoop()
    {
        while (true)
        {
            TcpClient client;
            try { client = _listener.AcceptTcpClient(); }
            catch (Exception e) when (e is SocketException or ObjectDisposedException or InvalidOperationException) { return; }
            lock (_data)
            {
                if (_disposed) { client.Dispose(); return; }
                _clients.Add(client);
            }
            client.NoDelay = true;
            new Thread(() => Serve(client)) { IsBackground = true, Name = "xdit-store-client" }.Start();
        }
    }

    void Serve(TcpClient client)
    {
        try
        {
            var s = client.GetStream();
            while (true)
            {
                byte op = Wire.ReadByte(s);
                string key = Wire.ReadString(s);
                switch (op)
                {
                    case OpSet:
                    case OpSetIfAbsent:
                    {
                        var value = Wire.ReadBytes(s);
                        bool stored;
                        lock (_data)
                        {
                            stored = op == OpSet || !_data.ContainsKey(key);
                            if (stored) _data[key] = value;
                            Monitor.PulseAll(_data);
                        }
                        s.WriteByte(stored ? Ok : Exists);
                        Wire.WriteBytes(s, ReadOnlySpan<byte>.Empty);
                        break;
                    }
                    case OpGet:
                    {
                        int waitMs = Wire.ReadInt(s);
                        var value = WaitFor(key, TimeSpan.FromMilliseconds(waitMs));
                        s.WriteByte(value is null ? Missing : Ok);
                        Wire.WriteBytes(s, value ?? ReadOnlySpan<byte>.Empty);
                        break;
                    }
                    default:
                        return; // not our protocol: drop the connection
                }
            }
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or InvalidDataException) { }
        finally { client.Dispose(); }
    }

    byte[]? WaitFor(string key, TimeSpan wait)
    {
        var deadline = DateTime.UtcNow + wait;
        lock (_data)
        {
            while (true)
            {
                if (_data.TryGetValue(key, out var v)) return v;
                var left = deadline - DateTime.UtcNow;
                if (left <= TimeSpan.Zero || _disposed) return null;
                Monitor.Wait(_data, left);
            }
        }
    }

    public void Dispose()
    {
        lock (_data)
        {
            if (_disposed) return;
            _disposed = true;
            Monitor.PulseAll(_data);
            foreach (var c in _clients) c.Dispose();
        }
        _listener.Stop();
        _acceptor.Join(TimeSpan.FromSeconds(5));
    }
}

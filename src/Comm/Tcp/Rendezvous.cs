using System.Text;

namespace XDit.Comm.Tcp;

/// <summary>Where and how a rank meets the others.</summary>
/// <param name="HostStore">this process runs the store (rank 0 when no launcher hosts it)</param>
/// <param name="Timeout">how long any rendezvous step waits for the other ranks</param>
public sealed record RendezvousOptions(int Rank, int WorldSize, string MasterAddr, int MasterPort, bool HostStore, TimeSpan Timeout)
{
    public void Validate()
    {
        if (WorldSize < 1) throw new ArgumentException($"WORLD_SIZE must be at least 1, got {WorldSize}");
        if (Rank < 0 || Rank >= WorldSize) throw new ArgumentException($"RANK {Rank} is outside 0..{WorldSize - 1} (WORLD_SIZE {WorldSize})");
        if (MasterPort is < 0 or > 65535 || (MasterPort == 0 && !HostStore))
            throw new ArgumentException($"MASTER_PORT must be a TCP port (1-65535), got {MasterPort}");
        if (string.IsNullOrWhiteSpace(MasterAddr)) throw new ArgumentException("MASTER_ADDR is empty");
    }
}

/// <summary>
/// A rank's membership of one run: connected to the master's store, registered under its rank (a rank that
/// registers twice is refused: two runs on one port), and able to publish and read small blobs. Disposing it
/// stops the store when this rank hosts it, so the host should dispose last (after a barrier).
/// </summary>
public sealed class Rendezvous : IDisposable
{
    readonly RendezvousStore? _store;

    Rendezvous(RendezvousOptions options, RendezvousStore? store, RendezvousClient client)
    {
        Options = options;
        _store = store;
        Client = client;
    }

    public RendezvousOptions Options { get; }
    public int Rank => Options.Rank;
    public int WorldSize => Options.WorldSize;
    public RendezvousClient Client { get; }
    /// <summary>The store's port (useful when the host asked for port 0).</summary>
    public int StorePort => _store?.Port ?? Options.MasterPort;

    /// <summary>Starts the store when asked to, connects, and registers this rank.</summary>
    public static Rendezvous Join(RendezvousOptions options)
    {
        options.Validate();
        RendezvousStore? store = null;
        RendezvousClient? client = null;
        try
        {
            int port = options.MasterPort;
            if (options.HostStore)
            {
                store = RendezvousStore.Start(RendezvousStore.BindAddressFor(options.MasterAddr), port);
                port = store.Port;
            }
            client = RendezvousClient.Connect(options.MasterAddr, port, options.Timeout, $"rank {options.Rank}");
            var me = Encoding.UTF8.GetBytes($"{Environment.MachineName}/{Environment.ProcessId}");
            if (!client.SetIfAbsent($"rank/{options.Rank}", me))
            {
                var other = client.TryGet($"rank/{options.Rank}", TimeSpan.Zero) is { } b ? Encoding.UTF8.GetString(b) : "?";
                throw new InvalidOperationException($"rank {options.Rank}: another process ({other}) already registered as rank {options.Rank} at the store {client.Endpoint}: two runs on one --master-port, or a repeated RANK");
            }
            return new Rendezvous(options with { MasterPort = port }, store, client);
        }
        catch
        {
            client?.Dispose();
            store?.Dispose();
            throw;
        }
    }

    /// <summary>Publishes a blob under <paramref name="key"/> for the other ranks.</summary>
    public void Publish(string key, ReadOnlySpan<byte> value) => Client.Set("blob/" + key, value);

    /// <summary>Reads a blob another rank publishes, waiting for it up to the timeout.</summary>
    public byte[] Read(string key, int publisher)
    {
        return Client.TryGet("blob/" + key, Options.Timeout)
               ?? throw new CommTimeoutException($"rank {Rank}: rank {publisher} did not publish '{key}' at the store {Client.Endpoint} within {Options.Timeout.TotalSeconds:0.#} s");
    }

    /// <summary>
    /// Every rank's value of <paramref name="key"/> (each rank publishes its own with <see cref="Publish"/> under
    /// key/RANK), in rank order. One deadline covers all of them; on timeout the error lists every rank that never came.
    /// </summary>
    public byte[][] ReadAll(string key)
    {
        var deadline = DateTime.UtcNow + Options.Timeout;
        var values = new byte[WorldSize][];
        for (int r = 0; r < WorldSize; r++)
        {
            var left = deadline - DateTime.UtcNow;
            var v = Client.TryGet($"blob/{key}/{r}", left > TimeSpan.Zero ? left : TimeSpan.Zero);
            if (v is null)
            {
                var missing = Enumerable.Range(r, WorldSize - r).Where(m => Client.TryGet($"blob/{key}/{m}", TimeSpan.Zero) is null).ToList();
                throw new CommTimeoutException($"rank {Rank}: rank{(missing.Count > 1 ? "s" : "")} {string.Join(", ", missing)} of {WorldSize} never came to the rendezvous at {Client.Endpoint} within {Options.Timeout.TotalSeconds:0.#} s ('{key}')");
            }
            values[r] = v;
        }
        return values;
    }

    public void Dispose()
    {
        Client.Dispose();
        _store?.Dispose();
    }
}

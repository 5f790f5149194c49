using System.Globalization;
using XDit.Comm.Tcp;

namespace XDit.Comm.Launch;

/// <summary>
/// What a launched rank learns from its environment, with torchrun's variable names (RANK, WORLD_SIZE,
/// LOCAL_RANK, MASTER_ADDR, MASTER_PORT). <c>XDIT_AGENT_STORE=1</c> says the launcher hosts the rendezvous store
/// (otherwise rank 0 does, as with torch's env:// init); <c>XDIT_COMM_TIMEOUT</c> (seconds) bounds the rendezvous
/// and every wait on a peer.
/// </summary>
public sealed record DistributedEnvironment(int Rank, int WorldSize, int LocalRank, string MasterAddr, int MasterPort, bool AgentStore, TimeSpan Timeout)
{
    public const string RankVar = "RANK", WorldSizeVar = "WORLD_SIZE", LocalRankVar = "LOCAL_RANK", LocalWorldSizeVar = "LOCAL_WORLD_SIZE";
    public const string MasterAddrVar = "MASTER_ADDR", MasterPortVar = "MASTER_PORT", AgentStoreVar = "XDIT_AGENT_STORE", TimeoutVar = "XDIT_COMM_TIMEOUT";
    public const int DefaultMasterPort = 29500;
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(300);

    /// <summary>The launched rank's settings, or null when RANK and WORLD_SIZE are not both set (a plain run).
    /// A malformed value throws naming the variable.</summary>
    public static DistributedEnvironment? FromEnvironment(Func<string, string?>? get = null)
    {
        get ??= Environment.GetEnvironmentVariable;
        string? rank = get(RankVar), world = get(WorldSizeVar);
        if (string.IsNullOrEmpty(rank) && string.IsNullOrEmpty(world)) return null;
        if (string.IsNullOrEmpty(rank) || string.IsNullOrEmpty(world))
            throw new ArgumentException($"{(string.IsNullOrEmpty(rank) ? WorldSizeVar : RankVar)} is set but {(string.IsNullOrEmpty(rank) ? RankVar : WorldSizeVar)} is not: a launched rank needs both");
        int r = Int(get, RankVar, null), w = Int(get, WorldSizeVar, null);
        var timeout = get(TimeoutVar) is { Length: > 0 } t
            ? double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out var s) && s > 0 ? TimeSpan.FromSeconds(s)
              : throw new ArgumentException($"{TimeoutVar}='{t}' is not a positive number of seconds")
            : DefaultTimeout;
        var env = new DistributedEnvironment(r, w, Int(get, LocalRankVar, r), get(MasterAddrVar) is { Length: > 0 } a ? a : "127.0.0.1",
            Int(get, MasterPortVar, DefaultMasterPort), get(AgentStoreVar) == "1", timeout);
        env.Rendezvous().Validate();
        return env;
    }

    static int Int(Func<string, string?> get, string name, int? fallback)
    {
        var v = get(name);
        if (string.IsNullOrEmpty(v)) return fallback ?? throw new ArgumentException($"{name} is not set");
        return int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var i) ? i : throw new ArgumentException($"{name}='{v}' is not a whole number");
    }

    /// <summary>Rank 0 hosts the store unless the launcher does.</summary>
    public RendezvousOptions Rendezvous() => new(Rank, WorldSize, MasterAddr, MasterPort, HostStore: Rank == 0 && !AgentStore, Timeout);
}

namespace XDit.Comm.Launch;

/// <summary>
/// What `xdit launch` starts on this node: <see cref="ProcsPerNode"/> copies of <see cref="Program"/> +
/// <see cref="Arguments"/>, ranks NodeRank·ProcsPerNode + local. <see cref="MasterPort"/> null means: one node,
/// any free port (the launcher hosts the store and tells its children the port).
/// </summary>
public sealed record LaunchPlan(string Program, IReadOnlyList<string> Arguments, int ProcsPerNode, int Nodes = 1, int NodeRank = 0,
    string MasterAddr = "127.0.0.1", int? MasterPort = null, bool AllRanksOutput = false)
{
    public int WorldSize => ProcsPerNode * Nodes;

    public void Validate()
    {
        if (ProcsPerNode < 1) throw new ArgumentException($"--nproc-per-node must be at least 1, got {ProcsPerNode}");
        if (Nodes < 1) throw new ArgumentException($"--nnodes must be at least 1, got {Nodes}");
        if (NodeRank < 0 || NodeRank >= Nodes) throw new ArgumentException($"--node-rank {NodeRank} is outside 0..{Nodes - 1} (--nnodes {Nodes})");
        if (MasterPort is { } p && p is < 1 or > 65535) throw new ArgumentException($"--master-port must be 1-65535, got {p}");
        if (MasterPort is null && Nodes > 1) throw new ArgumentException("--master-port is required with --nnodes > 1 (every node must name the same port)");
    }
}

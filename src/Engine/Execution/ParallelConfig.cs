using XDit.Comm;

namespace XDit.Engine.Execution;

/// <summary>
/// How a generation is split across ranks, with xDiT's flag names. The degrees multiply to the world size:
/// data × cfg × pipefusion × ulysses × ring (cfg is 2 with --use-cfg-parallel).
/// </summary>
public sealed record ParallelConfig
{
    public int WorldSize { get; init; } = 1;
    public int DataParallelDegree { get; init; } = 1;
    public bool UseCfgParallel { get; init; }
    public int UlyssesDegree { get; init; } = 1;
    public int RingDegree { get; init; } = 1;
    public int PipeFusionParallelDegree { get; init; } = 1;
    /// <summary>PipeFusion patches; null means one per stage (xDiT's default).</summary>
    public int? NumPipelinePatch { get; init; }
    /// <summary>PipeFusion steps run on the full sequence before patches stream (xDiT's default 1).</summary>
    public int WarmupSteps { get; init; } = 1;
    public bool UseParallelVae { get; init; }

    public int CfgDegree => UseCfgParallel ? 2 : 1;
    public bool IsSingleRank => WorldSize == 1;

    /// <summary>The mesh; throws naming every degree when their product is not the world size.</summary>
    public DeviceMesh Mesh() => new(WorldSize, DataParallelDegree, CfgDegree, PipeFusionParallelDegree, UlyssesDegree, RingDegree);
}

using XDit.Comm;
using XDit.Kernels;
using XDit.Models;
using XDit.Runtime;

namespace XDit.Engine.Parallel;

/// <summary>
/// Unified sequence parallelism: Ulysses inside <paramref name="ulyssesGroup"/> (consecutive ranks), Ring across
/// <paramref name="ringGroup"/> (ranks strided by the Ulysses degree) on the head shard the all-to-all produced.
/// The rank's image shard is number ulysses rank + U·ring rank of its sp group.
/// </summary>
public sealed class UspAttention(ICommunicator ulyssesGroup, ICommunicator ringGroup) : IAttention, ITokenGather
{
    public ICommunicator UlyssesGroup { get; } = ulyssesGroup;
    public ICommunicator RingGroup { get; } = ringGroup;

    /// <summary>The USP attention of <paramref name="world"/>'s rank on <paramref name="mesh"/>.</summary>
    public static UspAttention For(DeviceMesh mesh, ICommunicator world) =>
        new(mesh.Communicator(world, MeshAxis.Ulysses), mesh.Communicator(world, MeshAxis.Ring));

    public AttentionResult Run(IOps ops, AttentionCall call) =>
        SequenceParallelAttention.Run(ops, call, UlyssesGroup, RingGroup, nameof(UspAttention));

    public Tensor GatherTokens(IOps ops, Tensor local, string layer) => SequenceParallelAttention.GatherTokens(local, UlyssesGroup, RingGroup);
}

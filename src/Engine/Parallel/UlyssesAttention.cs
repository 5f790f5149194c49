using XDit.Comm;
using XDit.Kernels;
using XDit.Models;
using XDit.Runtime;

namespace XDit.Engine.Parallel;

/// <summary>
/// DeepSpeed-Ulysses attention: an all-to-all turns this rank's sequence shard of every head into the whole
/// sequence for H/U heads, attention runs locally, and the inverse all-to-all gives the shard back with all heads.
/// Joint text is handled as in xDiT (see <see cref="SequenceParallelAttention"/>). Needs heads % U == 0.
/// </summary>
public sealed class UlyssesAttention(ICommunicator ulyssesGroup) : IAttention, ITokenGather
{
    public ICommunicator Group { get; } = ulyssesGroup;

    public AttentionResult Run(IOps ops, AttentionCall call) =>
        SequenceParallelAttention.Run(ops, call, Group, null, nameof(UlyssesAttention));

    public Tensor GatherTokens(IOps ops, Tensor local, string layer) => SequenceParallelAttention.GatherTokens(local, Group, null);
}

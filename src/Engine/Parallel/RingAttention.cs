using XDit.Comm;
using XDit.Kernels;
using XDit.Models;
using XDit.Runtime;

namespace XDit.Engine.Parallel;

/// <summary>
/// Ring attention: each rank keeps its query shard while the K/V shards travel around the ring; the partial
/// outputs are merged by log-sum-exp (methods.md §4). Joint text keys/values are attended once, in the first
/// step (text first, Flux) or the last (text last, SD3).
/// </summary>
public sealed class RingAttention(ICommunicator ringGroup) : IAttention, ITokenGather
{
    public ICommunicator Group { get; } = ringGroup;

    public AttentionResult Run(IOps ops, AttentionCall call) =>
        SequenceParallelAttention.Run(ops, call, null, Group, nameof(RingAttention));

    public Tensor GatherTokens(IOps ops, Tensor local, string layer) => SequenceParallelAttention.GatherTokens(local, null, Group);
}

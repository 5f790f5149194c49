using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models;

/// <summary>
/// One whole self-attention module of a block (q/k/v projections, attention, output projection), as a model hands
/// it to an <see cref="IModuleAttention"/>: DiTFastAttn decides per step whether to run it, run it on half of the
/// batch, or reuse an earlier output, which a bare <see cref="AttentionCall"/> (already projected) cannot express.
/// </summary>
public sealed record SelfAttentionModuleCall
{
    /// <summary>"transformer_blocks.3.attn1".</summary>
    public required string Layer { get; init; }
    /// <summary>The block's index (the row of a DiTFastAttn plan).</summary>
    public required int Block { get; init; }
    /// <summary>The hidden states the projections read, [B, N, D].</summary>
    public required Tensor Input { get; init; }
    /// <summary>q, k, v [b, N, H, d] of rows of <see cref="Input"/> (all of them, or a slice along the batch); the
    /// caller disposes them.</summary>
    public required Func<IOps, Tensor, (Tensor Q, Tensor K, Tensor V)> Project { get; init; }
    /// <summary>The output projection of an attention result [b, N, H, d] → [b, N, D].</summary>
    public required Func<IOps, Tensor, Tensor> OutProject { get; init; }
}

/// <summary>An attention that runs whole self-attention modules (a model that offers them asks for
/// <see cref="RunSelfAttention"/> instead of projecting and calling <see cref="IAttention.Run"/> itself). Every
/// other attention of the model (cross-attention) still comes through <see cref="IAttention.Run"/>.</summary>
public interface IModuleAttention : IAttention
{
    /// <summary>The module's output [B, N, D], owned by the caller.</summary>
    Tensor RunSelfAttention(IOps ops, SelfAttentionModuleCall call);
}

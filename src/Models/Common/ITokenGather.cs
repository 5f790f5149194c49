using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models;

/// <summary>
/// Offered by a sequence-parallel attention (Ulysses, Ring, USP) beside <see cref="IAttention.Run"/>: gathers every
/// rank's shard of the image tokens, for a layer that mixes neighbouring tokens of the grid (SANA's depth-wise
/// convolution in the Mix-FFN) and so needs rows this rank does not hold. A model asks for it with
/// <c>attention as ITokenGather</c>; single-rank attention does not offer it (the state holds every token).
/// </summary>
public interface ITokenGather
{
    /// <summary>x [B, n, C], this rank's rows [TokenStart, TokenStart + n) → [B, n·ranks, C], every rank's rows in
    /// sequence order (a new tensor the caller owns).</summary>
    Tensor GatherTokens(IOps ops, Tensor local);
}

using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models;

/// <summary>
/// Offered by an attention that can hand a layer the whole token grid when the state holds only part of it
/// (sequence parallel: Ulysses, Ring, USP gather every rank's shard; PipeFusion: the patch's rows over stale rows of
/// the other patches), for a layer that mixes neighbouring tokens of the grid (SANA's depth-wise convolution in the
/// Mix-FFN). A model asks for it with <c>attention as ITokenGather</c> and, when offered, calls it for every such
/// layer, whether or not its state is sharded (PipeFusion's warm-up holds every token yet must keep a copy);
/// single-rank attention does not offer it (the state holds every token).
/// </summary>
public interface ITokenGather
{
    /// <summary>x [B, n, C], this rank's rows [TokenStart, TokenStart + n) at layer <paramref name="layer"/> →
    /// [B, N, C], every token of the grid in sequence order: rows the other ranks hold, or (PipeFusion) the latest
    /// rows of the other patches this layer saw. The caller disposes it; it may be a view of a buffer the gatherer
    /// keeps (disposing a view frees nothing), valid until the next call.</summary>
    Tensor GatherTokens(IOps ops, Tensor local, string layer);
}

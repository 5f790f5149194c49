using XDit.Comm;
using XDit.Kernels;
using XDit.Models.Vae.Dc;
using XDit.Runtime;

namespace XDit.Engine.ParallelVae;

/// <summary>
/// The DC-AE decoder's spatially coupled operations when each rank of <see cref="Group"/> holds a band of rows
/// (rank order = top to bottom): a k×k convolution, dense or grouped (the depth-wise ones of the attention), and
/// GLUMBConv (per pixel but for its depth-wise 3×3) run on the band widened by k/2 halo rows from the neighbours
/// (<see cref="HaloRows"/>); the linear attention's key/value sums over the band's pixels are all-reduced over the
/// group, so every rank applies the sums of the whole image to its own queries (no sequence is gathered).
/// Everything else in the decoder is per pixel and stays local.
/// </summary>
public sealed class PatchParallelDcOps(ICommunicator group) : DcSpatialOps
{
    public ICommunicator Group { get; } = group;

    public override Tensor Rows(IOps ops, Tensor x, int halo, string layer, Func<Tensor, Tensor> f)
        => HaloRows.Convolve(ops, Group, x, halo, layer, f);

    public override Tensor LinearAttentionSums(IOps ops, Tensor k, Tensor v)
    {
        var sums = base.LinearAttentionSums(ops, k, v);
        if (Group.Size > 1) Group.AllReduce(sums);
        return sums;
    }
}

using XDit.Comm;
using XDit.Kernels;
using XDit.Models.Vae;
using XDit.Runtime;

namespace XDit.Engine.ParallelVae;

/// <summary>
/// Patch-parallel AutoencoderKL encoding over a group of ranks, the mirror of <see cref="ParallelVaeDecoder"/>:
/// every rank passes the same whole image; rank r encodes the image rows of its latent band
/// (<see cref="ParallelVaeDecoder.Band"/> of the H/f latent rows, times f) through the unchanged encoder with
/// <see cref="PatchParallelVaeOps"/> (halo rows for the 3×3 convolutions, pooled GroupNorm statistics, the mid-block
/// attention over the gathered sequence, the stride-2 downsampler's bottom row from the band below), and the moments
/// bands are all-gathered, so every rank ends with the whole image's moments, equal to a one-rank encode up to float
/// rounding. Cutting on latent rows keeps every band boundary on a multiple of 2^k image rows before the k-th
/// downsampler from the bottom, so each stride-2 convolution maps a band's rows onto exactly its share of the
/// output. An image with fewer latent rows than ranks cannot give every rank a band: then every rank encodes the
/// whole image itself (as without patch parallelism), with the same result.
/// </summary>
public sealed class ParallelVaeEncoder(ICommunicator group)
{
    public ICommunicator Group { get; } = group;
    public PatchParallelVaeOps Ops { get; } = new(group);

    /// <summary>The encoder's raw moments [B, 2·latent_channels, H/f, W/f] (<see cref="VaeEncoder.Moments(IOps, Tensor)"/>)
    /// of image [B, C, H, W] (the same on every rank), whole on every rank; <see cref="VaeEncoder.Distribution"/> and
    /// <see cref="VaeEncoder.Latents"/> make the distribution or the scaled latents of them.</summary>
    public Tensor Moments(IOps ops, VaeEncoder encoder, Tensor image)
    {
        int f = encoder.Config.SpatialFactor;
        if (image.Rank != 4 || image.Dim(2) % f != 0 || Group.Size == 1 || image.Dim(2) / f < Group.Size)
            return encoder.Moments(ops, image);     // one rank, too few latent rows, or a shape the encoder refuses itself
        var (start, count) = ParallelVaeDecoder.Band(image.Dim(2) / f, Group.Size, Group.Rank);
        using var band = ops.Contiguous(image.Slice(2, start * f, count * f));
        using var moments = encoder.Moments(ops, band, Ops);
        return Group.AllGather(moments, 2);
    }
}

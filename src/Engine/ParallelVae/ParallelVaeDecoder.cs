using XDit.Comm;
using XDit.Kernels;
using XDit.Models.Vae;
using XDit.Models.Vae.Dc;
using XDit.Runtime;

namespace XDit.Engine.ParallelVae;

/// <summary>
/// Patch-parallel VAE decoding over a group of ranks (xDiT's --use-parallel-vae, methods.md §9). Every rank passes
/// the same full latent; rank r decodes latent rows <see cref="Band"/> (balanced bands: the first h mod N ranks get
/// one row more; DistVAE's ceil(h/N) split can leave the last rank empty, so it is not used) through the unchanged
/// decoder with <see cref="PatchParallelVaeOps"/> (AutoencoderKL) or <see cref="PatchParallelDcOps"/> (SANA's
/// DC-AE), and the image bands are all-gathered, so every rank returns the whole image, equal to a one-rank decode
/// up to float rounding. Activation memory per rank falls to about 1/N. A band needs at least as many latent rows
/// as its widest kernel's halo (2 for the DC-AE's 5×5 multi-scale kernels at the deepest stage).
/// </summary>
public sealed class ParallelVaeDecoder
{
    public ParallelVaeDecoder(ICommunicator group)
    {
        Group = group;
        Ops = new PatchParallelVaeOps(group);
        DcOps = new PatchParallelDcOps(group);
    }

    public ICommunicator Group { get; }
    public PatchParallelVaeOps Ops { get; }
    public PatchParallelDcOps DcOps { get; }

    /// <summary>Latent rows [Start, Start + Count) of rank <paramref name="rank"/> for a latent of <paramref name="height"/> rows.</summary>
    public static (int Start, int Count) Band(int height, int ranks, int rank)
    {
        if (height < ranks)
            throw new ArgumentException($"patch-parallel VAE: the latent has {height} rows, fewer than the {ranks} ranks of the VAE group; every rank needs at least one row");
        int per = height / ranks, extra = height % ranks;
        return (rank * per + Math.Min(rank, extra), per + (rank < extra ? 1 : 0));
    }

    /// <summary>Decodes z [B, C, h, w] (the same on every rank; already scaled and shifted as for
    /// <see cref="AutoencoderKL.Decode(IOps, Tensor)"/>) to the whole image on every rank.</summary>
    public Tensor Decode(IOps ops, AutoencoderKL vae, Tensor z)
    {
        if (z.Rank != 4) throw new ArgumentException($"patch-parallel VAE: z must be [B, C, h, w], got {Shape.Format(z.ShapeSpan)}");
        using var band = OwnBand(ops, z);
        using var image = vae.Decode(ops, band, Ops);
        return Group.Size == 1 ? ops.Contiguous(image) : Group.AllGather(image, 2);
    }

    /// <summary>Decodes z [B, C, h, w] of SANA's DC-AE (the same on every rank; already divided by the scaling factor
    /// as for <see cref="AutoencoderDC.Decode(IOps, Tensor)"/>) to the whole image on every rank.</summary>
    public Tensor Decode(IOps ops, AutoencoderDC vae, Tensor z)
    {
        if (z.Rank != 4) throw new ArgumentException($"patch-parallel VAE: z must be [B, C, h, w], got {Shape.Format(z.ShapeSpan)}");
        using var band = OwnBand(ops, z);
        using var image = vae.Decode(ops, band, DcOps);
        return Group.Size == 1 ? ops.Contiguous(image) : Group.AllGather(image, 2);
    }

    /// <summary>This rank's latent rows, contiguous.</summary>
    Tensor OwnBand(IOps ops, Tensor z)
    {
        var (start, count) = Band(z.Dim(2), Group.Size, Group.Rank);
        return ops.Contiguous(z.Slice(2, start, count));
    }
}

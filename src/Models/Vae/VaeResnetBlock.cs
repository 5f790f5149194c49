using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Vae;

/// <summary>
/// diffusers ResnetBlock2D: h = conv1(SiLU(GN1(x))); h = conv2(SiLU(GN2(h))); out = shortcut(x) + h, the shortcut a
/// 1×1 conv when the channel count changes (output_scale_factor 1, no dropout at inference). The VAE's have no time
/// embedding; the SDXL UNet's (time_embedding_norm "default") add time_emb_proj(SiLU(temb)) per channel to
/// conv1's output, before GN2.
/// </summary>
public sealed class VaeResnetBlock
{
    /// <param name="tembChannels">width of the time embedding this block takes (time_emb_proj [out, temb]); null for
    /// none (the VAE)</param>
    public VaeResnetBlock(WeightScope w, int inChannels, int outChannels, int groups, float eps = VaeGroupNorm.DefaultEps, int? tembChannels = null)
    {
        Norm1 = VaeGroupNorm.Load(w.Pp("norm1"), inChannels, groups, eps);
        Conv1 = VaeConv.Load(w.Pp("conv1"), inChannels, outChannels, 3);
        if (tembChannels is { } t) TimeEmbProj = w.Linear("time_emb_proj", t, outChannels);
        Norm2 = VaeGroupNorm.Load(w.Pp("norm2"), outChannels, groups, eps);
        Conv2 = VaeConv.Load(w.Pp("conv2"), outChannels, outChannels, 3);
        if (inChannels != outChannels) Shortcut = VaeConv.Load(w.Pp("conv_shortcut"), inChannels, outChannels, 1);
    }

    public VaeGroupNorm Norm1 { get; }
    public VaeConv Conv1 { get; }
    public VaeGroupNorm Norm2 { get; }
    public VaeConv Conv2 { get; }
    public VaeConv? Shortcut { get; }
    /// <summary>time_emb_proj [out, temb] + bias, when the block takes a time embedding.</summary>
    public Linear? TimeEmbProj { get; }

    /// <param name="tembActivated">SiLU(temb) [B, temb] (the same for every block of a forward, so the caller
    /// computes it once); required exactly when the block has <see cref="TimeEmbProj"/></param>
    public Tensor Forward(IOps ops, Tensor x, VaeSpatialOps spatial, Tensor? tembActivated = null)
    {
        if ((TimeEmbProj is null) != (tembActivated is null))
            throw new ArgumentException(TimeEmbProj is null ? "this resnet block takes no time embedding" : "this resnet block needs the time embedding");
        // the time embedding (per batch and channel) and the shortcut are added in conv1's and conv2's bias passes:
        // no sum is a pass over the feature map of its own
        Tensor h;
        using (var a = NormSilu(ops, x, Norm1, spatial))
        {
            if (TimeEmbProj is { } proj)
            {
                using var t = proj.Apply(ops, tembActivated!);
                h = spatial.Conv(ops, a, Conv1, t.Reshape(t.Dim(0), t.Dim(1), 1, 1));
            }
            else h = spatial.Conv(ops, a, Conv1);
        }
        using (var a = NormSilu(ops, h, Norm2, spatial))
        {
            h.Dispose();
            if (Shortcut is null) return spatial.Conv(ops, a, Conv2, x);
            using var s = spatial.Conv(ops, x, Shortcut);
            return spatial.Conv(ops, a, Conv2, s);
        }
    }

    /// <summary>SiLU(GroupNorm(x)), one pass: the norm is never written out on its own.</summary>
    /// <summary>The resnets of an up or down block one after another, from <paramref name="x"/> (kept) to the
    /// last one's output (each intermediate freed as soon as the next is made).</summary>
    internal static Tensor Chain(IReadOnlyList<VaeResnetBlock> resnets, IOps ops, Tensor x, VaeSpatialOps spatial)
    {
        var h = resnets[0].Forward(ops, x, spatial);
        for (int i = 1; i < resnets.Count; i++)
        {
            var next = resnets[i].Forward(ops, h, spatial);
            h.Dispose();
            h = next;
        }
        return h;
    }

    internal static Tensor NormSilu(IOps ops, Tensor x, VaeGroupNorm norm, VaeSpatialOps spatial)
        => spatial.GroupNorm(ops, x, norm, Activation.Silu);
}

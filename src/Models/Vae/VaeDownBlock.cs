using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Vae;

/// <summary>diffusers DownEncoderBlock2D of the VAE encoder: layers_per_block resnets, then (except in the last block)
/// Downsample2D with padding 0: the map is padded by one zero column on the right and one zero row at the bottom,
/// then a 3×3 convolution with stride 2 halves it (<see cref="VaeSpatialOps.Downsample"/>) (the SDXL UNet's downsampler pads 1 on every side instead, so the
/// two are not interchangeable).</summary>
public sealed class VaeDownBlock
{
    public VaeDownBlock(WeightScope w, int inChannels, int outChannels, int numResnets, int groups, bool downsample)
    {
        var resnets = new VaeResnetBlock[numResnets];
        for (int i = 0; i < numResnets; i++)
            resnets[i] = new VaeResnetBlock(w.Pp("resnets").Pp(i), i == 0 ? inChannels : outChannels, outChannels, groups);
        Resnets = resnets;
        if (downsample) Downsampler = VaeConv.Load(w.Pp("downsamplers.0.conv"), outChannels, outChannels, 3);
    }

    public IReadOnlyList<VaeResnetBlock> Resnets { get; }
    /// <summary>The stride-2 convolution, applied without padding to the map padded right and bottom.</summary>
    public VaeConv? Downsampler { get; }

    public Tensor Forward(IOps ops, Tensor x, VaeSpatialOps spatial)
    {
        var h = VaeResnetBlock.Chain(Resnets, ops, x, spatial);
        if (Downsampler is null) return h;
        using (h) return spatial.Downsample(ops, h, Downsampler);
    }
}

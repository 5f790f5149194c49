using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Vae;

/// <summary>diffusers DownEncoderBlock2D of the VAE encoder: layers_per_block resnets, then (except in the last block)
/// Downsample2D with padding 0: the map is padded by one zero column on the right and one zero row at the bottom,
/// then a 3×3 convolution with stride 2 halves it (the SDXL UNet's downsampler pads 1 on every side instead, so the
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
        using (h)
        {
            using var padded = PadRightBottom(ops, h);
            return ops.Conv2d(padded, Downsampler.Weight, Downsampler.Bias, stride: 2, padding: 0);
        }
    }

    /// <summary>x [B, C, H, W] → [B, C, H + 1, W + 1] with x in the top-left corner and zeros in the new last row and
    /// column (F.pad(x, (0, 1, 0, 1))): a zeroed map and a copy into its view, two existing ops, so no new kernel.</summary>
    internal static Tensor PadRightBottom(IOps ops, Tensor x)
    {
        int b = x.Dim(0), c = x.Dim(1), h = x.Dim(2), w = x.Dim(3);
        var padded = ops.Zeros(x.DType, b, c, h + 1, w + 1);
        try { ops.Copy(padded.Slice(2, 0, h).Slice(3, 0, w), x); }
        catch { padded.Dispose(); throw; }
        return padded;
    }
}

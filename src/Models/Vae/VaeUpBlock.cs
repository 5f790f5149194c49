using XDit.Runtime;
using XDit.Kernels;

namespace XDit.Models.Vae;

/// <summary>diffusers UpDecoderBlock2D: layers_per_block + 1 resnets, then (except in the last block) Upsample2D,
/// nearest-neighbour 2× followed by a 3×3 conv.</summary>
public sealed class VaeUpBlock
{
    public VaeUpBlock(WeightScope w, int inChannels, int outChannels, int numResnets, int groups, bool upsample)
    {
        var resnets = new VaeResnetBlock[numResnets];
        for (int i = 0; i < numResnets; i++)
            resnets[i] = new VaeResnetBlock(w.Pp("resnets").Pp(i), i == 0 ? inChannels : outChannels, outChannels, groups);
        Resnets = resnets;
        if (upsample) Upsampler = VaeConv.Load(w.Pp("upsamplers.0.conv"), outChannels, outChannels, 3);
    }

    public IReadOnlyList<VaeResnetBlock> Resnets { get; }
    public VaeConv? Upsampler { get; }

    public Tensor Forward(IOps ops, Tensor x, VaeSpatialOps spatial)
    {
        var h = VaeResnetBlock.Chain(Resnets, ops, x, spatial);
        if (Upsampler is null) return h;
        using (h)
        {
            using var up = spatial.Upsample(ops, h);
            return spatial.Conv(ops, up, Upsampler);
        }
    }
}

using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Vae.HunyuanVideo;

/// <summary>diffusers' HunyuanVideoUpBlock3D: layers_per_block + 1 resnets (the first changes the channel count),
/// then, where the block upsamples in space or time, a <see cref="HunyuanVideoUpsample"/> at the block's width.</summary>
public sealed class HunyuanVideoUpBlock
{
    public HunyuanVideoUpBlock(WeightScope w, int inChannels, int outChannels, int numResnets, int groups, bool space, bool time)
    {
        var resnets = new HunyuanVideoResnetBlock[numResnets];
        for (int i = 0; i < numResnets; i++)
            resnets[i] = new HunyuanVideoResnetBlock(w.Pp("resnets").Pp(i), i == 0 ? inChannels : outChannels, outChannels, groups);
        Resnets = resnets;
        if (space || time) Upsampler = new HunyuanVideoUpsample(w.Pp("upsamplers").Pp(0), outChannels, outChannels, space, time);
    }

    public IReadOnlyList<HunyuanVideoResnetBlock> Resnets { get; }
    public HunyuanVideoUpsample? Upsampler { get; }

    /// <summary>x [B, C, T, H, W] (kept) → the block's output (every intermediate freed as soon as the next is made).</summary>
    public Tensor Forward(IOps ops, Tensor x, long gatherElements)
    {
        var h = Resnets[0].Forward(ops, x, gatherElements);
        for (int i = 1; i < Resnets.Count; i++)
        {
            using var before = h;
            h = Resnets[i].Forward(ops, before, gatherElements);
        }
        if (Upsampler is null) return h;
        using (h) return Upsampler.Forward(ops, h, gatherElements);
    }
}

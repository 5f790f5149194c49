using XDit.Models.Vae.CogVideoX;
using XDit.Runtime;

namespace XDit.Models.Vae.Wan;

/// <summary>diffusers' WanUpBlock (Wan 2.1, is_residual false): num_res_blocks + 1 residual blocks, the first from
/// the block's input width, then (all but the last block) a <see cref="WanResample"/> that halves the channels and
/// doubles height and width, and the frames too in the blocks temperal_downsample names (reversed). The mid block
/// is <see cref="WanMidBlock"/>.</summary>
public sealed class WanUpBlock
{
    public WanUpBlock(WeightScope w, int inChannels, int outChannels, int numResnets, bool upsample, bool time)
    {
        var resnets = new WanResidualBlock[numResnets];
        for (int i = 0; i < numResnets; i++)
            resnets[i] = new WanResidualBlock(w.Pp("resnets").Pp(i), i == 0 ? inChannels : outChannels, outChannels);
        Resnets = resnets;
        if (upsample) Upsampler = new WanResample(w.Pp("upsamplers").Pp(0), outChannels, time);
    }

    public IReadOnlyList<WanResidualBlock> Resnets { get; }
    public WanResample? Upsampler { get; }

    /// <summary>x [B, C, T, H, W] → the block's output. Takes x: it is freed as soon as the first residual block
    /// has made its output (at full resolution the block's input is one of the largest maps), as is every
    /// intermediate once the next is made.</summary>
    public Tensor Forward(XDit.Kernels.IOps ops, Tensor x, CogVideoXConvCache cache, bool firstChunk)
    {
        Tensor h;
        using (x) h = Resnets[0].Forward(ops, x, cache);
        for (int i = 1; i < Resnets.Count; i++)
        {
            var next = Resnets[i].Forward(ops, h, cache);
            h.Dispose();
            h = next;
        }
        if (Upsampler is null) return h;
        using (h) return Upsampler.Forward(ops, h, cache, firstChunk);
    }
}

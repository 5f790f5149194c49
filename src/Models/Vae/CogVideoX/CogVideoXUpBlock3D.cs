using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Vae.CogVideoX;

/// <summary>diffusers' CogVideoXUpBlock3D in the decoder: layers_per_block + 1 resnets conditioned on z, then
/// (except in the last block) a <see cref="CogVideoXUpsample3D"/>, which also doubles the frames in the first
/// log2(temporal_compression_ratio) blocks. The mid block is the same without the upsampler (two resnets).</summary>
public sealed class CogVideoXUpBlock3D
{
    public CogVideoXUpBlock3D(WeightScope w, int inChannels, int outChannels, int numResnets, int latentChannels, int groups, bool upsample, bool compressTime)
    {
        var resnets = new CogVideoXResnetBlock3D[numResnets];
        for (int i = 0; i < numResnets; i++)
            resnets[i] = new CogVideoXResnetBlock3D(w.Pp("resnets").Pp(i), i == 0 ? inChannels : outChannels, outChannels, latentChannels, groups);
        Resnets = resnets;
        if (upsample) Upsampler = new CogVideoXUpsample3D(w.Pp("upsamplers.0"), outChannels, compressTime);
    }

    public IReadOnlyList<CogVideoXResnetBlock3D> Resnets { get; }
    public CogVideoXUpsample3D? Upsampler { get; }

    /// <summary>x [B, C, T, H, W] (kept) and the batch's latent z → the block's output (every intermediate freed as
    /// soon as the next is made).</summary>
    public Tensor Forward(IOps ops, Tensor x, Tensor z, CogVideoXConvCache? cache)
    {
        var h = Resnets[0].Forward(ops, x, z, cache);
        for (int i = 1; i < Resnets.Count; i++)
        {
            var next = Resnets[i].Forward(ops, h, z, cache);
            h.Dispose();
            h = next;
        }
        if (Upsampler is null) return h;
        using (h) return Upsampler.Forward(ops, h, cache?.GatherElements ?? CogVideoXCausalConv3d.DefaultGatherElements);
    }
}

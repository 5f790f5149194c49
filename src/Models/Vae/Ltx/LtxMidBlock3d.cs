using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Vae.Ltx;

/// <summary>diffusers' LTXVideoMidBlock3d in the decoder: resnets at one width, all modulated by the block's own time
/// embedding (width 4C) of the scaled timestep when the decoder is timestep-conditioned.</summary>
public sealed class LtxMidBlock3d
{
    public LtxMidBlock3d(WeightScope w, LtxVaeConfig config)
    {
        int c = config.MidChannels;
        float eps = (float)config.ResnetNormEps;
        if (config.TimestepConditioning) TimeEmbedder = LtxTimeEmbedder.Load(w, 4 * c);
        Resnets = Enumerable.Range(0, config.MidLayers)
            .Select(i => new LtxResnetBlock3d(w.Pp("resnets").Pp(i), c, c, config.DecoderCausal, config.TimestepConditioning, eps)).ToArray();
    }

    public LtxTimeEmbedder? TimeEmbedder { get; }
    public IReadOnlyList<LtxResnetBlock3d> Resnets { get; }

    /// <summary>x [B, C, T, H, W] → the same shape; takes ownership of x (disposes it).</summary>
    public Tensor Forward(IOps ops, Tensor x, ReadOnlySpan<float> timesteps, long gatherElements)
    {
        using var temb = TimeEmbedder?.Embed(ops, timesteps);
        var h = x;
        try
        {
            foreach (var r in Resnets)
            {
                var next = r.Forward(ops, h, temb, gatherElements);
                h.Dispose();
                h = next;
            }
        }
        catch { h.Dispose(); throw; }
        return h;
    }
}

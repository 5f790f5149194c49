using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Vae.Ltx;

/// <summary>
/// diffusers' LTXVideoUpBlock3d: conv_in (a resnet to the block's width, only where the width changes, never with
/// timestep conditioning: <see cref="LtxVaeConfig"/>), the depth-to-space upsampler (decoder_spatio_temporal_scaling)
/// and the resnets, modulated by the block's own time embedding of width 4·(input width).
/// </summary>
public sealed class LtxUpBlock3d
{
    public LtxUpBlock3d(WeightScope w, LtxVaeConfig config, int index)
    {
        int input = config.UpInChannels(index), output = config.UpOutChannels(index), f = config.UpFactor(index);
        bool causal = config.DecoderCausal, cond = config.TimestepConditioning;
        float eps = (float)config.ResnetNormEps;
        if (cond) TimeEmbedder = LtxTimeEmbedder.Load(w, 4 * input);
        if (input != output) ConvIn = new LtxResnetBlock3d(w.Pp("conv_in"), input, output, causal, false, eps);
        if (config.Upsamples(index))
            Upsampler = new LtxUpsampler3d(w.Pp("upsamplers").Pp(0), output * f, f, config.UpResidual(index), causal);
        Resnets = Enumerable.Range(0, config.UpLayers(index))
            .Select(i => new LtxResnetBlock3d(w.Pp("resnets").Pp(i), output, output, causal, cond, eps)).ToArray();
    }

    public LtxTimeEmbedder? TimeEmbedder { get; }
    public LtxResnetBlock3d? ConvIn { get; }
    public LtxUpsampler3d? Upsampler { get; }
    public IReadOnlyList<LtxResnetBlock3d> Resnets { get; }

    /// <summary>x [B, C, T, H, W] → [B, O, T', H', W'] (T' = 2T − 1 and H', W' doubled with an upsampler); takes
    /// ownership of x.</summary>
    public Tensor Forward(IOps ops, Tensor x, ReadOnlySpan<float> timesteps, long gatherElements)
    {
        var h = x;
        try
        {
            if (ConvIn is not null) h = Step(h, ConvIn.Forward(ops, h, null, gatherElements));
            using var temb = TimeEmbedder?.Embed(ops, timesteps);
            if (Upsampler is not null) h = Step(h, Upsampler.Forward(ops, h, gatherElements));
            foreach (var r in Resnets) h = Step(h, r.Forward(ops, h, temb, gatherElements));
        }
        catch { h.Dispose(); throw; }
        return h;
    }

    static Tensor Step(Tensor previous, Tensor next)
    {
        previous.Dispose();
        return next;
    }
}

using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Vae;

/// <summary>
/// diffusers ResnetBlock2D without a time embedding: h = conv1(SiLU(GN1(x))); h = conv2(SiLU(GN2(h)));
/// out = shortcut(x) + h, the shortcut a 1×1 conv when the channel count changes (output_scale_factor 1, no dropout
/// at inference).
/// </summary>
public sealed class VaeResnetBlock
{
    public VaeResnetBlock(WeightScope w, int inChannels, int outChannels, int groups)
    {
        Norm1 = VaeGroupNorm.Load(w.Pp("norm1"), inChannels, groups);
        Conv1 = VaeConv.Load(w.Pp("conv1"), inChannels, outChannels, 3);
        Norm2 = VaeGroupNorm.Load(w.Pp("norm2"), outChannels, groups);
        Conv2 = VaeConv.Load(w.Pp("conv2"), outChannels, outChannels, 3);
        if (inChannels != outChannels) Shortcut = VaeConv.Load(w.Pp("conv_shortcut"), inChannels, outChannels, 1);
    }

    public VaeGroupNorm Norm1 { get; }
    public VaeConv Conv1 { get; }
    public VaeGroupNorm Norm2 { get; }
    public VaeConv Conv2 { get; }
    public VaeConv? Shortcut { get; }

    public Tensor Forward(IOps ops, Tensor x, VaeSpatialOps spatial)
    {
        Tensor h;
        using (var a = NormSilu(ops, x, Norm1, spatial)) h = spatial.Conv(ops, a, Conv1);
        using (var a = NormSilu(ops, h, Norm2, spatial)) { h.Dispose(); h = spatial.Conv(ops, a, Conv2); }
        using (h)
        {
            if (Shortcut is null) return ops.Add(x, h);
            using var s = spatial.Conv(ops, x, Shortcut);
            return ops.Add(s, h);
        }
    }

    /// <summary>SiLU(GroupNorm(x)).</summary>
    internal static Tensor NormSilu(IOps ops, Tensor x, VaeGroupNorm norm, VaeSpatialOps spatial)
    {
        using var n = spatial.GroupNorm(ops, x, norm);
        return ops.Activate(n, Activation.Silu);
    }
}

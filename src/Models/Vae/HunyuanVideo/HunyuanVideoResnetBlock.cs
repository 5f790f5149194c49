using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Vae.HunyuanVideo;

/// <summary>
/// diffusers' HunyuanVideoResnetBlockCausal3D (no time embedding, no dropout at inference):
/// h = conv1(SiLU(norm1(x))); out = shortcut(x) + conv2(SiLU(norm2(h))), the norms GroupNorms over channel groups of
/// all frames and pixels (eps 1e-6), the shortcut a causal 1×1×1 convolution (conv_shortcut) when the channel count
/// changes. The sum is taken in conv2's pass back to channel-major frames.
/// </summary>
public sealed class HunyuanVideoResnetBlock
{
    public HunyuanVideoResnetBlock(WeightScope w, int inChannels, int outChannels, int groups)
    {
        Norm1 = VaeGroupNorm.Load(w.Pp("norm1"), inChannels, groups, HunyuanVideoVaeConfig.NormEps);
        Conv1 = HunyuanVideoCausalConv3d.Load(w.Pp("conv1"), inChannels, outChannels, 3);
        Norm2 = VaeGroupNorm.Load(w.Pp("norm2"), outChannels, groups, HunyuanVideoVaeConfig.NormEps);
        Conv2 = HunyuanVideoCausalConv3d.Load(w.Pp("conv2"), outChannels, outChannels, 3);
        if (inChannels != outChannels) Shortcut = HunyuanVideoCausalConv3d.Load(w.Pp("conv_shortcut"), inChannels, outChannels, 1);
    }

    public VaeGroupNorm Norm1 { get; }
    public HunyuanVideoCausalConv3d Conv1 { get; }
    public VaeGroupNorm Norm2 { get; }
    public HunyuanVideoCausalConv3d Conv2 { get; }
    public HunyuanVideoCausalConv3d? Shortcut { get; }

    /// <summary>x [B, C, T, H, W] → [B, O, T, H, W].</summary>
    public Tensor Forward(IOps ops, Tensor x, long gatherElements)
    {
        Tensor h;
        using (var a = Norm(ops, x, Norm1)) h = Conv1.Forward(ops, a, null, gatherElements);
        using var normed = NormAndFree(ops, h, Norm2);
        if (Shortcut is null) return Conv2.Forward(ops, normed, x, gatherElements);
        using var s = Shortcut.Forward(ops, x);
        return Conv2.Forward(ops, normed, s, gatherElements);
    }

    internal static Tensor Norm(IOps ops, Tensor x, VaeGroupNorm n)
        => ops.GroupNorm(x, n.Groups, n.Weight, n.Bias, n.Eps, Activation.Silu);

    static Tensor NormAndFree(IOps ops, Tensor x, VaeGroupNorm n)
    {
        using (x) return Norm(ops, x, n);
    }
}

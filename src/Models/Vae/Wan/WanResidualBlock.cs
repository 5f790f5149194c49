using XDit.Kernels;
using XDit.Models.Vae.CogVideoX;
using XDit.Runtime;

namespace XDit.Models.Vae.Wan;

/// <summary>
/// diffusers' WanResidualBlock (dropout off at inference): h = conv1(SiLU(norm1(x))); out = conv2(SiLU(norm2(h)))
/// + shortcut(x), the shortcut a 1×1×1 convolution (conv_shortcut, no time padding, no cache) when the channel
/// count changes, else x. conv1 and conv2 are causal 3×3×3 with zero padding before the first frame and the
/// decode's cache of the last two input frames after it; the sum is taken in conv2's pass back to channel-major.
/// </summary>
public sealed class WanResidualBlock
{
    public WanResidualBlock(WeightScope w, int inChannels, int outChannels)
    {
        Norm1 = WanRmsNorm.Load(w.Pp("norm1"), inChannels, images: false);
        Conv1 = CogVideoXCausalConv3d.LoadZeroPadded(w.Pp("conv1"), inChannels, outChannels, 3, 3);
        Norm2 = WanRmsNorm.Load(w.Pp("norm2"), outChannels, images: false);
        Conv2 = CogVideoXCausalConv3d.LoadZeroPadded(w.Pp("conv2"), outChannels, outChannels, 3, 3);
        if (inChannels != outChannels)
        {
            var s = w.Pp("conv_shortcut");
            ShortcutBias = s.GetOperand("bias", outChannels);
            Shortcut = s.GetOperand("weight", outChannels, inChannels, 1, 1, 1).Reshape(outChannels, inChannels, 1, 1);
        }
    }

    public WanRmsNorm Norm1 { get; }
    public CogVideoXCausalConv3d Conv1 { get; }
    public WanRmsNorm Norm2 { get; }
    public CogVideoXCausalConv3d Conv2 { get; }
    /// <summary>conv_shortcut as a 1×1 Conv2d weight [O, C, 1, 1], when the channels change.</summary>
    public Tensor? Shortcut { get; }
    public Tensor? ShortcutBias { get; }

    /// <summary>x [B, C, T, H, W] → [B, O, T, H, W].</summary>
    public Tensor Forward(IOps ops, Tensor x, CogVideoXConvCache cache)
    {
        Tensor h;
        using (var a = Norm1.ChannelsFirst(ops, x, Activation.Silu)) h = Conv1.Forward(ops, a, cache);
        Tensor normed;
        using (h) normed = Norm2.ChannelsFirst(ops, h, Activation.Silu);
        using (var a = normed)
        {
            if (Shortcut is null) return Conv2.Forward(ops, a, cache, x);
            int b = x.Dim(0), c = x.Dim(1), t = x.Dim(2), hh = x.Dim(3), w = x.Dim(4), o = Shortcut.Dim(0);
            // a pointwise conv over [B, C, T·H, W] is the 1×1×1 conv over [B, C, T, H, W]
            using var xc = x.IsContiguous ? null : ops.Contiguous(x);
            using var s = ops.Conv2d((xc ?? x).Reshape(b, c, t * hh, w), Shortcut, ShortcutBias).TakeReshaped(b, o, t, hh, w);
            return Conv2.Forward(ops, a, cache, s);
        }
    }
}

using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Vae.CogVideoX;

/// <summary>
/// diffusers' CogVideoXResnetBlock3D as the decoder builds it (spatial norms conditioned on z, no time embedding, no
/// dropout at inference): h = conv1(SiLU(norm1(x, z))); h = conv2(SiLU(norm2(h, z))); out = shortcut(x) + h, the
/// shortcut a plain 1×1×1 Conv3d (conv_shortcut, no causal padding) when the channel count changes. The sum is
/// taken in conv2's pass back to channel-major frames.
/// </summary>
public sealed class CogVideoXResnetBlock3D
{
    public CogVideoXResnetBlock3D(WeightScope w, int inChannels, int outChannels, int latentChannels, int groups)
    {
        Norm1 = new CogVideoXSpatialNorm3D(w.Pp("norm1"), inChannels, latentChannels, groups);
        Conv1 = CogVideoXCausalConv3d.Load(w.Pp("conv1"), inChannels, outChannels, 3);
        Norm2 = new CogVideoXSpatialNorm3D(w.Pp("norm2"), outChannels, latentChannels, groups);
        Conv2 = CogVideoXCausalConv3d.Load(w.Pp("conv2"), outChannels, outChannels, 3);
        if (inChannels != outChannels)
        {
            var s = w.Pp("conv_shortcut");
            ShortcutBias = s.GetOperand("bias", outChannels);
            Shortcut = s.GetOperand("weight", outChannels, inChannels, 1, 1, 1).Reshape(outChannels, inChannels, 1, 1);
        }
    }

    public CogVideoXSpatialNorm3D Norm1 { get; }
    public CogVideoXCausalConv3d Conv1 { get; }
    public CogVideoXSpatialNorm3D Norm2 { get; }
    public CogVideoXCausalConv3d Conv2 { get; }
    /// <summary>conv_shortcut as a 1×1 Conv2d weight [O, C, 1, 1], when the channels change.</summary>
    public Tensor? Shortcut { get; }
    public Tensor? ShortcutBias { get; }

    /// <summary>x [B, C, T, H, W] and the batch's latent z → [B, O, T, H, W].</summary>
    public Tensor Forward(IOps ops, Tensor x, Tensor z, CogVideoXConvCache? cache)
    {
        Tensor h;
        using (var a = Norm1.Forward(ops, x, z, Activation.Silu)) h = Conv1.Forward(ops, a, cache);
        Tensor normed;
        using (h) normed = Norm2.Forward(ops, h, z, Activation.Silu);
        using (var a = normed)
        {
            if (Shortcut is null) return Conv2.Forward(ops, a, cache, x);
            int b = x.Dim(0), c = x.Dim(1), t = x.Dim(2), hh = x.Dim(3), w = x.Dim(4), o = Shortcut.Dim(0);
            // a pointwise conv over [B, C, T·H, W] is the 1×1×1 conv over [B, C, T, H, W]
            using var s = ops.Conv2d(x.Reshape(b, c, t * hh, w), Shortcut, ShortcutBias).TakeReshaped(b, o, t, hh, w);
            return Conv2.Forward(ops, a, cache, s);
        }
    }
}

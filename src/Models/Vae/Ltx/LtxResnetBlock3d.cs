using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Vae.Ltx;

/// <summary>
/// diffusers' LTXVideoResnetBlock3d as the decoder builds it (dropout off, no noise injection):
/// h = conv1(SiLU(mod1(norm1(x)))); out = conv2(SiLU(mod2(norm2(h)))) + shortcut(x). The norms are pixel RMS norms
/// (<see cref="LtxPixelNorm"/>); with timestep conditioning, mod1/mod2 are x·(1 + scale) + shift from the block's
/// time embedding plus its scale_shift_table [4, C] (shift 1, scale 1, shift 2, scale 2). When the width changes
/// the shortcut is norm3, a LayerNorm over the channels with affine (eps resnet_norm_eps), then conv_shortcut, a
/// 1×1×1 convolution: both per pixel, so they run channels-last as a LayerNorm and a Linear. The sum is taken in
/// conv2's pass back to channel-major.
/// </summary>
public sealed class LtxResnetBlock3d
{
    public LtxResnetBlock3d(WeightScope w, int inChannels, int outChannels, bool causal, bool timestepConditioning, float eps)
    {
        InChannels = inChannels;
        Conv1 = LtxCausalConv3d.Load(w.Pp("conv1"), inChannels, outChannels, 3, causal);
        Conv2 = LtxCausalConv3d.Load(w.Pp("conv2"), outChannels, outChannels, 3, causal);
        if (inChannels != outChannels)
        {
            var n3 = w.Pp("norm3");
            Norm3Weight = n3.Get("weight", inChannels);
            Norm3Bias = n3.Get("bias", inChannels);
            Norm3Eps = eps;
            var s = w.Pp("conv_shortcut").Pp("conv");
            Shortcut = new Linear(s.GetOperand("weight", outChannels, inChannels, 1, 1, 1).Reshape(outChannels, inChannels), s.GetOperand("bias", outChannels));
        }
        // diffusers' table is [4, in_channels]; its second half modulates conv1's output, so a width change with
        // conditioning cannot run there (LtxVaeConfig refuses it before this point)
        if (timestepConditioning) ScaleShiftTable = w.GetOperand("scale_shift_table", 4, inChannels);
    }

    public int InChannels { get; }
    public LtxCausalConv3d Conv1 { get; }
    public LtxCausalConv3d Conv2 { get; }
    public Tensor? Norm3Weight { get; }
    public Tensor? Norm3Bias { get; }
    public float Norm3Eps { get; }
    public Linear? Shortcut { get; }
    /// <summary>[4, C] in the activation dtype, when timestep-conditioned.</summary>
    public Tensor? ScaleShiftTable { get; }

    /// <summary>x [B, C, T, H, W] → [B, O, T, H, W]; <paramref name="temb"/> [B, 4C] is the block's time embedding
    /// (required when conditioned, else ignored).</summary>
    public Tensor Forward(IOps ops, Tensor x, Tensor? temb, long gatherElements)
    {
        if (x.Rank != 5 || x.Dim(1) != InChannels)
            throw new ArgumentException($"{Conv1.Name}: expects x [B, {InChannels}, T, H, W], got {Shape.Format(x.ShapeSpan)}");
        Tensor[]? mod = null;
        if (ScaleShiftTable is not null)
            mod = LtxTimeEmbedder.Parts(ops, temb ?? throw new ArgumentException($"{Conv1.Name}: a timestep-conditioned block needs the time embedding"), ScaleShiftTable);
        try
        {
            Tensor h;
            using (LtxPixelNorm.Apply(ops, x, mod?[0], mod?[1], out var a)) h = Conv1.Forward(ops, a, null, gatherElements);
            Tensor owner, view;
            using (h) owner = LtxPixelNorm.Apply(ops, h, mod?[2], mod?[3], out view);
            using (owner)
            {
                if (Shortcut is not { } shortcut) return Conv2.Forward(ops, view, x, gatherElements);
                using var normed = ops.LayerNorm(x.Permute(0, 2, 3, 4, 1), Norm3Weight, Norm3Bias, Norm3Eps);
                using var s = shortcut.Apply(ops, normed);   // [B, T, H, W, O]
                return Conv2.Forward(ops, view, s.Permute(0, 4, 1, 2, 3), gatherElements);
            }
        }
        finally
        {
            if (mod is not null) foreach (var t in mod) t.Dispose();
        }
    }
}

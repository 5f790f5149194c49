using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Vae.Dc;

/// <summary>A Conv2d layer of the DC-AE: weight [out, in/groups, k, k], optional bias [out], stride 1, "same" zero
/// padding (k/2). Groups 1 is a dense convolution; the depth-wise and grouped 1×1 layers of the attention and
/// GLUMBConv have more.</summary>
public sealed record DcConv(string Name, Tensor Weight, Tensor? Bias, int Groups)
{
    public int OutChannels => Weight.Dim(0);
    public int KernelSize => Weight.Dim(2);
    public int Padding => KernelSize / 2;

    /// <summary>Loads <c>weight</c> (and <c>bias</c> when <paramref name="bias"/>) of a k×k convolution.</summary>
    public static DcConv Load(WeightScope w, int inChannels, int outChannels, int kernel, bool bias = true, int groups = 1)
        => new(w.Prefix, w.GetOperand("weight", outChannels, inChannels / groups, kernel, kernel),
            bias ? w.GetOperand("bias", outChannels) : null, groups);

    /// <summary>The convolution of the whole of x [B, C, H, W].</summary>
    public Tensor Apply(IOps ops, Tensor x)
        => Groups == 1 ? ops.Conv2d(x, Weight, Bias, 1, Padding) : ops.GroupedConv2d(x, Weight, Bias, Groups, Padding);
}

using XDit.Runtime;

namespace XDit.Models.Vae;

/// <summary>A Conv2d layer: weight [out, in, k, k], optional bias [out], stride 1, "same" zero padding (k/2).</summary>
public sealed record VaeConv(string Name, Tensor Weight, Tensor? Bias)
{
    public int OutChannels => Weight.Dim(0);
    public int InChannels => Weight.Dim(1);
    public int KernelSize => Weight.Dim(2);
    public int Padding => KernelSize / 2;

    public static VaeConv Load(WeightScope w, int inChannels, int outChannels, int kernel)
        => new(w.Prefix, w.GetOperand("weight", outChannels, inChannels, kernel, kernel), w.GetOperand("bias", outChannels));
}

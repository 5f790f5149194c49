using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Vae.Dc;

/// <summary>
/// diffusers' RMSNorm with weight and bias applied across the channels of an image (DC-AE moves the channel axis
/// last for it): y = x·rsqrt(mean_c(x²) + eps)·weight + bias at every pixel. Pointwise in space, so a band of rows
/// normalises on its own.
/// </summary>
public sealed record ChannelRmsNorm(string Name, Tensor Weight, Tensor Bias, float Eps)
{
    /// <summary>Every RMSNorm of the DC-AE decoder uses diffusers' 1e-5.</summary>
    public const float DefaultEps = 1e-5f;

    public static ChannelRmsNorm Load(WeightScope w, int channels)
        => new(w.Prefix, w.Get("weight", channels), w.GetOperand("bias", channels), DefaultEps);

    /// <summary>Normalises x [B, C, H, W] over C.</summary>
    public Tensor Forward(IOps ops, Tensor x)
    {
        using var normed = ops.RmsNorm(x.Permute(0, 2, 3, 1), Weight, Eps);   // [B, H, W, C]
        using var shifted = ops.Add(normed, Bias);
        return ops.Contiguous(shifted.Permute(0, 3, 1, 2));
    }

    /// <summary>Normalises channel-last tokens x [..., C] over C.</summary>
    public Tensor ForwardLast(IOps ops, Tensor x)
    {
        using var normed = ops.RmsNorm(x, Weight, Eps);
        return ops.Add(normed, Bias);
    }
}

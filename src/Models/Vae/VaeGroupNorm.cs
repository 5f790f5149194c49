using XDit.Runtime;

namespace XDit.Models.Vae;

/// <summary>An affine GroupNorm layer of the decoder (diffusers uses eps 1e-6 throughout the VAE; the SDXL UNet,
/// which shares these layers, passes its norm_eps).</summary>
public sealed record VaeGroupNorm(string Name, Tensor Weight, Tensor Bias, int Groups, float Eps)
{
    public const float DefaultEps = 1e-6f;

    public static VaeGroupNorm Load(WeightScope w, int channels, int groups, float eps = DefaultEps)
        => new(w.Prefix, w.Get("weight", channels), w.Get("bias", channels), groups, eps);
}

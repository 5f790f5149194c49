using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Vae;

/// <summary>
/// The decoder's operations that couple pixels across the image: convolutions (a 3×3 kernel reads the neighbouring
/// rows), GroupNorm (statistics over the whole image), the mid-block attention (every token sees every token) and
/// the upsampling. Everything else in the decoder is pointwise. This default computes them on the whole image; a
/// patch-parallel decoder, where each rank holds a band of rows, overrides them (halo rows for the convolutions,
/// summed statistics for GroupNorm, a gathered sequence for the attention) and reuses the decoder unchanged.
/// </summary>
public class VaeSpatialOps
{
    public static readonly VaeSpatialOps Local = new();

    /// <summary>Convolution of x [B, C, H, W] with "same" padding, plus <paramref name="residual"/> (the output's
    /// shape, or [B, O, 1, 1]) where given, added in the convolution's bias pass (<see cref="IOps.Conv2d"/>).</summary>
    public virtual Tensor Conv(IOps ops, Tensor x, VaeConv conv, Tensor? residual = null)
        => ops.Conv2d(x, conv.Weight, conv.Bias, 1, conv.Padding, residual);

    /// <summary>GroupNorm of x [B, C, H, W] with the layer's affine parameters, then <paramref name="act"/> (the
    /// ResNets' SiLU), in the norm's one pass where the backend allows.</summary>
    public virtual Tensor GroupNorm(IOps ops, Tensor x, VaeGroupNorm norm, Activation act = Activation.None)
        => ops.GroupNorm(x, norm.Groups, norm.Weight, norm.Bias, norm.Eps, act);

    /// <summary>Nearest-neighbour 2× upsampling of x [B, C, H, W].</summary>
    public virtual Tensor Upsample(IOps ops, Tensor x) => ops.Upsample2x(x);

    /// <summary>The mid-block attention on the normalised tokens [B, N, C] (rows of the local band); the default
    /// holds the whole image, so it hands the tokens straight to <see cref="VaeAttentionBlock.Attend"/>, which needs
    /// the full sequence.</summary>
    public virtual Tensor MidAttention(IOps ops, Tensor tokens, VaeAttentionBlock block) => block.Attend(ops, tokens);
}

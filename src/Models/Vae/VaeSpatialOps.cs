using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Vae;

/// <summary>
/// The decoder's and the encoder's operations that couple pixels across the image: convolutions (a 3×3 kernel reads
/// the neighbouring rows), GroupNorm (statistics over the whole image), the mid-block attention (every token sees
/// every token), the decoder's upsampling and the encoder's stride-2 downsampling. Everything else is pointwise. This
/// default computes them on the whole image; a patch-parallel decoder or encoder, where each rank holds a band of
/// rows, overrides them (halo rows for the convolutions, summed statistics for GroupNorm, a gathered sequence for the
/// attention, the row below the band for the downsampler) and reuses the decoder and encoder unchanged.
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

    /// <summary>The encoder's Downsample2D: x [B, C, H, W] (H, W even) padded by one zero column on the right and one
    /// zero row at the bottom (F.pad(x, (0, 1, 0, 1))), then <paramref name="conv"/> (3×3) with stride 2 and no
    /// padding → [B, O, H/2, W/2]. Output row i reads input rows 2i..2i+2, so only the last output row reads past the
    /// map: a patch-parallel band takes that row from the band below and pads zeros only at the image's true bottom.</summary>
    public virtual Tensor Downsample(IOps ops, Tensor x, VaeConv conv)
    {
        using var padded = PadRightBottom(ops, x, null);
        return ops.Conv2d(padded, conv.Weight, conv.Bias, stride: 2, padding: 0);
    }

    /// <summary>x [B, C, H, W] → [B, C, H + 1, W + 1]: x in the top-left corner, <paramref name="bottomRow"/>
    /// [B, C, 1, W] (or zeros where null) in the new last row, zeros in the new last column. A zeroed map and copies
    /// into its views, existing ops, so no new kernel.</summary>
    protected static Tensor PadRightBottom(IOps ops, Tensor x, Tensor? bottomRow)
    {
        int b = x.Dim(0), c = x.Dim(1), h = x.Dim(2), w = x.Dim(3);
        var padded = ops.Zeros(x.DType, b, c, h + 1, w + 1);
        try
        {
            ops.Copy(padded.Slice(2, 0, h).Slice(3, 0, w), x);
            if (bottomRow is not null) ops.Copy(padded.Slice(2, h, 1).Slice(3, 0, w), bottomRow);
        }
        catch { padded.Dispose(); throw; }
        return padded;
    }

    /// <summary>Nearest-neighbour 2× upsampling of x [B, C, H, W].</summary>
    public virtual Tensor Upsample(IOps ops, Tensor x) => ops.Upsample2x(x);

    /// <summary>The mid-block attention on the normalised tokens [B, N, C] (rows of the local band); the default
    /// holds the whole image, so it hands the tokens straight to <see cref="VaeAttentionBlock.Attend"/>, which needs
    /// the full sequence.</summary>
    public virtual Tensor MidAttention(IOps ops, Tensor tokens, VaeAttentionBlock block) => block.Attend(ops, tokens);
}

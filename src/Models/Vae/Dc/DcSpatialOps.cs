using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Vae.Dc;

/// <summary>
/// The DC-AE decoder's operations that couple pixels across the image: whatever reads neighbouring rows (a k×k
/// convolution, dense or grouped, alone or inside GLUMBConv) and the linear attention's key/value sums (over every
/// pixel). Everything else in the decoder (1×1 projections, channel RMSNorm, channel repeats, pixel shuffle,
/// nearest upsampling) acts on each pixel or 2×2 cell alone. This default computes them on the whole image; a
/// patch-parallel decoder, where each rank holds a band of rows, overrides them (halo rows, all-reduced sums) and
/// reuses the decoder unchanged, as <see cref="VaeSpatialOps"/> does for AutoencoderKL.
/// </summary>
public class DcSpatialOps
{
    public static readonly DcSpatialOps Local = new();

    /// <summary>
    /// <paramref name="f"/>(x) for a function of x [B, C, H, W] whose output row r reads input rows r − halo …
    /// r + halo, zero-padded at the image's top and bottom, and keeps the row count (a "same" k×k convolution,
    /// halo k/2, with any per-pixel work around it). <paramref name="layer"/> names it in messages.
    /// </summary>
    public virtual Tensor Rows(IOps ops, Tensor x, int halo, string layer, Func<Tensor, Tensor> f) => f(x);

    /// <summary>Convolution of x [B, C, H, W] with "same" zero padding.</summary>
    public Tensor Conv(IOps ops, Tensor x, DcConv conv) => Rows(ops, x, conv.Padding, conv.Name, t => conv.Apply(ops, t));

    /// <summary>Σ over the pixels of v'·relu(k)ᵀ per (batch, head) (<see cref="IOps.LinearAttentionSums"/>) for
    /// k and v [B, N, H, D] over the pixels held here; the default holds them all.</summary>
    public virtual Tensor LinearAttentionSums(IOps ops, Tensor k, Tensor v) => ops.LinearAttentionSums(k, v);
}

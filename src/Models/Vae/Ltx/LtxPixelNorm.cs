using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Vae.Ltx;

/// <summary>
/// The decoder's norm → (timestep modulation) → SiLU: diffusers' RMSNorm(eps 1e-8, no affine) over the channels at
/// every pixel of every frame (a pixel norm), then x·(1 + scale) + shift with a [B, C] shift and scale when the
/// decoder is timestep-conditioned, then SiLU. Unmodulated it is one ChannelRmsNorm pass with the SiLU fused;
/// modulated the norm is taken channels-last (RmsNorm over the permuted view) so that Modulate's per-batch [B, C]
/// rows apply over the [B, T·H·W, C] pixels, and the result is read back through a permuted view (the convolution
/// that follows gathers from any strides).
/// </summary>
public static class LtxPixelNorm
{
    /// <summary>x [B, C, T, H, W] (any strides) → SiLU(norm(x)·(1 + scale) + shift): the owner of the result (the
    /// caller disposes it: contiguous [B, C, T, H, W], or [B, T, H, W, C] when modulated) and
    /// <paramref name="view"/>, the result as [B, C, T, H, W].</summary>
    public static Tensor Apply(IOps ops, Tensor x, Tensor? shift, Tensor? scale, out Tensor view)
    {
        if (shift is null || scale is null)
        {
            view = ops.ChannelRmsNorm(x, null, LtxVaeConfig.RmsEps, Activation.Silu);
            return view;
        }
        int b = x.Dim(0), c = x.Dim(1), t = x.Dim(2), h = x.Dim(3), w = x.Dim(4);
        Tensor modulated;
        using (var normed = ops.RmsNorm(x.Permute(0, 2, 3, 4, 1), null, LtxVaeConfig.RmsEps))
            modulated = ops.Modulate(normed.Reshape(b, t * h * w, c), shift, scale);
        Tensor act;
        using (modulated) act = ops.Activate(modulated, Activation.Silu).TakeReshaped(b, t, h, w, c);
        view = act.Permute(0, 4, 1, 2, 3);
        return act;
    }
}

using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Layers;

/// <summary>
/// diffusers AdaLayerNormContinuous(dim, cond_dim, elementwise_affine=False, eps=1e-6), used for SD3/Flux
/// norm_out and SD3's last norm1_context: e = linear(SiLU(c)) [B, 2·D], cut into scale then shift (this order,
/// unlike AdaLayerNormZero), and x̂ = LN(x)·(1 + scale) + shift.
/// </summary>
public sealed class AdaLayerNormContinuous
{
    readonly AdaLayerNormZero _inner;

    AdaLayerNormContinuous(AdaLayerNormZero inner) { _inner = inner; }

    /// <summary>Loads linear [2·dim, condDim] + bias of the scope.</summary>
    public static AdaLayerNormContinuous Load(WeightScope w, int dim, int condDim)
    {
        if (dim != condDim)
            throw new NotSupportedException($"{w}: AdaLayerNormContinuous with embedding dim {dim} ≠ conditioning dim {condDim} is not supported");
        return new(AdaLayerNormZero.Load(w, dim, 2));
    }

    public Tensor Apply(IOps ops, Tensor x, Tensor cond)
    {
        using var m = new ContinuousNormParts(_inner.Compute(ops, cond));
        return AdaLayerNormZero.Modulated(ops, x, m.Shift, m.Scale);
    }

    /// <summary><see cref="Apply"/> from SiLU(cond) computed already.</summary>
    public Tensor ApplyActivated(IOps ops, Tensor x, Tensor siluCond)
    {
        using var m = new ContinuousNormParts(_inner.ComputeActivated(ops, siluCond));
        return AdaLayerNormZero.Modulated(ops, x, m.Shift, m.Scale);
    }

    /// <summary>The linear layer [2·D, D] (scale rows, then shift rows).</summary>
    public Linear Linear => _inner.Linear;
}

using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.CogVideoX;

/// <summary>
/// One nn.LayerNorm of CogVideoX (norm1.norm and norm2.norm of the blocks' CogVideoXLayerNormZero, norm_final,
/// norm_out.norm), with its weight and bias where norm_elementwise_affine is set (all released checkpoints), and the
/// adaptive use of it: LN(x)·(1 + scale) + shift with per-batch shift and scale. Without affine that is the one op
/// <see cref="IOps.LayerNormModulate"/>; with it the affine LayerNorm runs first, then <see cref="IOps.Modulate"/>,
/// since the per-feature weight and the per-batch scale multiply.
/// </summary>
sealed class CogVideoXLayerNorm
{
    readonly Tensor? _weight, _bias;
    readonly float _eps;

    CogVideoXLayerNorm(Tensor? weight, Tensor? bias, float eps) { _weight = weight; _bias = bias; _eps = eps; }

    /// <summary>Loads weight and bias [dim] of the scope when <paramref name="affine"/>.</summary>
    public static CogVideoXLayerNorm Load(WeightScope w, int dim, bool affine, double eps)
        => affine ? new(w.Get("weight", dim), w.Get("bias", dim), (float)eps) : new(null, null, (float)eps);

    /// <summary>LN(x)·w + b over the last axis.</summary>
    public Tensor Apply(IOps ops, Tensor x) => ops.LayerNorm(x, _weight, _bias, _eps);

    /// <summary>(LN(x)·w + b)·(1 + scale) + shift; x [B, N, D], shift and scale [B, D] (views of a modulation).</summary>
    public Tensor Modulated(IOps ops, Tensor x, Tensor shift, Tensor scale)
    {
        if (_weight is null) return ops.LayerNormModulate(x, shift, scale, _eps);
        using var n = ops.LayerNorm(x, _weight, _bias, _eps);
        return ops.Modulate(n, shift, scale);
    }
}

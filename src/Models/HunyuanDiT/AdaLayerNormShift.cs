using XDit.Kernels;
using XDit.Models.Layers;
using XDit.Runtime;

namespace XDit.Models.HunyuanDiT;

/// <summary>
/// diffusers AdaLayerNormShift (HunyuanDiT's norm1): x̂ = LN(x; weight, bias, eps) + linear(SiLU(c)), a shift
/// only, broadcast over the tokens. Unlike AdaLN-zero the norm keeps its affine parameters.
/// </summary>
public sealed class AdaLayerNormShift
{
    readonly Linear _linear;
    readonly Tensor _weight, _bias;
    readonly float _eps;

    AdaLayerNormShift(Linear linear, Tensor weight, Tensor bias, float eps) { _linear = linear; _weight = weight; _bias = bias; _eps = eps; }

    /// <summary>Loads linear [dim, dim] + bias and norm.weight/bias [dim] of the scope.</summary>
    public static AdaLayerNormShift Load(WeightScope w, int dim, float eps)
        => new(w.Linear("linear", dim, dim), w.Get("norm.weight", dim), w.Get("norm.bias", dim), eps);

    /// <summary>x [B, N, D], siluCond = SiLU(c) [B, D] (computed once per forward: every block's norm1 and norm_out
    /// take it) → [B, N, D].</summary>
    public Tensor ApplyActivated(IOps ops, Tensor x, Tensor siluCond)
    {
        using var shift = _linear.Apply(ops, siluCond);
        using var n = ops.LayerNorm(x, _weight, _bias, _eps);
        return ops.Add(n, shift.Reshape(shift.Dim(0), 1, shift.Dim(1)));
    }
}

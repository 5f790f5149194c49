using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.HunyuanDiT;

/// <summary>
/// diffusers AdaLayerNormShift (HunyuanDiT's norm1): x̂ = LN(x; weight, bias, eps) + linear(SiLU(c)), a shift
/// only, broadcast over the tokens. Unlike AdaLN-zero the norm keeps its affine parameters. Runs as two launches:
/// the linear, whose bias holds the norm's bias too (linear.bias + norm.bias, summed once at load), makes the
/// per-batch shift, and one LayerNormModulate applies the norm, its weight and the shift in one pass.
/// </summary>
public sealed class AdaLayerNormShift : IDisposable
{
    readonly Linear _linear;   // linear.weight with the bias linear.bias + norm.bias (owned)
    readonly AffineLayerNorm _norm;

    AdaLayerNormShift(Linear linear, AffineLayerNorm norm) { _linear = linear; _norm = norm; }

    /// <summary>Loads linear [dim, dim] + bias and norm.weight/bias [dim] of the scope.</summary>
    public static AdaLayerNormShift Load(WeightScope w, int dim, float eps)
    {
        var ops = w.Ops;
        var linear = w.Linear("linear", dim, dim);
        var norm = AffineLayerNorm.Load(w.Pp("norm"), dim, eps, biasElsewhere: true);
        try
        {
            using var normBias = ops.Cast(norm.Bias, linear.Bias!.DType);
            return new AdaLayerNormShift(new Linear(linear.Weight, ops.Add(linear.Bias, normBias)), norm);
        }
        catch { norm.Dispose(); throw; }
    }

    /// <summary>x [B, N, D], siluCond = SiLU(c) [B, D] (computed once per forward: every block's norm1 and norm_out
    /// take it) → [B, N, D].</summary>
    public Tensor ApplyActivated(IOps ops, Tensor x, Tensor siluCond)
    {
        using var shift = _linear.Apply(ops, siluCond);
        return _norm.Apply(ops, x, shift);
    }

    public void Dispose()
    {
        _linear.Bias?.Dispose();
        _norm.Dispose();
    }
}

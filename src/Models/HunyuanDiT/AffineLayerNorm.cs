using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.HunyuanDiT;

/// <summary>
/// A LayerNorm with affine parameters (HunyuanDiT's norm2, norm3 and norm1's norm) run as the register-resident
/// <see cref="IOps.LayerNormModulate"/>: LN(x)·w + b = LN(x)·(1 + (w − 1)) + b, so the scale is w − 1, kept in
/// float32 (w − 1 rounded to 16 bits would lose the low bits of w), and the shift is b, or b plus a per-batch shift
/// folded into the linear that makes it (norm1). Derives its tensors from the weights once, at load, and owns them.
/// </summary>
sealed class AffineLayerNorm : IDisposable
{
    readonly Tensor _scale;   // F32 [D]: weight − 1
    readonly Tensor? _shift;  // [D]: the norm's bias, when no per-batch shift carries it
    readonly float _eps;

    AffineLayerNorm(Tensor scale, Tensor? shift, float eps) { _scale = scale; _shift = shift; _eps = eps; }

    /// <summary>Loads weight and bias [dim] of the scope; <paramref name="biasElsewhere"/>: the caller adds the bias
    /// to the per-batch shift it passes (<see cref="Bias"/> is then what to add).</summary>
    public static AffineLayerNorm Load(WeightScope w, int dim, float eps, bool biasElsewhere = false)
    {
        var ops = w.Ops;
        var weight = w.Get("weight", dim);
        var bias = w.Get("bias", dim);
        Tensor scale;
        using (var wf = ops.Cast(weight, DType.F32))
            scale = ops.Scale(wf, 1f, -1f);
        return new AffineLayerNorm(scale, biasElsewhere ? null : bias, eps) { Bias = bias };
    }

    /// <summary>The norm's bias [D] as loaded (owned by the weights).</summary>
    public Tensor Bias { get; private init; } = null!;

    /// <summary>LN(x)·w + b, x [B, N, D].</summary>
    public Tensor Apply(IOps ops, Tensor x)
        => ops.LayerNormModulate(x, _shift ?? throw new InvalidOperationException("this norm's bias is folded into a per-batch shift: call Apply(ops, x, shift)"), _scale, _eps);

    /// <summary>LN(cat[x, x2])·w + b over the concatenation of x [B, N, D1] and x2 [B, N, D2] along the features,
    /// read from both without building it (skip_norm).</summary>
    public Tensor ApplyConcat(IOps ops, Tensor x, Tensor x2)
        => ops.LayerNormModulate(x, _shift ?? throw new InvalidOperationException("this norm's bias is folded into a per-batch shift"), _scale, _eps, x2);

    /// <summary>LN(x)·w + shift, x [B, N, D], shift [B, D] already holding the norm's bias.</summary>
    public Tensor Apply(IOps ops, Tensor x, Tensor shift) => ops.LayerNormModulate(x, shift, _scale, _eps);

    public void Dispose() => _scale.Dispose();
}

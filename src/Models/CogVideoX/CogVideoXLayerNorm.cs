using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.CogVideoX;

/// <summary>
/// One nn.LayerNorm of CogVideoX (norm1.norm and norm2.norm of the blocks' CogVideoXLayerNormZero, norm_final,
/// norm_out.norm), with its weight and bias where norm_elementwise_affine is set (all released checkpoints), and the
/// adaptive use of it: (LN(x)·w + b)·(1 + scale) + shift with per-batch shift and scale, both rows of a linear of the
/// conditioning. That equals LN(x)·(1 + scale') + shift' with scale' = w·(1 + scale) − 1 and shift' = b·(1 + scale)
/// + shift, which are linear in the conditioning too: <see cref="FoldInto"/> rewrites the linear's rows once, at load,
/// so that every forward runs the one register-resident <see cref="IOps.LayerNormModulate"/> instead of an affine
/// LayerNorm and a modulation, each a pass over the tokens.
/// </summary>
sealed class CogVideoXLayerNorm
{
    readonly Tensor? _weight, _bias;
    readonly float _eps;
    bool _folded;

    CogVideoXLayerNorm(Tensor? weight, Tensor? bias, float eps) { _weight = weight; _bias = bias; _eps = eps; }

    /// <summary>Loads weight and bias [dim] of the scope when <paramref name="affine"/>.</summary>
    public static CogVideoXLayerNorm Load(WeightScope w, int dim, bool affine, double eps)
        => affine ? new(w.Get("weight", dim), w.Get("bias", dim), (float)eps) : new(null, null, (float)eps);

    /// <summary>LN(x)·w + b over the last axis.</summary>
    public Tensor Apply(IOps ops, Tensor x) => ops.LayerNorm(x, _weight, _bias, _eps);

    /// <summary>(LN(x)·w + b)·(1 + scale) + shift; x [B, N, D], shift and scale [B, D] (views of a modulation) made by
    /// a linear this norm was folded into (or any, without affine).</summary>
    public Tensor Modulated(IOps ops, Tensor x, Tensor shift, Tensor scale)
    {
        if (_weight is not null && !_folded)
            throw new InvalidOperationException("CogVideoX: an affine LayerNorm's modulation must come from a linear it was folded into (FoldInto)");
        return ops.LayerNormModulate(x, shift, scale, _eps);
    }

    /// <summary>Rewrites, in place, the rows of <paramref name="ada"/> [k·D, in] that make the shift (chunk
    /// <paramref name="shiftChunk"/>) and the scale (chunk <paramref name="scaleChunk"/>) this norm's output is
    /// modulated with: shift rows W_shift + b⊙W_scale and bias b_shift + b⊙b_scale + b; scale rows w⊙W_scale and bias
    /// w⊙b_scale + w − 1 (computed in float32). Nothing to do without affine. Call it for every chunk pair the norm
    /// serves (CogVideoXLayerNormZero's video and text) before the first forward.</summary>
    public void FoldInto(IOps ops, Linear ada, int shiftChunk, int scaleChunk)
    {
        if (_weight is null) { _folded = true; return; }
        int d = _weight.Dim(0);
        var adaBias = ada.Bias ?? throw new InvalidOperationException("CogVideoX: the adaptive norm's linear has no bias to fold the LayerNorm's into");
        using var w = ops.Cast(_weight, DType.F32);
        using var b = ops.Cast(_bias!, DType.F32);
        var (wShift, wScale) = (ada.Weight.Slice(0, shiftChunk * d, d), ada.Weight.Slice(0, scaleChunk * d, d));
        var (bShift, bScale) = (adaBias.Slice(0, shiftChunk * d, d), adaBias.Slice(0, scaleChunk * d, d));
        using var wsh = ops.Cast(wShift, DType.F32);
        using var wsc = ops.Cast(wScale, DType.F32);
        using var bsh = ops.Cast(bShift, DType.F32);
        using var bsc = ops.Cast(bScale, DType.F32);
        // shift' = shift + b·(1 + scale)
        using var bRows = ops.Mul(wsc, b.Reshape(d, 1));
        using var newWShift = ops.Add(wsh, bRows);
        using var bTimesScale = ops.Mul(bsc, b);
        using var shiftPlus = ops.Add(bsh, bTimesScale);
        using var newBShift = ops.Add(shiftPlus, b);
        // scale' = w·(1 + scale) − 1
        using var newWScale = ops.Mul(wsc, w.Reshape(d, 1));
        using var wTimesScale = ops.Mul(bsc, w);
        using var scalePlus = ops.Add(wTimesScale, w);
        using var newBScale = ops.Scale(scalePlus, 1f, -1f);
        ops.Copy(wShift, newWShift);
        ops.Copy(bShift, newBShift);
        ops.Copy(wScale, newWScale);
        ops.Copy(bScale, newBScale);
        _folded = true;
    }
}

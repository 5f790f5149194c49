using XDit.Kernels;
using XDit.Models.Layers;
using XDit.Runtime;

namespace XDit.Models.HunyuanDiT;

/// <summary>
/// diffusers HunyuanDiTBlock: for the blocks of the second half, first the long skip: x = skip_linear(
/// LN(cat[x, skip])); then x += attn1(AdaLayerNormShift(x, c)) with RoPE, x += attn2(LN2(x), text) (the text is
/// BERT and projected mT5 states, already concatenated and padded), x += ff(LN3(x)). All norms have affine
/// parameters and eps 1e-6. Fused (issue 17): the three residuals are added in the epilogues of to_out (attn1,
/// attn2) and of the feed-forward's second GEMM, the norms are register-resident LayerNormModulate passes (norm1's
/// shift folded in; skip_norm reads x and the skip in place of their concatenation), q/k norm and RoPE run in place
/// in the packed projections.
/// </summary>
public sealed class HunyuanDiTBlock : IDisposable
{
    public const float NormEps = 1e-6f;

    readonly AdaLayerNormShift _norm1;
    readonly HunyuanDiTAttention _attn1, _attn2;
    readonly AffineLayerNorm _norm2, _norm3;
    readonly Linear _ffIn, _ffOut;   // ff.net.0.proj (GELU-tanh), ff.net.2
    readonly AffineLayerNorm? _skipNorm;
    readonly Linear? _skipLinear;

    public HunyuanDiTBlock(WeightScope w, HunyuanDiTConfig c, bool takesSkip)
    {
        int d = c.InnerDim, h = c.NumAttentionHeads, hd = c.AttentionHeadDim;
        _norm1 = AdaLayerNormShift.Load(w.Pp("norm1"), d, NormEps);
        _attn1 = HunyuanDiTAttention.Load(w.Pp("attn1"), d, d, h, hd, cross: false);
        _norm2 = AffineLayerNorm.Load(w.Pp("norm2"), d, NormEps);
        _attn2 = HunyuanDiTAttention.Load(w.Pp("attn2"), d, c.CrossAttentionDim, h, hd, cross: true);
        _norm3 = AffineLayerNorm.Load(w.Pp("norm3"), d, NormEps);
        _ffIn = w.Linear("ff.net.0.proj", d, c.FeedForwardDim);
        _ffOut = w.Linear("ff.net.2", c.FeedForwardDim, d);
        TakesSkip = takesSkip;
        if (takesSkip)
        {
            _skipNorm = AffineLayerNorm.Load(w.Pp("skip_norm"), 2 * d, NormEps);
            _skipLinear = w.Linear("skip_linear", 2 * d, d);
        }
        else if (w.Has("skip_linear.weight"))
            throw new FormatException($"{w}: has skip_linear but block layout (num_layers {c.NumLayers}) says it takes no skip");
    }

    /// <summary>True for the blocks after the middle, which take a long skip from the first half.</summary>
    public bool TakesSkip { get; }

    /// <summary>norm1(x, c) = LN(x) + linear(SiLU(c)): what attn1 sees (TeaCache's indicator on block 0).</summary>
    public Tensor ModulatedImage(IOps ops, Tensor x, Tensor siluCond) => _norm1.ApplyActivated(ops, x, siluCond);

    /// <summary>x [B, N, D] (the image tokens held, with their rotary rows cos/sin [N, head_dim]); skip [B, N, D]
    /// exactly when <see cref="TakesSkip"/>; siluCond = SiLU(c) [B, D] → the new x (a fresh tensor; x and skip are not
    /// disposed).</summary>
    public Tensor Run(IOps ops, IAttention attention, Tensor x, Tensor? skip, Tensor text, Tensor siluCond, Tensor cos, Tensor sin)
    {
        if (TakesSkip != skip is not null)
            throw new ArgumentException(TakesSkip ? "this HunyuanDiT block needs its long skip" : "this HunyuanDiT block takes no skip");
        Tensor? joined = null;
        try
        {
            if (skip is not null)
            {
                // skip_norm reads the concatenation from its two parts (no cat written and read back)
                using var n = _skipNorm!.ApplyConcat(ops, x, skip);
                joined = _skipLinear!.Value.Apply(ops, n);
                x = joined;
            }
            // x1 = x + attn1(norm1(x)) into a fresh tensor by to_out's GEMM (x, the block's input, may be held by a
            // step cache or be a kept long skip: it is only read)
            var x1 = ops.Empty(x.DType, x.Dims);
            try
            {
                using (var n1 = _norm1.ApplyActivated(ops, x, siluCond))
                    _attn1.ResidualInto(ops, attention, n1, null, cos, sin, x, x1);
                // the cross-attention's and the feed-forward's residuals in place on x1, the block's own
                using (var n2 = _norm2.Apply(ops, x1))
                    _attn2.ResidualInto(ops, attention, n2, text, cos, sin, x1, null);
                using (var n3 = _norm3.Apply(ops, x1))
                using (var f = _ffIn.Apply(ops, n3, Activation.GeluTanh))
                    ops.LinearGatedResidualInto(x1, f, _ffOut.Weight, _ffOut.Bias, gate: null);
            }
            catch { x1.Dispose(); throw; }
            return x1;
        }
        finally
        {
            joined?.Dispose();
        }
    }

    public void Dispose()
    {
        _norm1.Dispose();
        _norm2.Dispose();
        _norm3.Dispose();
        _skipNorm?.Dispose();
        _attn1.Dispose();
        _attn2.Dispose();
    }
}

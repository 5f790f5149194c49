using XDit.Kernels;
using XDit.Models.Layers;
using XDit.Runtime;

namespace XDit.Models.HunyuanDiT;

/// <summary>
/// diffusers HunyuanDiTBlock: for the blocks of the second half, first the long skip: x = skip_linear(
/// LN(cat[x, skip])); then x += attn1(AdaLayerNormShift(x, c)) with RoPE, x += attn2(LN2(x), text) (the text is
/// BERT and projected mT5 states, already concatenated and padded), x += ff(LN3(x)). All norms have affine
/// parameters and eps 1e-6.
/// </summary>
public sealed class HunyuanDiTBlock
{
    public const float NormEps = 1e-6f;

    readonly AdaLayerNormShift _norm1;
    readonly HunyuanDiTAttention _attn1, _attn2;
    readonly Tensor _norm2W, _norm2B, _norm3W, _norm3B;
    readonly FeedForward _ff;
    readonly Tensor? _skipNormW, _skipNormB;
    readonly Linear? _skipLinear;

    public HunyuanDiTBlock(WeightScope w, HunyuanDiTConfig c, bool takesSkip)
    {
        int d = c.InnerDim, h = c.NumAttentionHeads, hd = c.AttentionHeadDim;
        _norm1 = AdaLayerNormShift.Load(w.Pp("norm1"), d, NormEps);
        _attn1 = HunyuanDiTAttention.Load(w.Pp("attn1"), d, d, h, hd, cross: false);
        _norm2W = w.Get("norm2.weight", d);
        _norm2B = w.Get("norm2.bias", d);
        _attn2 = HunyuanDiTAttention.Load(w.Pp("attn2"), d, c.CrossAttentionDim, h, hd, cross: true);
        _norm3W = w.Get("norm3.weight", d);
        _norm3B = w.Get("norm3.bias", d);
        _ff = FeedForward.Load(w.Pp("ff"), d, c.FeedForwardDim);
        TakesSkip = takesSkip;
        if (takesSkip)
        {
            _skipNormW = w.Get("skip_norm.weight", 2 * d);
            _skipNormB = w.Get("skip_norm.bias", 2 * d);
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
                using var cat = ops.Concat(2, x, skip);
                using var n = ops.LayerNorm(cat, _skipNormW, _skipNormB, NormEps);
                joined = _skipLinear!.Value.Apply(ops, n);
                x = joined;
            }
            Tensor x1;
            using (var n1 = _norm1.ApplyActivated(ops, x, siluCond))
            using (var a1 = _attn1.Apply(ops, attention, n1, null, cos, sin))
                x1 = ops.Add(x, a1);
            Tensor x2;
            using (x1)
            {
                using var n2 = ops.LayerNorm(x1, _norm2W, _norm2B, NormEps);
                using var a2 = _attn2.Apply(ops, attention, n2, text, cos, sin);
                x2 = ops.Add(x1, a2);
            }
            using (x2)
            {
                using var n3 = ops.LayerNorm(x2, _norm3W, _norm3B, NormEps);
                using var f = _ff.Apply(ops, n3);
                return ops.Add(x2, f);
            }
        }
        finally
        {
            joined?.Dispose();
        }
    }
}

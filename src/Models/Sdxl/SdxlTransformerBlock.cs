using XDit.Kernels;
using XDit.Models.Layers;
using XDit.Runtime;

namespace XDit.Models.Sdxl;

/// <summary>
/// diffusers BasicTransformerBlock with norm_type "layer_norm", as the SD/SDXL UNets use it: three pre-norm
/// residual steps on the image tokens x [B, N, D]: x += attn1(LN1(x)) (self-attention), x += attn2(LN2(x), text)
/// (cross-attention to the text states), x += ff(LN3(x)) (GEGLU). The norms are affine with eps 1e-5; q/k/v have
/// no bias (attention_bias false), to_out has one.
/// </summary>
sealed class SdxlTransformerBlock
{
    const float Eps = 1e-5f;

    readonly string _attn1Name, _attn2Name;   // the attention layers' keys are their weights' prefixes
    readonly Tensor _norm1W, _norm1B, _norm2W, _norm2B, _norm3W, _norm3B;
    readonly AttentionProjections _attn1, _attn2;
    readonly GegluFeedForward _ff;

    public SdxlTransformerBlock(WeightScope w, int dim, int heads, int crossAttentionDim)
    {
        _attn1Name = w.Pp("attn1").Prefix;
        _attn2Name = w.Pp("attn2").Prefix;
        (_norm1W, _norm1B) = (w.Get("norm1.weight", dim), w.Get("norm1.bias", dim));
        (_norm2W, _norm2B) = (w.Get("norm2.weight", dim), w.Get("norm2.bias", dim));
        (_norm3W, _norm3B) = (w.Get("norm3.weight", dim), w.Get("norm3.bias", dim));
        _attn1 = AttentionProjections.Load(w.Pp("attn1"), dim, dim, heads, bias: false);
        _attn2 = AttentionProjections.Load(w.Pp("attn2"), dim, crossAttentionDim, heads, bias: false);
        _ff = GegluFeedForward.Load(w.Pp("ff"), dim, 4 * dim);
    }

    /// <summary>x [B, N, D] → the block's output [B, N, D] (a new tensor; x is left as it is).</summary>
    public Tensor Run(IOps ops, Tensor x, Tensor text, IAttention attention)
    {
        Tensor x1, x2;
        using (var n = ops.LayerNorm(x, _norm1W, _norm1B, Eps))
        using (var o = _attn1.Attend(ops, attention, _attn1Name, AttentionKind.Self, n, n))
            x1 = ops.Add(x, o);
        using (x1)
        {
            using var n = ops.LayerNorm(x1, _norm2W, _norm2B, Eps);
            using var o = _attn2.Attend(ops, attention, _attn2Name, AttentionKind.Cross, n, text);
            x2 = ops.Add(x1, o);
        }
        using (x2)
        {
            using var n = ops.LayerNorm(x2, _norm3W, _norm3B, Eps);
            using var f = _ff.Apply(ops, n);
            return ops.Add(x2, f);
        }
    }
}

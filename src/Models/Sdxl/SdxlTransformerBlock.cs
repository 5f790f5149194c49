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

    /// <summary>Runs the block on x [B, N, D] (contiguous, the caller's own) in place. Each residual is added by
    /// its output projection's GEMM epilogue (to_out.0 of both attentions, the feed-forward's net.2): no projection
    /// is written out and read back by an add of its own.</summary>
    public void RunInPlace(IOps ops, Tensor x, Tensor text, IAttention attention)
    {
        using (var n = ops.LayerNorm(x, _norm1W, _norm1B, Eps))
            _attn1.AttendResidualInto(ops, attention, _attn1Name, AttentionKind.Self, n, n, x, gate: null);
        using (var n = ops.LayerNorm(x, _norm2W, _norm2B, Eps))
            _attn2.AttendResidualInto(ops, attention, _attn2Name, AttentionKind.Cross, n, text, x, gate: null);
        using (var n = ops.LayerNorm(x, _norm3W, _norm3B, Eps))
            _ff.ApplyResidualInto(ops, x, n);
    }
}

using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.HunyuanDiT;

/// <summary>
/// diffusers HunyuanDiTAttentionPool (CLIP's AttentionPool2d over a token sequence): the mean of the L tokens is
/// put in front, a position table [L+1, C] is added, and the mean token alone queries all L+1 tokens with
/// multi-head attention (q/k/v projections, 8 heads, no mask: padded mT5 tokens count too, as in diffusers); c_proj
/// maps the result to the pooled width.
/// </summary>
public sealed class HunyuanDiTAttentionPool
{
    readonly Tensor _positions;     // [L+1, C]
    readonly Linear _q, _k, _v, _out;
    readonly int _heads;

    HunyuanDiTAttentionPool(Tensor positions, Linear q, Linear k, Linear v, Linear @out, int heads)
    { _positions = positions; _q = q; _k = k; _v = v; _out = @out; _heads = heads; }

    public static HunyuanDiTAttentionPool Load(WeightScope w, int seqLen, int dim, int outDim, int heads)
        => new(w.GetOperand("positional_embedding", seqLen + 1, dim),
            w.Linear("q_proj", dim, dim), w.Linear("k_proj", dim, dim), w.Linear("v_proj", dim, dim),
            w.Linear("c_proj", dim, outDim), heads);

    /// <summary>x [B, L, C] → [B, outDim].</summary>
    public Tensor Apply(IOps ops, Tensor x)
    {
        int b = x.Dim(0), l = x.Dim(1), c = x.Dim(2), hd = c / _heads;
        if (l + 1 != _positions.Dim(0))
            throw new ArgumentException($"HunyuanDiT attention pool: the mT5 states have {l} tokens, the pool's positional_embedding expects {_positions.Dim(0) - 1} (config text_len_t5)");
        // mean over the tokens as a product with a 1/L row, so it stays on the op set
        var avg = new float[b * l];
        Array.Fill(avg, 1f / l);
        using var avgRow = ops.FromHost(avg, b, 1, l);
        using var mean = ops.MatMul(avgRow, x);
        using var cat = ops.Concat(1, mean, x);
        using var seq = ops.Add(cat, _positions);
        using var q = _q.Apply(ops, seq.Slice(1, 0, 1));
        using var k = _k.Apply(ops, seq);
        using var v = _v.Apply(ops, seq);
        using var o = ops.Attention(q.Reshape(b, 1, _heads, hd), k.Reshape(b, l + 1, _heads, hd), v.Reshape(b, l + 1, _heads, hd));
        return _out.Apply(ops, o.Reshape(b, c));
    }
}

using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Common.Layers;

/// <summary>
/// One pre-normed decoder layer of the Llama family (transformers' LlamaDecoderLayer, MistralDecoderLayer,
/// Qwen2DecoderLayer; layers.{i}): h += o_proj(attn(RMSNorm(h))); h += down(silu(gate(n))·up(n)) with n = RMSNorm(h).
/// Which projections carry biases is the family member's (<see cref="LlamaDecoderDims"/>). K/V heads are shared by
/// groups of query heads and repeated to the query heads for the fused attention op (which wants equal head counts);
/// q and k turn by rotate-half RoPE; scores are scaled by 1/√head_dim; the caller's <see cref="AttentionOptions"/>
/// say causal and carry the padding key bias (and a window, for Mistral's sliding window).
/// </summary>
public sealed class LlamaDecoderLayer
{
    readonly LlamaDecoderDims _c;
    readonly Linear _q, _k, _v, _o, _gate, _up, _down;
    readonly Tensor _inputNorm, _postAttnNorm;

    public LlamaDecoderLayer(WeightScope w, LlamaDecoderDims c)
    {
        _c = c;
        int d = c.HiddenSize, qDim = c.NumHeads * c.HeadDim, kvDim = c.NumKeyValueHeads * c.HeadDim;
        var attn = w.Pp("self_attn");
        _q = attn.Linear("q_proj", d, qDim, c.QkvBias);
        _k = attn.Linear("k_proj", d, kvDim, c.QkvBias);
        _v = attn.Linear("v_proj", d, kvDim, c.QkvBias);
        _o = attn.Linear("o_proj", qDim, d, c.OutputBias);
        var mlp = w.Pp("mlp");
        _gate = mlp.Linear("gate_proj", d, c.IntermediateSize, c.MlpBias);
        _up = mlp.Linear("up_proj", d, c.IntermediateSize, c.MlpBias);
        _down = mlp.Linear("down_proj", c.IntermediateSize, d, c.MlpBias);
        _inputNorm = w.Get("input_layernorm.weight", d);
        _postAttnNorm = w.Get("post_attention_layernorm.weight", d);
    }

    /// <summary>h [B, S, D] → [B, S, D]. <paramref name="cos"/>, <paramref name="sin"/> are the rotary tables
    /// [S, head_dim] when every sample has the positions 0 … S − 1, or [B·S, head_dim] when positions differ per
    /// sample (Qwen2.5-VL's padding at position 1).</summary>
    public Tensor Forward(IOps ops, Tensor h, Tensor cos, Tensor sin, AttentionOptions attention)
    {
        Tensor h1;
        using (var n = ops.RmsNorm(h, _inputNorm, _c.RmsNormEps))
        using (var a = Attention(ops, n, cos, sin, attention))
            h1 = ops.Add(h, a);
        using (h1)
        using (var n = ops.RmsNorm(h1, _postAttnNorm, _c.RmsNormEps))
        using (var g = _gate.Apply(ops, n, Activation.Silu))
        using (var u = _up.Apply(ops, n))
        using (var gu = ops.Mul(g, u))
        using (var f = _down.Apply(ops, gu))
            return ops.Add(h1, f);
    }

    Tensor Attention(IOps ops, Tensor x, Tensor cos, Tensor sin, AttentionOptions attention)
    {
        int b = x.Dim(0), s = x.Dim(1), heads = _c.NumHeads, kvHeads = _c.NumKeyValueHeads, hd = _c.HeadDim;
        // The rotary op takes one table row per token of axis 1: with a row per token of the batch, the batch is
        // folded into the tokens so that each sample turns by its own positions.
        bool perSample = cos.Dim(0) != s;
        if (perSample && cos.Dim(0) != b * s)
            throw new ArgumentException($"rotary tables have {cos.Dim(0)} rows, expected S = {s} or B·S = {b * s}", nameof(cos));
        int rb = perSample ? 1 : b, rs = perSample ? b * s : s;
        using var q = _q.Apply(ops, x);
        using var k = _k.Apply(ops, x);
        using var v = _v.Apply(ops, x);
        using var qr = ops.Rope(q.Reshape(rb, rs, heads, hd), cos, sin, interleaved: false);
        using var kr = ops.Rope(k.Reshape(rb, rs, kvHeads, hd), cos, sin, interleaved: false);
        using var kAll = RepeatHeads(ops, kr.Reshape(b, s, kvHeads, hd));
        using var vAll = RepeatHeads(ops, v.Reshape(b, s, kvHeads, hd));
        using var o = ops.Attention(qr.Reshape(b, s, heads, hd), kAll, vAll, attention);
        return _o.Apply(ops, o.Reshape(b, s, heads * hd));
    }

    /// <summary>[B, S, Hkv, d] → [B, S, Hkv·groups, d], query head j reading key/value head j / groups
    /// (transformers' repeat_kv).</summary>
    Tensor RepeatHeads(IOps ops, Tensor kv)
    {
        int groups = _c.KeyValueGroups;
        if (groups == 1) return ops.Contiguous(kv);
        var one = kv.Unsqueeze(3);                                            // [B, S, Hkv, 1, d]
        var rep = ops.Concat(3, Enumerable.Repeat(one, groups).ToArray());  // [B, S, Hkv, groups, d]
        return rep.TakeReshaped(kv.Dim(0), kv.Dim(1), kv.Dim(2) * groups, kv.Dim(3));
    }
}

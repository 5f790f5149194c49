using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Gemma2;

/// <summary>
/// One Gemma 2 decoder layer (layers.{i}), sandwich-normed: h += post_attn_norm(attn(input_norm(h)));
/// h += post_ff_norm(mlp(pre_ff_norm(h))), every norm Gemma's RMSNorm x·rsqrt(mean x² + eps)·(1 + w).
/// The attention is composed from GEMMs and a softmax because the fused attention op has no logit soft-capping
/// and wants equal query and key/value head counts: K/V heads are repeated for the query groups, scores are
/// q·kᵀ·query_pre_attn_scalar^(−1/2), capped to cap·tanh(s/cap), masked (causal, sliding window, padding), soft-maxed.
/// </summary>
public sealed class Gemma2DecoderLayer : IDisposable
{
    readonly Gemma2Config _c;
    readonly Linear _q, _k, _v, _o, _gate, _up, _down;
    readonly Tensor _inputNorm, _postAttnNorm, _preFfNorm, _postFfNorm;

    /// <summary>Loads layers.{i} from its scope. The (1 + w) norm weights are made here and owned by the layer.</summary>
    public Gemma2DecoderLayer(WeightScope w, Gemma2Config c, int index)
    {
        _c = c;
        IsSliding = c.SlidingLayers[index];
        int d = c.HiddenSize, qDim = c.NumHeads * c.HeadDim, kvDim = c.NumKeyValueHeads * c.HeadDim;
        var attn = w.Pp("self_attn");
        bool bias = c.AttentionBias;
        _q = attn.Linear("q_proj", d, qDim, bias);
        _k = attn.Linear("k_proj", d, kvDim, bias);
        _v = attn.Linear("v_proj", d, kvDim, bias);
        _o = attn.Linear("o_proj", qDim, d, bias);
        var mlp = w.Pp("mlp");
        _gate = mlp.Linear("gate_proj", d, c.IntermediateSize, bias: false);
        _up = mlp.Linear("up_proj", d, c.IntermediateSize, bias: false);
        _down = mlp.Linear("down_proj", c.IntermediateSize, d, bias: false);
        var made = new List<Tensor>();
        try
        {
            _inputNorm = Track(Gemma2Norm.OnePlusWeight(w, "input_layernorm.weight", d), made);
            _postAttnNorm = Track(Gemma2Norm.OnePlusWeight(w, "post_attention_layernorm.weight", d), made);
            _preFfNorm = Track(Gemma2Norm.OnePlusWeight(w, "pre_feedforward_layernorm.weight", d), made);
            _postFfNorm = Track(Gemma2Norm.OnePlusWeight(w, "post_feedforward_layernorm.weight", d), made);
        }
        catch
        {
            foreach (var t in made) t.Dispose();
            throw;
        }
    }

    static Tensor Track(Tensor t, List<Tensor> made) { made.Add(t); return t; }

    public bool IsSliding { get; }

    /// <summary>h [B, S, D] → [B, S, D]. <paramref name="cos"/>, <paramref name="sin"/> [S, head_dim] are the rotary
    /// tables; <paramref name="mask"/> [B, 1, S, S] (float32) is the additive mask of this layer's kind.</summary>
    public Tensor Forward(IOps ops, Tensor h, Tensor cos, Tensor sin, Tensor mask)
    {
        Tensor h1;
        using (var n = ops.RmsNorm(h, _inputNorm, _c.RmsNormEps))
        using (var a = Attention(ops, n, cos, sin, mask))
        using (var pn = ops.RmsNorm(a, _postAttnNorm, _c.RmsNormEps))
            h1 = ops.Add(h, pn);
        using (h1)
        using (var n = ops.RmsNorm(h1, _preFfNorm, _c.RmsNormEps))
        using (var g = _gate.Apply(ops, n, _c.HiddenActivation))
        using (var u = _up.Apply(ops, n))
        using (var gu = ops.Mul(g, u))
        using (var f = _down.Apply(ops, gu))
        using (var pn = ops.RmsNorm(f, _postFfNorm, _c.RmsNormEps))
            return ops.Add(h1, pn);
    }

    Tensor Attention(IOps ops, Tensor x, Tensor cos, Tensor sin, Tensor mask)
    {
        int b = x.Dim(0), s = x.Dim(1), heads = _c.NumHeads, kvHeads = _c.NumKeyValueHeads, hd = _c.HeadDim;
        float scale = (float)Math.Pow(_c.QueryPreAttnScalar, -0.5);
        // The attention core (scores, capping, mask, softmax, weighted sum) runs in float32 whatever the activation
        // dtype: the capped score is a difference of two numbers of size cap, which bf16 or f16 would leave with
        // errors of a sizeable fraction of a unit (transformers' softmax upcasts too). MatMul computes in a's dtype.
        Tensor scores;
        using (var q = _q.Apply(ops, x))
        using (var k = _k.Apply(ops, x))
        using (var qr = ops.Rope(q.Reshape(b, s, heads, hd), cos, sin, interleaved: false))
        using (var kr = ops.Rope(k.Reshape(b, s, kvHeads, hd), cos, sin, interleaved: false))
        using (var kAll = RepeatHeads(ops, kr))
        using (var qh = HeadsFirstF32(ops, qr))
        using (var kh = HeadsFirstF32(ops, kAll))
            scores = ops.MatMul(qh, kh, transposeB: true, alpha: scale);   // [B, H, S, S] float32

        if (_c.AttnLogitSoftcapping is double cap)
        {
            var raw = scores;
            using (raw) scores = Gemma2SoftCap.Apply(ops, raw, (float)cap);
        }
        Tensor probs;
        using (scores)
        using (var masked = ops.Add(scores, mask))
            probs = ops.Softmax(masked);

        Tensor o;
        using (probs)
        using (var v = _v.Apply(ops, x))
        using (var vAll = RepeatHeads(ops, v.Reshape(b, s, kvHeads, hd)))
        using (var vh = HeadsFirstF32(ops, vAll))
            o = ops.MatMul(probs, vh);                                       // [B, H, S, hd] float32
        using (o)
        using (var ot = ops.Contiguous(o.Permute(0, 2, 1, 3)))
        using (var oc = ot.DType == x.DType ? null : ops.Cast(ot, x.DType))
            return _o.Apply(ops, (oc ?? ot).Reshape(b, s, heads * hd));
    }

    /// <summary>[B, S, H, d] → a contiguous float32 [B, H, S, d].</summary>
    static Tensor HeadsFirstF32(IOps ops, Tensor t)
    {
        var view = t.Permute(0, 2, 1, 3);
        return t.DType == DType.F32 ? ops.Contiguous(view) : ops.Cast(view, DType.F32);
    }

    /// <summary>[B, S, Hkv, d] → [B, S, Hkv·groups, d], query head j reading key/value head j / groups
    /// (transformers' repeat_kv), as a concatenation of the same view.</summary>
    Tensor RepeatHeads(IOps ops, Tensor kv)
    {
        int groups = _c.KeyValueGroups;
        if (groups == 1) return ops.Contiguous(kv);
        var one = kv.Unsqueeze(3);                                            // [B, S, Hkv, 1, d]
        var rep = ops.Concat(3, Enumerable.Repeat(one, groups).ToArray());  // [B, S, Hkv, groups, d]
        return rep.TakeReshaped(kv.Dim(0), kv.Dim(1), kv.Dim(2) * groups, kv.Dim(3));
    }

    public void Dispose()
    {
        _inputNorm.Dispose();
        _postAttnNorm.Dispose();
        _preFfNorm.Dispose();
        _postFfNorm.Dispose();
    }
}

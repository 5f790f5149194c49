using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.HunyuanDiT;

/// <summary>
/// One HunyuanDiT attention (diffusers Attention with HunyuanAttnProcessor2_0): to_q/to_k/to_v with bias, a
/// LayerNorm with affine over each head's features of q and k (eps 1e-6), the 2-D rotary embedding on the
/// queries (always: the image tokens) and on the keys only for self-attention, unmasked softmax attention, to_out.0.
/// The rotary tables pair features (2i, 2i+1) (diffusers apply_rotary_emb with use_real_unbind_dim −1). The
/// softmax goes through the engine's <see cref="IAttention"/>, so sequence-parallel attention can stand behind it.
/// </summary>
public sealed class HunyuanDiTAttention
{
    public const float QkNormEps = 1e-6f;

    readonly Linear _q, _k, _v, _out;
    readonly Tensor _normQW, _normQB, _normKW, _normKB;
    readonly int _heads, _headDim;
    readonly bool _cross;
    readonly string _name;

    HunyuanDiTAttention(string name, Linear q, Linear k, Linear v, Linear @out, Tensor nqw, Tensor nqb, Tensor nkw, Tensor nkb, int heads, int headDim, bool cross)
    {
        _name = name;
        _q = q; _k = k; _v = v; _out = @out;
        _normQW = nqw; _normQB = nqb; _normKW = nkw; _normKB = nkb;
        _heads = heads; _headDim = headDim; _cross = cross;
    }

    /// <summary>Loads attn1 (keyDim = D, self) or attn2 (keyDim = cross_attention_dim, cross) from its scope.</summary>
    public static HunyuanDiTAttention Load(WeightScope w, int dim, int keyDim, int heads, int headDim, bool cross)
        => new(w.Prefix, w.Linear("to_q", dim, dim), w.Linear("to_k", keyDim, dim), w.Linear("to_v", keyDim, dim), w.Linear("to_out.0", dim, dim),
            w.Get("norm_q.weight", headDim), w.Get("norm_q.bias", headDim), w.Get("norm_k.weight", headDim), w.Get("norm_k.bias", headDim),
            heads, headDim, cross);

    /// <summary>x [B, N, D] image tokens; context [B, T, keyDim] for cross-attention (null for self); cos/sin
    /// [N, head_dim] the rotary tables of the image tokens → [B, N, D].</summary>
    public Tensor Apply(IOps ops, IAttention attention, Tensor x, Tensor? context, Tensor cos, Tensor sin)
    {
        if (_cross != context is not null)
            throw new ArgumentException(_cross ? "HunyuanDiT attn2 needs the text states" : "HunyuanDiT attn1 takes no text states");
        var kv = context ?? x;
        int b = x.Dim(0), n = x.Dim(1), t = kv.Dim(1);
        using var q = Heads(ops, x, _q, _normQW, _normQB, n, cos, sin);
        using var k = Heads(ops, kv, _k, _normKW, _normKB, t, _cross ? null : cos, _cross ? null : sin);
        using var v = _v.Apply(ops, kv);
        var r = attention.Run(ops, new AttentionCall
        {
            Layer = _name,
            Kind = _cross ? AttentionKind.Cross : AttentionKind.Self,
            Q = q, K = k, V = v.Reshape(b, t, _heads, _headDim),
        });
        using var o = r.Output;
        return _out.Apply(ops, o.Reshape(b, n, _heads * _headDim));
    }

    Tensor Heads(IOps ops, Tensor x, Linear proj, Tensor normW, Tensor normB, int tokens, Tensor? cos, Tensor? sin)
    {
        using var p = proj.Apply(ops, x);
        var normed = ops.LayerNorm(p.Reshape(x.Dim(0), tokens, _heads, _headDim), normW, normB, QkNormEps);
        if (cos is null || sin is null) return normed;
        using (normed) return ops.Rope(normed, cos, sin, interleaved: true);
    }
}

using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.HunyuanDiT;

/// <summary>
/// One HunyuanDiT attention (diffusers Attention with HunyuanAttnProcessor2_0): to_q/to_k/to_v with bias, a
/// LayerNorm with affine over each head's features of q and k (eps 1e-6), the 2-D rotary embedding on the
/// queries (always: the image tokens) and on the keys only for self-attention, unmasked softmax attention, to_out.0.
/// The rotary tables pair features (2i, 2i+1) (diffusers apply_rotary_emb with use_real_unbind_dim −1). The
/// softmax goes through the engine's <see cref="IAttention"/>, so sequence-parallel attention can stand behind it.
/// Fused (issue 17): q, k and v come from one stacked GEMM (self-attention; k and v for cross-attention), q and k
/// are normed and rotated in place in the packed result by <see cref="IOps.LayerNormRope"/> (self-attention: both in
/// one launch, as the 2H heads they are there, with norm_q's and norm_k's parameters as two rows), and to_out's GEMM
/// adds the block's residual in its epilogue, so the projected output is never written on its own.
/// </summary>
public sealed class HunyuanDiTAttention : IDisposable
{
    public const float QkNormEps = 1e-6f;

    readonly Linear _q, _kv, _out;   // self-attention: _q is to_q/k/v stacked [3D, D] and _kv unused; cross: to_q, to_k/v stacked
    readonly Tensor _normQW, _normQB, _normKW, _normKB;
    readonly Tensor? _normQKW, _normQKB;   // self-attention: [norm_q; norm_k] weight and bias as [2, head_dim] (owned)
    readonly int _heads, _headDim;
    readonly bool _cross;
    readonly string _name;

    HunyuanDiTAttention(string name, Linear q, Linear kv, Linear @out, Tensor nqw, Tensor nqb, Tensor nkw, Tensor nkb, int heads, int headDim, bool cross,
        Tensor? nqkw = null, Tensor? nqkb = null)
    {
        _normQKW = nqkw; _normQKB = nqkb;
        _name = name;
        _q = q; _kv = kv; _out = @out;
        _normQW = nqw; _normQB = nqb; _normKW = nkw; _normKB = nkb;
        _heads = heads; _headDim = headDim; _cross = cross;
    }

    /// <summary>Loads attn1 (keyDim = D, self) or attn2 (keyDim = cross_attention_dim, cross) from its scope.</summary>
    public static HunyuanDiTAttention Load(WeightScope w, int dim, int keyDim, int heads, int headDim, bool cross)
    {
        var (q, k, v) = (w.Linear("to_q", dim, dim), w.Linear("to_k", keyDim, dim), w.Linear("to_v", keyDim, dim));
        var output = w.Linear("to_out.0", dim, dim);
        var (nqw, nqb, nkw, nkb) = (w.Get("norm_q.weight", headDim), w.Get("norm_q.bias", headDim), w.Get("norm_k.weight", headDim), w.Get("norm_k.bias", headDim));
        if (!cross)
        {
            var (qkv, _) = w.Stack(q, k, v);
            var ops = w.Ops;
            var nqkw = ops.Concat(0, nqw.Reshape(1, headDim), nkw.Reshape(1, headDim));
            try { return new(w.Prefix, qkv, default, output, nqw, nqb, nkw, nkb, heads, headDim, cross, nqkw, ops.Concat(0, nqb.Reshape(1, headDim), nkb.Reshape(1, headDim))); }
            catch { nqkw.Dispose(); throw; }
        }
        var (kv, _) = w.Stack(k, v);
        return new(w.Prefix, q, kv, output, nqw, nqb, nkw, nkb, heads, headDim, cross);
    }

    /// <summary>output = residual + to_out(attention(x, context)), in to_out's GEMM epilogue; in place on the residual
    /// when <paramref name="output"/> is null. x [B, N, D] image tokens (normed); context [B, T, keyDim] for
    /// cross-attention (null for self); cos/sin [N, head_dim] the rotary tables of the image tokens; residual and
    /// output [B, N, D].</summary>
    public void ResidualInto(IOps ops, IAttention attention, Tensor x, Tensor? context, Tensor cos, Tensor sin, Tensor residual, Tensor? output)
    {
        if (_cross != context is not null)
            throw new ArgumentException(_cross ? "HunyuanDiT attn2 needs the text states" : "HunyuanDiT attn1 takes no text states");
        int b = x.Dim(0), n = x.Dim(1);
        AttentionResult r;
        if (!_cross)
        {
            using var qkv = _q.Apply(ops, x);
            var heads = qkv.Reshape(b, n, 3, _heads, _headDim);
            // q and k are the first 2H heads of each token's row: one view, each half with its norm's row
            var s = heads.Strides;
            var qk = new Tensor(qkv.Storage, qkv.DType, [b, n, 2 * _heads, _headDim], [s[0], s[1], s[3], s[4]], heads.Offset);
            ops.LayerNormRope(qk, qk, _normQKW, _normQKB, cos, sin, QkNormEps, interleaved: true);
            r = Attend(ops, attention, heads.Select(2, 0), heads.Select(2, 1), heads.Select(2, 2));
        }
        else
        {
            int t = context!.Dim(1);
            using var qp = _q.Apply(ops, x);
            using var kvp = _kv.Apply(ops, context);
            var q = qp.Reshape(b, n, _heads, _headDim);
            var kv = kvp.Reshape(b, t, 2, _heads, _headDim);
            var k = kv.Select(2, 0);
            ops.LayerNormRope(q, q, _normQW, _normQB, cos, sin, QkNormEps, interleaved: true);
            ops.LayerNormRope(k, k, _normKW, _normKB, null, null, QkNormEps, interleaved: true);   // the text keys are not rotated
            r = Attend(ops, attention, q, k, kv.Select(2, 1));
        }
        r.JointOutput?.Dispose();
        using var o = r.Output;
        using var merged = o.IsContiguous ? null : ops.Contiguous(o);
        var m = merged ?? o;
        ops.LinearGatedResidualInto(residual, m.Reshape(b, n, _heads * _headDim), _out.Weight, _out.Bias, gate: null, output);
    }

    AttentionResult Attend(IOps ops, IAttention attention, Tensor q, Tensor k, Tensor v)
        => attention.Run(ops, new AttentionCall { Layer = _name, Kind = _cross ? AttentionKind.Cross : AttentionKind.Self, Q = q, K = k, V = v });

    public void Dispose()
    {
        _normQKW?.Dispose();
        _normQKB?.Dispose();
    }
}

using XDit.Kernels;
using XDit.Models.Layers;
using XDit.Runtime;

namespace XDit.Models.Wan;

/// <summary>
/// diffusers WanTransformerBlock: the block's scale_shift_table [1, 6, D] plus the shared timestep projection give
/// the AdaLN-zero parts (shift, scale, gate of the self-attention, then of the feed-forward); self-attention (attn1) on
/// LN(x)·(1 + scale) + shift (FP32LayerNorm without affine), q and k RMS-normalised over all heads at once (norm_q,
/// norm_k [D]) and rotated by the 3-D RoPE, with a gated residual; cross-attention (attn2) to the text on norm2(x) (a
/// LayerNorm with affine, or x itself without cross_attn_norm), q and k RMS-normalised the same way, no RoPE, a plain
/// residual; then a GELU-tanh feed-forward on the modulated norm with a gated residual. Every eps is the config's.
/// Each residual is added in its output projection's GEMM epilogue (<see cref="IOps.LinearGatedResidualInto"/>);
/// attn1's q, k and v come from one GEMM and attn2's k and v from another, q and k are normed over their whole rows
/// (and rotated) in place there, one pass each (<see cref="IOps.RmsNormAcrossHeadsRope"/>), and the attention reads
/// the packed views.
/// </summary>
sealed class WanBlock
{
    readonly string _attn1Name, _attn2Name;   // the attention layers' keys are their weights' prefixes
    readonly float _eps;
    readonly int _heads, _dim;
    readonly Tensor _table;                   // scale_shift_table viewed [6, D]
    readonly Linear _qkv1, _out1, _q2, _kv2, _out2;   // attn1's to_q/k/v stacked, attn2's to_k/v stacked
    readonly Tensor _normQ1, _normK1, _normQ2, _normK2;
    readonly Tensor? _norm2Weight, _norm2Bias;
    readonly FeedForward _ffn;

    /// <summary>Loads block blocks.{i} from its scope.</summary>
    public WanBlock(WeightScope w, WanConfig c)
    {
        int d = c.InnerDim;
        _dim = d;
        _heads = c.NumAttentionHeads;
        _eps = (float)c.Eps;
        _table = w.Get("scale_shift_table", 1, 6, d).Reshape(6, d);
        var a1 = w.Pp("attn1");
        _attn1Name = a1.Prefix;
        _qkv1 = a1.Stack(a1.Linear("to_q", d, d), a1.Linear("to_k", d, d), a1.Linear("to_v", d, d)).Stacked;
        _out1 = a1.Linear("to_out.0", d, d);
        (_normQ1, _normK1) = (a1.Get("norm_q.weight", d), a1.Get("norm_k.weight", d));
        var a2 = w.Pp("attn2");
        _attn2Name = a2.Prefix;
        _q2 = a2.Linear("to_q", d, d);
        _kv2 = a2.Stack(a2.Linear("to_k", d, d), a2.Linear("to_v", d, d)).Stacked;
        _out2 = a2.Linear("to_out.0", d, d);
        (_normQ2, _normK2) = (a2.Get("norm_q.weight", d), a2.Get("norm_k.weight", d));
        if (c.CrossAttnNorm) (_norm2Weight, _norm2Bias) = (w.Get("norm2.weight", d), w.Get("norm2.bias", d));
        _ffn = FeedForward.Load(w.Pp("ffn"), d, c.FfnDim);
    }

    /// <summary>LN(x)·(1 + scale_msa) + shift_msa of the video tokens, as attn1 sees them (TeaCache's indicator).</summary>
    public Tensor ModulatedImage(IOps ops, DitState state)
    {
        using var mod = Modulation6(ops, state.Conditioning);
        using var m = Parts(mod);
        return ops.LayerNormModulate(state.Image, m.ShiftMsa, m.ScaleMsa, _eps);
    }

    public void Run(IOps ops, DitState state, IAttention attention)
    {
        var x = state.Image;
        var text = state.Text ?? throw new InvalidOperationException($"{_attn2Name}: Wan blocks need the embedded text in state.Text");
        var cos = state.ImageRopeCos ?? throw new InvalidOperationException($"{_attn1Name}: Wan blocks need the rotary tables of the held tokens in state.ImageRopeCos/Sin");
        var sin = state.ImageRopeSin ?? throw new InvalidOperationException($"{_attn1Name}: Wan blocks need state.ImageRopeSin");
        using var mod = Modulation6(ops, state.Conditioning);
        using var m = Parts(mod);
        // the two gated GEMMs (attn1's output projection, the feed-forward's last) take their gates from mod
        using var gated = ops.PrepareGatedEpilogues([(m.GateMsa, _out1.Bias), (m.GateMlp, _ffn.OutBias)]);

        // x1 = x + gate_msa·attn1(...), out of place (state.Image, the block's input, may be held by a step cache)
        var x1 = ops.Empty(x.DType, x.Dims);
        try
        {
            using (var a = ops.LayerNormModulate(x, m.ShiftMsa, m.ScaleMsa, _eps))
            using (var o = SelfAttend(ops, attention, a, cos, sin))
                ops.LinearGatedResidualInto(x, Merged(o), _out1.Weight, _out1.Bias, m.GateMsa, x1);
            // cross-attention on norm2(x1) (text keys and values), its plain residual added in place into x1
            using (var n2 = _norm2Weight is null ? null : ops.LayerNorm(x1, _norm2Weight, _norm2Bias, _eps))
            using (var o = CrossAttend(ops, attention, n2 ?? x1, text))
                ops.LinearGatedResidualInto(x1, Merged(o), _out2.Weight, _out2.Bias, null);
            // feed-forward on the modulated norm, its gated output added into x1 by the last GEMM
            using (var f = ops.LayerNormModulate(x1, m.ShiftMlp, m.ScaleMlp, _eps))
                _ffn.ApplyGatedResidualInto(ops, x1, f, m.GateMlp);
        }
        catch { x1.Dispose(); throw; }
        state.ReplaceImage(x1);
    }

    /// <summary>attn1: q, k and v of the modulated tokens from one GEMM, q and k normed over their whole rows and
    /// rotated in place in it, then the engine's attention → [B, N, H, d] with dense heads.</summary>
    Tensor SelfAttend(IOps ops, IAttention attention, Tensor a, Tensor cos, Tensor sin)
    {
        using var qkv = Heads(ops, _qkv1, a, 3);
        Tensor q = qkv.Select(2, 0), k = qkv.Select(2, 1);
        ops.RmsNormAcrossHeadsRope(q, q, _normQ1, cos, sin, _eps, interleaved: true);
        ops.RmsNormAcrossHeadsRope(k, k, _normK1, cos, sin, _eps, interleaved: true);
        return Run(ops, attention, _attn1Name, AttentionKind.Self, q, k, qkv.Select(2, 2));
    }

    /// <summary>attn2: q of the (normed) tokens, k and v of the text from one GEMM, q and k normed over their whole
    /// rows in place (no RoPE), then the engine's attention → [B, N, H, d] with dense heads.</summary>
    Tensor CrossAttend(IOps ops, IAttention attention, Tensor queries, Tensor text)
    {
        using var qh = Heads(ops, _q2, queries, 1);
        using var kv = Heads(ops, _kv2, text, 2);
        Tensor q = qh.Select(2, 0), k = kv.Select(2, 0);
        ops.RmsNormAcrossHeadsRope(q, q, _normQ2, null, null, _eps, interleaved: true);
        ops.RmsNormAcrossHeadsRope(k, k, _normK2, null, null, _eps, interleaved: true);
        return Run(ops, attention, _attn2Name, AttentionKind.Cross, q, k, kv.Select(2, 1));
    }

    /// <summary>x·Wᵀ + b of a stack of <paramref name="parts"/> projections, viewed [B, N, parts, H, d].</summary>
    Tensor Heads(IOps ops, Linear proj, Tensor x, int parts)
    {
        var y = proj.Apply(ops, x);
        return y.TakeReshaped(y.Dim(0), y.Dim(1), parts, _heads, _dim / _heads);
    }

    /// <summary>The engine's attention on q, k, v (views the caller frees after) → its output with dense heads (copied
    /// where the attention handed back another layout).</summary>
    static Tensor Run(IOps ops, IAttention attention, string layer, AttentionKind kind, Tensor q, Tensor k, Tensor v)
    {
        var r = attention.Run(ops, new AttentionCall { Layer = layer, Kind = kind, Q = q, K = k, V = v });
        r.JointOutput?.Dispose();
        var o = r.Output;
        if (o.IsContiguous || (o.Strides[3] == 1 && o.Strides[2] == o.Dim(3))) return o;
        using (o) return ops.Contiguous(o);
    }

    /// <summary>An attention output [B, N, H, d] with dense heads (as <see cref="Attend"/> returns it) viewed [B, N, D].</summary>
    static Tensor Merged(Tensor o) => HeadProjection.MergeHeads(o);

    /// <summary>The table [6, D] plus the timestep projection [B, 6·D] viewed [B, 6, D]: one add.</summary>
    Tensor Modulation6(IOps ops, Tensor tproj)
    {
        int b = tproj.Dim(0);
        return ops.Add(tproj.Reshape(b, 6, _dim), _table);
    }

    /// <summary>(shift_msa, scale_msa, gate_msa, c_shift_msa, c_scale_msa, c_gate_msa) as [B, D] views of
    /// <paramref name="mod"/> [B, 6, D].</summary>
    AdaLnZeroParts Parts(Tensor mod) => new(Layers.Modulation.View(mod.Reshape(mod.Dim(0), 6 * _dim), 0, 6, _dim));
}

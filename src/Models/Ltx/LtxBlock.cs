using XDit.Kernels;
using XDit.Models.Layers;
using XDit.Runtime;

namespace XDit.Models.Ltx;

/// <summary>
/// diffusers LTXVideoTransformerBlock: the block's scale_shift_table [6, D] plus the shared timestep projection give the
/// AdaLN parts (shift, scale, gate of the self-attention, then of the feed-forward); self-attention (attn1) on
/// RMSNorm(x)·(1 + scale) + shift (norm1, eps norm_eps, weight only with norm_elementwise_affine), q and k RMS-normalised
/// over all heads at once (norm_q, norm_k [D], eps 1e-5) and rotated by the 3-D RoPE whose table row spans all heads,
/// with a gated residual; cross-attention (attn2) from the un-normalised tokens to the caption, q and k normed the same
/// way, no RoPE, padded caption tokens hidden by the key bias, a plain residual; then a GELU-tanh feed-forward on
/// norm2(x)·(1 + scale) + shift with a gated residual. Each residual is added in its output projection's GEMM epilogue;
/// attn1's q, k and v come from one GEMM and attn2's k and v from another, and q and k are normed (and rotated) in
/// place there, one pass each (<see cref="IOps.RmsNormAcrossHeadsRope"/> on the row viewed as one head of width D,
/// which is what a table row of width D asks for).
/// </summary>
sealed class LtxBlock
{
    /// <summary>diffusers' LTXAttention builds norm_q and norm_k with this eps whatever the config says.</summary>
    public const float QkNormEps = 1e-5f;

    readonly string _attn1Name, _attn2Name;   // the attention layers' keys are their weights' prefixes
    readonly float _eps;
    readonly int _heads, _dim;
    readonly Tensor _table;                   // scale_shift_table [6, D]
    readonly Tensor? _norm1, _norm2;          // RMSNorm weights (norm_elementwise_affine)
    readonly Linear _qkv1, _out1, _q2, _kv2, _out2;   // attn1's to_q/k/v stacked, attn2's to_k/v stacked
    readonly Tensor _normQ1, _normK1, _normQ2, _normK2;
    readonly FeedForward _ff;

    /// <summary>Loads transformer_blocks.{i} from its scope.</summary>
    public LtxBlock(WeightScope w, LtxConfig c)
    {
        int d = c.InnerDim;
        _dim = d;
        _heads = c.NumAttentionHeads;
        _eps = (float)c.NormEps;
        _table = w.Get("scale_shift_table", 6, d);
        if (c.NormElementwiseAffine) (_norm1, _norm2) = (w.Get("norm1.weight", d), w.Get("norm2.weight", d));
        bool bias = c.AttentionBias, outBias = c.AttentionOutBias;
        var a1 = w.Pp("attn1");
        _attn1Name = a1.Prefix;
        _qkv1 = a1.Stack(a1.Linear("to_q", d, d, bias), a1.Linear("to_k", d, d, bias), a1.Linear("to_v", d, d, bias)).Stacked;
        _out1 = a1.Linear("to_out.0", d, d, outBias);
        (_normQ1, _normK1) = (a1.Get("norm_q.weight", d), a1.Get("norm_k.weight", d));
        var a2 = w.Pp("attn2");
        _attn2Name = a2.Prefix;
        _q2 = a2.Linear("to_q", d, d, bias);
        _kv2 = a2.Stack(a2.Linear("to_k", c.CrossAttentionDim, d, bias), a2.Linear("to_v", c.CrossAttentionDim, d, bias)).Stacked;
        _out2 = a2.Linear("to_out.0", d, d, outBias);
        (_normQ2, _normK2) = (a2.Get("norm_q.weight", d), a2.Get("norm_k.weight", d));
        _ff = FeedForward.Load(w.Pp("ff"), d, 4 * d);
    }

    /// <summary>RMSNorm(x)·(1 + scale_msa) + shift_msa of the video tokens, as attn1 sees them (TeaCache's indicator).</summary>
    public Tensor ModulatedImage(IOps ops, DitState state)
    {
        using var mod = Modulation6(ops, state.Conditioning);
        using var m = Parts(mod);
        return NormModulate(ops, state.Image, _norm1, m.ShiftMsa, m.ScaleMsa);
    }

    public void Run(IOps ops, DitState state, IAttention attention)
    {
        var x = state.Image;
        var text = state.Text ?? throw new InvalidOperationException($"{_attn2Name}: LTX blocks need the projected caption in state.Text");
        var cos = state.ImageRopeCos ?? throw new InvalidOperationException($"{_attn1Name}: LTX blocks need the rotary tables of the held tokens in state.ImageRopeCos/Sin");
        var sin = state.ImageRopeSin ?? throw new InvalidOperationException($"{_attn1Name}: LTX blocks need state.ImageRopeSin");
        using var mod = Modulation6(ops, state.Conditioning);
        using var m = Parts(mod);
        // the two gated GEMMs (attn1's output projection, the feed-forward's last) take their gates from mod
        using var gated = ops.PrepareGatedEpilogues([(m.GateMsa, _out1.Bias), (m.GateMlp, _ff.OutBias)]);

        // x1 = x + gate_msa·attn1(...), out of place (state.Image, the block's input, may be held by a step cache)
        var x1 = ops.Empty(x.DType, x.Dims);
        try
        {
            using (var a = NormModulate(ops, x, _norm1, m.ShiftMsa, m.ScaleMsa))
            using (var o = SelfAttend(ops, attention, a, cos, sin))
                ops.LinearGatedResidualInto(x, HeadProjection.MergeHeads(o), _out1.Weight, _out1.Bias, m.GateMsa, x1);
            // cross-attention from x1 itself (no norm) to the caption, its plain residual added in place into x1
            var options = state.TextKeyBias is null ? null : new AttentionOptions { KeyBias = state.TextKeyBias };
            using (var o = CrossAttend(ops, attention, x1, text, options))
                ops.LinearGatedResidualInto(x1, HeadProjection.MergeHeads(o), _out2.Weight, _out2.Bias, null);
            // feed-forward on the modulated norm, its gated output added into x1 by the last GEMM
            using (var f = NormModulate(ops, x1, _norm2, m.ShiftMlp, m.ScaleMlp))
                _ff.ApplyGatedResidualInto(ops, x1, f, m.GateMlp);
        }
        catch { x1.Dispose(); throw; }
        state.ReplaceImage(x1);
    }

    /// <summary>RMSNorm(x)·(1 + scale) + shift (norm1/norm2 then the AdaLN modulation) in one pass.</summary>
    Tensor NormModulate(IOps ops, Tensor x, Tensor? weight, Tensor shift, Tensor scale)
        => ops.RmsNormModulate(x, weight, shift, scale, _eps);

    /// <summary>attn1: q, k and v of the modulated tokens from one GEMM, q and k normed over their whole rows and
    /// rotated in place in it, then the engine's attention → [B, N, H, d] with dense heads.</summary>
    Tensor SelfAttend(IOps ops, IAttention attention, Tensor a, Tensor cos, Tensor sin)
    {
        using var qkv = _qkv1.Apply(ops, a);
        int b = qkv.Dim(0), n = qkv.Dim(1);
        // each token's q (and k) row as one head of width D: the table row spans every head
        var rows = qkv.Reshape(b, n, 3, 1, _dim);
        Tensor q = rows.Select(2, 0), k = rows.Select(2, 1);
        ops.RmsNormAcrossHeadsRope(q, q, _normQ1, cos, sin, QkNormEps, interleaved: true);
        ops.RmsNormAcrossHeadsRope(k, k, _normK1, cos, sin, QkNormEps, interleaved: true);
        var heads = qkv.Reshape(b, n, 3, _heads, _dim / _heads);
        return Run(ops, attention, _attn1Name, AttentionKind.Self, heads.Select(2, 0), heads.Select(2, 1), heads.Select(2, 2), null);
    }

    /// <summary>attn2: q of the tokens, k and v of the caption from one GEMM, q and k normed over their whole rows in
    /// place (no RoPE), then the engine's attention with the caption's key bias → [B, N, H, d] with dense heads.</summary>
    Tensor CrossAttend(IOps ops, IAttention attention, Tensor queries, Tensor text, AttentionOptions? options)
    {
        int hd = _dim / _heads;
        using var qp = _q2.Apply(ops, queries);
        using var kv = _kv2.Apply(ops, text);
        var q = qp.Reshape(qp.Dim(0), qp.Dim(1), _heads, hd);
        var kvh = kv.Reshape(kv.Dim(0), kv.Dim(1), 2, _heads, hd);
        var k = kvh.Select(2, 0);
        ops.RmsNormAcrossHeadsRope(q, q, _normQ2, null, null, QkNormEps, interleaved: true);
        ops.RmsNormAcrossHeadsRope(k, k, _normK2, null, null, QkNormEps, interleaved: true);
        return Run(ops, attention, _attn2Name, AttentionKind.Cross, q, k, kvh.Select(2, 1), options);
    }

    /// <summary>The engine's attention on q, k, v (views the caller frees after) → its output with dense heads (copied
    /// where the attention handed back another layout).</summary>
    static Tensor Run(IOps ops, IAttention attention, string layer, AttentionKind kind, Tensor q, Tensor k, Tensor v, AttentionOptions? options)
    {
        var r = attention.Run(ops, new AttentionCall { Layer = layer, Kind = kind, Q = q, K = k, V = v, Options = options });
        r.JointOutput?.Dispose();
        var o = r.Output;
        if (o.IsContiguous || (o.Strides[3] == 1 && o.Strides[2] == o.Dim(3))) return o;
        using (o) return ops.Contiguous(o);
    }

    /// <summary>The table [6, D] plus the timestep projection [B, 6·D] viewed [B, 6, D]: one add.</summary>
    Tensor Modulation6(IOps ops, Tensor temb6)
    {
        int b = temb6.Dim(0);
        return ops.Add(temb6.Reshape(b, 6, _dim), _table);
    }

    /// <summary>(shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp) as [B, D] views of
    /// <paramref name="mod"/> [B, 6, D].</summary>
    AdaLnZeroParts Parts(Tensor mod) => new(Layers.Modulation.View(mod.Reshape(mod.Dim(0), 6 * _dim), 0, 6, _dim));
}

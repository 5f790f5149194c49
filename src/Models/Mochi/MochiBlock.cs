using XDit.Kernels;
using XDit.Models.Layers;
using XDit.Runtime;

namespace XDit.Models.Mochi;

/// <summary>
/// diffusers MochiTransformerBlock: a video stream of width D and a text stream of width P, each normed by
/// MochiRMSNormZero (RMSNorm without weight, times 1 + scale, from linear(SiLU(temb)) cut into scale_msa, gate_msa,
/// scale_mlp, gate_mlp), one joint attention over [video; text] (MochiAttention: q/k/v of each stream with per-head
/// RMS norms, RoPE on the video's q and k, the padded text keys hidden), then per stream the sandwich residuals
/// h + RMSNorm(out)·tanh(gate_msa) and h + RMSNorm(FF(RMSNorm(h)·(1 + scale_mlp)))·tanh(gate_mlp) with SwiGLU
/// feed-forwards. The last block (context_pre_only) norms the text with MochiLayerNormContinuous (linear_1 gives
/// the scale only), still lets it join the attention as keys and values, and leaves it as it was: it has no
/// to_add_out, no text feed-forward.
/// </summary>
sealed class MochiBlock
{
    /// <summary>The block's RMS norms (MochiRMSNormZero, MochiModulatedRMSNorm, MochiLayerNormContinuous).</summary>
    public const float Eps = 1e-6f;
    /// <summary>MochiAttention's per-head q/k norms.</summary>
    public const float QkEps = 1e-5f;

    readonly string _name;
    readonly bool _last;
    readonly int _dim, _textDim, _heads;
    readonly Linear _ada;                    // norm1.linear [4D, D] stacked over norm1_context's [4P, D] (last: linear_1 [P, D])
    readonly Linear _toQ, _toK, _toV, _addQ, _addK, _addV, _toOut;
    readonly Linear? _toAddOut;
    readonly Tensor _normQ, _normK, _normAddedQ, _normAddedK;
    readonly MochiFeedForward _ff;
    readonly MochiFeedForward? _ffContext;

    /// <summary>Loads block <paramref name="w"/> (transformer_blocks.{i}); <paramref name="last"/> is context_pre_only.</summary>
    public MochiBlock(WeightScope w, MochiConfig c, bool last)
    {
        _name = w.Prefix;
        _last = last;
        int d = c.InnerDim, p = c.PooledProjectionDim, hd = c.AttentionHeadDim;
        (_dim, _textDim, _heads) = (d, p, c.NumAttentionHeads);
        var textNorm = last ? w.Pp("norm1_context").Linear("linear_1", d, p) : w.Pp("norm1_context").Linear("linear", d, 4 * p);
        _ada = w.Stack(w.Pp("norm1").Linear("linear", d, 4 * d), textNorm).Stacked;
        var attn = w.Pp("attn1");
        _toQ = attn.Linear("to_q", d, d, bias: false);
        _toK = attn.Linear("to_k", d, d, bias: false);
        _toV = attn.Linear("to_v", d, d, bias: false);
        _addQ = attn.Linear("add_q_proj", p, d, bias: false);
        _addK = attn.Linear("add_k_proj", p, d, bias: false);
        _addV = attn.Linear("add_v_proj", p, d, bias: false);
        _normQ = attn.Pp("norm_q").Get("weight", hd);
        _normK = attn.Pp("norm_k").Get("weight", hd);
        _normAddedQ = attn.Pp("norm_added_q").Get("weight", hd);
        _normAddedK = attn.Pp("norm_added_k").Get("weight", hd);
        _toOut = attn.Linear("to_out.0", d, d);
        _toAddOut = last ? null : attn.Linear("to_add_out", d, p);
        _ff = MochiFeedForward.Load(w.Pp("ff"), d, c.FfInnerDim);
        _ffContext = last ? null : MochiFeedForward.Load(w.Pp("ff_context"), p, c.FfContextInnerDim);
    }

    /// <summary>norm1(x, temb)[0]: RMSNorm(x)·(1 + scale_msa) of the video tokens (state.Conditioning is SiLU(temb)):
    /// TeaCache's indicator.</summary>
    public Tensor ModulatedImage(IOps ops, DitState state)
    {
        using var ada = _ada.Apply(ops, state.Conditioning);
        return ScaledRms(ops, state.Image, ada.Slice(1, 0, _dim));
    }

    public void Run(IOps ops, DitState state, IAttention attention)
    {
        var x = state.Image;
        var c = state.Text ?? throw new InvalidOperationException($"{_name}: the state has no text tokens");
        if (c.Dim(2) != _textDim)
            throw new InvalidOperationException($"{_name}: the text stream is {c.Dim(2)} wide, the block expects pooled_projection_dim {_textDim}");

        // both streams' modulation from one GEMM of SiLU(temb): video scale_msa, gate_msa, scale_mlp, gate_mlp, then
        // the text's four (the last block: its one scale)
        using var ada = _ada.Apply(ops, state.Conditioning);
        using var mx = Modulation.View(ada, 0, 4, _dim);
        using var mc = _last ? null : Modulation.View(ada.Slice(1, 4 * _dim, 4 * _textDim), 0, 4, _textDim);
        using var xHat = ScaledRms(ops, x, mx[0]);
        using var cHat = ScaledRms(ops, c, _last ? ada.Slice(1, 4 * _dim, _textDim) : mc![0]);

        var r = Attend(ops, attention, state, xHat, cHat);
        using var attnTxt = r.JointOutput!;   // disposed last: it may own the storage Output views
        using var attnImg = r.Output;

        state.ReplaceImage(Stream(ops, x, attnImg, _toOut, _ff, mx));
        if (!_last) state.ReplaceText(Stream(ops, c, attnTxt, _toAddOut!.Value, _ffContext!, mc!));
    }

    /// <summary>The joint attention: each stream's q, k, v GEMMs write their rows of one [3, B, n + T, D] tensor (video
    /// rows first, as the reference concatenates), q and k normed per head in their projection's epilogue, the
    /// video's rotated there too by its tables of a row per head (every head has its own angles), and the attention
    /// reads the joined rows in place.</summary>
    AttentionResult Attend(IOps ops, IAttention attention, DitState state, Tensor xHat, Tensor cHat)
    {
        if (state.ImageRopeCos is null || state.ImageRopeSin is null)
            throw new InvalidOperationException($"{_name}: the state has no RoPE tables of the video tokens");
        int b = xHat.Dim(0), n = xHat.Dim(1), t = cHat.Dim(1), d = _dim, hd = d / _heads;
        using var qkv = ops.Empty(xHat.DType, 3, b, n + t, d);
        var heads = Enumerable.Range(0, 3).Select(i => qkv.Select(0, i).Reshape(b, n + t, _heads, hd)).ToArray();
        Tensor qi = heads[0].Slice(1, 0, n), ki = heads[1].Slice(1, 0, n), qt = heads[0].Slice(1, n, t), kt = heads[1].Slice(1, n, t);
        ops.LinearRmsNormRopeInto(qi, xHat, _toQ.Weight, null, _normQ, state.ImageRopeCos, state.ImageRopeSin, QkEps, interleaved: true);
        ops.LinearRmsNormRopeInto(ki, xHat, _toK.Weight, null, _normK, state.ImageRopeCos, state.ImageRopeSin, QkEps, interleaved: true);
        ops.LinearInto(qkv.Select(0, 2).Slice(1, 0, n), xHat, _toV.Weight);
        ops.LinearRmsNormRopeInto(qt, cHat, _addQ.Weight, null, _normAddedQ, null, null, QkEps, interleaved: true);
        ops.LinearRmsNormRopeInto(kt, cHat, _addK.Weight, null, _normAddedK, null, null, QkEps, interleaved: true);
        ops.LinearInto(qkv.Select(0, 2).Slice(1, n, t), cHat, _addV.Weight);
        var r = attention.Run(ops, new AttentionCall
        {
            Layer = _name + ".attn1", Kind = AttentionKind.Self, JointFirst = false,
            Q = qi, K = ki, V = heads[2].Slice(1, 0, n), JointQ = qt, JointK = kt, JointV = heads[2].Slice(1, n, t),
            Options = PaddedTextKeys(state, n, t),
        });
        if (r.JointOutput is null)
        {
            r.Output.Dispose();
            throw new InvalidOperationException($"{_name}: the attention returned no rows for the text tokens");
        }
        return r;
    }

    /// <summary>The key bias over [n held video keys; T text keys]: the state's <see cref="DitState.TextKeyBias"/>
    /// is [B, N + T], zeros for all N video tokens then the text's bias, so its last n + T columns serve any shard of
    /// n ≤ N video tokens as a view. Null when no row pads its text.</summary>
    AttentionOptions? PaddedTextKeys(DitState state, int n, int t)
    {
        if (state.TextKeyBias is not { } kb) return null;
        int all = kb.Dim(1);
        if (kb.Rank != 2 || all < n + t)
            throw new InvalidOperationException($"{_name}: the state's text key bias {Shape.Format(kb.ShapeSpan)} does not cover {n} video and {t} text keys");
        return new AttentionOptions { KeyBias = kb.Slice(1, all - n - t, n + t) };
    }

    /// <summary>h1 = h + RMSNorm(out(attn))·tanh(gate_msa), then h1 + RMSNorm(FF(RMSNorm(h1)·(1 + scale_mlp)))·tanh(gate_mlp).</summary>
    static Tensor Stream(IOps ops, Tensor h, Tensor attn, Linear outProj, MochiFeedForward ff, Modulation m)
    {
        Tensor h1;
        using (var a = outProj.Apply(ops, HeadProjection.MergeHeads(attn)))
        using (var g = ops.Activate(m[1], Activation.Tanh))
            h1 = ops.RmsNormGatedResidual(h, g, a, null, Eps);
        try
        {
            Tensor f;
            using (var n3 = ScaledRms(ops, h1, m[2]))
                f = ff.Apply(ops, n3);
            using (f)
            using (var g = ops.Activate(m[3], Activation.Tanh))
                return ops.RmsNormGatedResidual(h1, g, f, null, Eps);
        }
        finally { h1.Dispose(); }
    }

    /// <summary>MochiModulatedRMSNorm: RMSNorm(x) without weight, times 1 + <paramref name="scale"/> [B, W] (a chunk of
    /// the packed modulation, read in place), in one pass with no shift.</summary>
    static Tensor ScaledRms(IOps ops, Tensor x, Tensor scale) => ops.RmsNormModulate(x, null, null, scale, Eps);
}

using XDit.Kernels;
using XDit.Models.Layers;
using XDit.Runtime;

namespace XDit.Models.SD3;

/// <summary>
/// diffusers JointTransformerBlock as SD3 uses it: AdaLN-zero on both streams, one joint attention over
/// [image; text] (image first), gated residuals and GELU-tanh MLPs. The last block is context_pre_only: its text
/// stream is only normalised (AdaLayerNormContinuous) to give keys/values, and stops there. SD3.5-medium's dual
/// blocks add attn2, a plain self-attention over the image tokens fed by the extra modulation of
/// SD35AdaLayerNormZeroX.
/// Laid out for few launches: the adaptive norms of both streams are one GEMM of SiLU(temb) (computed once per
/// forward by SD3Transformer.Embed), their chunks read in place; Q, K and V are one GEMM per stream, read by
/// attention as strided views; each LayerNorm and its modulation is one op, and each attention residual is fused
/// with the norm that follows it.
/// </summary>
sealed class SD3JointBlock
{
    readonly string _name, _attnName, _attn2Name;   // the attention layers' keys are their weights' prefixes
    readonly int _heads, _dim, _xChunks;
    readonly Linear _ada, _adaImage;                 // norm1.linear and norm1_context.linear stacked; norm1's rows alone
    readonly Linear _qkv, _addQkv;                   // to_q/to_k/to_v and add_q/k/v_proj, stacked per stream
    readonly Tensor? _qkNorm, _addQkNorm;            // SD3.5's norm_q and norm_k, norm_added_q and norm_added_k: [2, d] each
    readonly Linear _toOut;
    readonly Linear? _toAddOut;
    readonly FeedForward _ff;
    readonly FeedForward? _ffContext;
    readonly Linear? _qkv2;
    readonly Tensor? _normQ2, _normK2;
    readonly Linear? _toOut2;

    /// <summary>Loads block <paramref name="index"/> from its scope (transformer_blocks.{index}).</summary>
    public SD3JointBlock(WeightScope w, SD3Config c, int index)
    {
        _name = w.Prefix;
        int d = c.InnerDim, h = c.NumAttentionHeads, hd = c.AttentionHeadDim;
        if (h * hd != d) throw new NotSupportedException($"{_name}: {h} heads of {hd} do not make the width {d}");
        _heads = h;
        _dim = d;
        ContextPreOnly = index == c.NumLayers - 1;
        Dual = c.DualAttentionLayers.Contains(index);
        bool qk = c.HasQkNorm;

        // AdaLayerNormZero (6 or SD3.5's 9 chunks) of the image; AdaLayerNormZero (6) or, in the last block,
        // AdaLayerNormContinuous (2: scale, shift) of the text
        _xChunks = Dual ? 9 : 6;
        var (ada, adaParts) = w.Stack(w.Linear("norm1.linear", d, _xChunks * d), w.Linear("norm1_context.linear", d, (ContextPreOnly ? 2 : 6) * d));
        (_ada, _adaImage) = (ada, adaParts[0]);

        var attn = w.Pp("attn");
        _attnName = attn.Prefix;
        _attn2Name = w.Pp("attn2").Prefix;
        _qkv = attn.Stack(attn.Linear("to_q", d, d), attn.Linear("to_k", d, d), attn.Linear("to_v", d, d)).Stacked;
        _addQkv = attn.Stack(attn.Linear("add_q_proj", d, d), attn.Linear("add_k_proj", d, d), attn.Linear("add_v_proj", d, d)).Stacked;
        if (qk)
        {
            _qkNorm = attn.StackVectors(attn.Pp("norm_q").Get("weight", hd), attn.Pp("norm_k").Get("weight", hd));
            _addQkNorm = attn.StackVectors(attn.Pp("norm_added_q").Get("weight", hd), attn.Pp("norm_added_k").Get("weight", hd));
        }
        _toOut = attn.Linear("to_out.0", d, d);
        if (!ContextPreOnly) _toAddOut = attn.Linear("to_add_out", d, d);

        _ff = FeedForward.Load(w.Pp("ff"), d, 4 * d);
        if (!ContextPreOnly) _ffContext = FeedForward.Load(w.Pp("ff_context"), d, 4 * d);

        if (Dual)
        {
            var attn2 = w.Pp("attn2");
            _qkv2 = attn2.Stack(attn2.Linear("to_q", d, d), attn2.Linear("to_k", d, d), attn2.Linear("to_v", d, d)).Stacked;
            if (qk)
            {
                _normQ2 = attn2.Pp("norm_q").Get("weight", hd);
                _normK2 = attn2.Pp("norm_k").Get("weight", hd);
            }
            _toOut2 = attn2.Linear("to_out.0", d, d);
        }
    }

    public bool ContextPreOnly { get; }
    public bool Dual { get; }

    /// <summary>norm1(x, temb)[0]: LN(x)·(1 + scale_msa) + shift_msa of the image tokens.</summary>
    public Tensor ModulatedImage(IOps ops, DitState state)
    {
        using var m = Modulation.Split(_adaImage.Apply(ops, state.Conditioning), _xChunks);
        return AdaLayerNormZero.Modulated(ops, state.Image, m[0], m[1]);
    }

    public void Run(IOps ops, DitState state, IAttention attention)
    {
        var x = state.Image;
        var c = state.Text ?? throw new InvalidOperationException($"{_name}: the text stream is gone (a context_pre_only block already ran)");

        // Both streams' modulation in one GEMM of SiLU(temb) (state.Conditioning holds it), chunks read in place.
        using var ada = _ada.Apply(ops, state.Conditioning);
        using var mx = new AdaLnZeroParts(Modulation.View(ada, 0, _xChunks, _dim));
        using var mc = ContextPreOnly ? null : new AdaLnZeroParts(Modulation.View(ada, _xChunks, 6, _dim));
        using var xHat = AdaLayerNormZero.Modulated(ops, x, mx.ShiftMsa, mx.ScaleMsa);
        using var cHat = NormText(ops, c, ada, mc);
        // every gated GEMM of the block (attention output and feed-forward, per stream) takes its gate from the one
        // adaLN output: the backend turns them into epilogue constants in one pass
        using var gated = ops.PrepareGatedEpilogues(GatedEpilogues(mx, mc));

        // Joint attention, image first then text: each stream's QKV GEMM writes its rows of one [B, N + T, 3·D]
        // tensor, so attention reads the joined sequence in place and hands back its image and text rows as views.
        // With qk-norm (SD3.5) q and k are normed per head in their projection's epilogue (PackedQkv).
        Tensor attnImg;
        Tensor? attnTxt;
        {
            int b = x.Dim(0), n = x.Dim(1), t = c.Dim(1), hd = _dim / _heads;
            using var joint = ops.Empty(xHat.DType, b, n + t, 3 * _dim);
            if (_qkNorm is not null)
            {
                PackedQkv.ProjectInto(ops, joint.Slice(1, 0, n), xHat, _qkv, _qkNorm, _heads, null, null);
                PackedQkv.ProjectInto(ops, joint.Slice(1, n, t), cHat, _addQkv, _addQkNorm!, _heads, null, null);
            }
            else
            {
                ops.LinearInto(joint.Slice(1, 0, n), xHat, _qkv.Weight, _qkv.Bias);
                ops.LinearInto(joint.Slice(1, n, t), cHat, _addQkv.Weight, _addQkv.Bias);
            }
            var heads = joint.Reshape(b, n + t, 3, _heads, hd);
            Tensor q = heads.Select(2, 0), k = heads.Select(2, 1), v = heads.Select(2, 2);
            var r = attention.Run(ops, new AttentionCall
            {
                Layer = _attnName, Kind = AttentionKind.Self,
                Q = q.Slice(1, 0, n), K = k.Slice(1, 0, n), V = v.Slice(1, 0, n),
                JointQ = q.Slice(1, n, t), JointK = k.Slice(1, n, t), JointV = v.Slice(1, n, t), JointFirst = false,
            });
            attnTxt = r.JointOutput;
            attnImg = r.Output;
        }

        Tensor x1, f;
        try
        {
            using (attnImg)
            {
                if (Dual)
                {
                    using var ax = _toOut.Apply(ops, HeadProjection.MergeHeads(attnImg));
                    using var xHat2 = AdaLayerNormZero.Modulated(ops, x, mx.ShiftMsa2, mx.ScaleMsa2);
                    using var xa = ops.GatedResidual(x, mx.GateMsa, ax);
                    var (q, k, v, owned) = Heads(ops, _qkv2!.Value, xHat2, _normQ2, _normK2);
                    AttentionResult r;
                    try { r = attention.Run(ops, new AttentionCall { Layer = _attn2Name, Kind = AttentionKind.Self, Q = q, K = k, V = v }); }
                    finally { DisposeAll(owned); }
                    r.JointOutput?.Dispose();
                    using (r.Output)
                    using (var a2 = _toOut2!.Value.Apply(ops, HeadProjection.MergeHeads(r.Output)))
                        (x1, f) = ops.ResidualLayerNormModulate(xa, mx.GateMsa2, a2, mx.ShiftMlp, mx.ScaleMlp, AdaLayerNormZero.Eps);
                }
                else (x1, f) = GatedResidualNorm(ops, x, attnImg, _toOut, mx);
            }
        }
        catch { attnTxt?.Dispose(); throw; }
        // x1 is this block's own residual: the feed-forward's last GEMM adds its gated output into it in place
        try { using (f) _ff.ApplyGatedResidualInto(ops, x1, f, mx.GateMlp); }
        catch { x1.Dispose(); throw; }
        state.ReplaceImage(x1);

        using (attnTxt)
        {
            if (ContextPreOnly)
            {
                // The text stream ends here; its attention rows are not used.
                state.ReplaceText(null);
                return;
            }
            if (attnTxt is null) throw new InvalidOperationException($"{_name}: the attention returned no rows for the text tokens");
            var (c1, fc) = GatedResidualNorm(ops, c, attnTxt, _toAddOut!.Value, mc!);
            try { using (fc) _ffContext!.ApplyGatedResidualInto(ops, c1, fc, mc!.GateMlp); }
            catch { c1.Dispose(); throw; }
            state.ReplaceText(c1);
        }
    }

    /// <summary>The (gate, bias) of each gated GEMM this block runs, in order.</summary>
    (Tensor Gate, Tensor? Bias)[] GatedEpilogues(AdaLnZeroParts mx, AdaLnZeroParts? mc)
    {
        var list = new List<(Tensor, Tensor?)>(4);
        if (!Dual) list.Add((mx.GateMsa, _toOut.Bias));
        list.Add((mx.GateMlp, _ff.OutBias));
        if (mc is not null)
        {
            list.Add((mc.GateMsa, _toAddOut!.Value.Bias));
            list.Add((mc.GateMlp, _ffContext!.OutBias));
        }
        return list.ToArray();
    }

    /// <summary>One stream after attention: x' = x + gate·(attn·Woutᵀ + b) out of place in the GEMM's epilogue (x is
    /// the block's input, still read by nothing else but kept intact), then the feed-forward's LayerNorm and modulate of
    /// x'. Returns (x', its normed and modulated copy).</summary>
    static (Tensor Residual, Tensor Normed) GatedResidualNorm(IOps ops, Tensor x, Tensor attn, Linear toOut, AdaLnZeroParts m)
    {
        var x1 = ops.Empty(x.DType, x.Dims);
        try
        {
            ops.LinearGatedResidualInto(x, HeadProjection.MergeHeads(attn), toOut.Weight, toOut.Bias, m.GateMsa, x1);
            return (x1, ops.LayerNormModulate(x1, m.ShiftMlp, m.ScaleMlp, AdaLayerNormZero.Eps));
        }
        catch { x1.Dispose(); throw; }
    }

    /// <summary>The text stream's norm1_context: AdaLayerNormZero's first shift/scale, or in the last block
    /// AdaLayerNormContinuous (scale, then shift).</summary>
    Tensor NormText(IOps ops, Tensor c, Tensor ada, AdaLnZeroParts? mc)
    {
        if (mc is not null) return AdaLayerNormZero.Modulated(ops, c, mc.ShiftMsa, mc.ScaleMsa);
        using var m = new ContinuousNormParts(Modulation.View(ada, _xChunks, 2, _dim));
        return AdaLayerNormZero.Modulated(ops, c, m.Shift, m.Scale);
    }

    /// <summary>Q, K and V [B, N, H, d] of one stream from one GEMM [B, N, 3·D]: strided views of its output, q and
    /// k RMS-normed in place where the block has qk-norm. Returns what the caller disposes after attention.</summary>
    (Tensor Q, Tensor K, Tensor V, Tensor[] Owned) Heads(IOps ops, Linear qkv, Tensor input, Tensor? normQ, Tensor? normK)
    {
        var packed = qkv.Apply(ops, input);
        int b = packed.Dim(0), n = packed.Dim(1);
        var heads = packed.Reshape(b, n, 3, _heads, _dim / _heads);
        Tensor q = heads.Select(2, 0), k = heads.Select(2, 1), v = heads.Select(2, 2);
        if (normQ is null) return (q, k, v, [packed]);
        try
        {
            NormRows(ops, q, normQ);
            NormRows(ops, k, normK!);
            return (q, k, v, [packed]);
        }
        catch { packed.Dispose(); throw; }
    }

    /// <summary>RMSNorm over d of the [B, N, H, d] view, written back into it in one pass (the norm of RmsNormRope
    /// without tables: the strided view is neither copied dense nor copied back).</summary>
    static void NormRows(IOps ops, Tensor view, Tensor weight)
        => ops.RmsNormRope(view, view, weight, null, null, HeadProjection.NormEps, interleaved: false);

    static void DisposeAll(Tensor[] ts) { foreach (var t in ts) t.Dispose(); }
}

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
/// </summary>
sealed class SD3JointBlock
{
    readonly string _name, _attnName, _attn2Name;   // the attention layers' keys are their weights' prefixes
    readonly int _heads;
    readonly AdaLayerNormZero _norm1;
    readonly AdaLayerNormZero? _norm1Context;
    readonly AdaLayerNormContinuous? _norm1ContextLast;
    readonly HeadProjection _q, _k, _v, _addQ, _addK, _addV;
    readonly Linear _toOut;
    readonly Linear? _toAddOut;
    readonly FeedForward _ff;
    readonly FeedForward? _ffContext;
    readonly HeadProjection? _q2, _k2, _v2;
    readonly Linear? _toOut2;

    /// <summary>Loads block <paramref name="index"/> from its scope (transformer_blocks.{index}).</summary>
    public SD3JointBlock(WeightScope w, SD3Config c, int index)
    {
        _name = w.Prefix;
        int d = c.InnerDim, h = c.NumAttentionHeads, hd = c.AttentionHeadDim;
        _heads = h;
        ContextPreOnly = index == c.NumLayers - 1;
        Dual = c.DualAttentionLayers.Contains(index);
        bool qk = c.HasQkNorm;

        _norm1 = AdaLayerNormZero.Load(w.Pp("norm1"), d, Dual ? 9 : 6);
        if (ContextPreOnly) _norm1ContextLast = AdaLayerNormContinuous.Load(w.Pp("norm1_context"), d, d);
        else _norm1Context = AdaLayerNormZero.Load(w.Pp("norm1_context"), d, 6);

        var attn = w.Pp("attn");
        _attnName = attn.Prefix;
        _attn2Name = w.Pp("attn2").Prefix;
        _q = HeadProjection.Load(attn, "to_q", qk ? "norm_q" : null, d, h, hd);
        _k = HeadProjection.Load(attn, "to_k", qk ? "norm_k" : null, d, h, hd);
        _v = HeadProjection.Load(attn, "to_v", null, d, h, hd);
        _addQ = HeadProjection.Load(attn, "add_q_proj", qk ? "norm_added_q" : null, d, h, hd);
        _addK = HeadProjection.Load(attn, "add_k_proj", qk ? "norm_added_k" : null, d, h, hd);
        _addV = HeadProjection.Load(attn, "add_v_proj", null, d, h, hd);
        _toOut = attn.Linear("to_out.0", d, d);
        if (!ContextPreOnly) _toAddOut = attn.Linear("to_add_out", d, d);

        _ff = FeedForward.Load(w.Pp("ff"), d, 4 * d);
        if (!ContextPreOnly) _ffContext = FeedForward.Load(w.Pp("ff_context"), d, 4 * d);

        if (Dual)
        {
            var attn2 = w.Pp("attn2");
            _q2 = HeadProjection.Load(attn2, "to_q", qk ? "norm_q" : null, d, h, hd);
            _k2 = HeadProjection.Load(attn2, "to_k", qk ? "norm_k" : null, d, h, hd);
            _v2 = HeadProjection.Load(attn2, "to_v", null, d, h, hd);
            _toOut2 = attn2.Linear("to_out.0", d, d);
        }
    }

    public bool ContextPreOnly { get; }
    public bool Dual { get; }

    /// <summary>norm1(x, temb)[0]: LN(x)·(1 + scale_msa) + shift_msa of the image tokens.</summary>
    public Tensor ModulatedImage(IOps ops, DitState state) => _norm1.FirstModulated(ops, state.Image, state.Conditioning);

    public void Run(IOps ops, DitState state, IAttention attention)
    {
        var x = state.Image;
        var c = state.Text ?? throw new InvalidOperationException($"{_name}: the text stream is gone (a context_pre_only block already ran)");
        var temb = state.Conditioning;

        // Norms of both streams.
        using var mx = _norm1.ComputeZero(ops, temb);
        using var nx = ops.LayerNorm(x, null, null, AdaLayerNormZero.Eps);
        using var xHat = ops.Modulate(nx, mx.ShiftMsa, mx.ScaleMsa);
        using var mc = _norm1Context?.ComputeZero(ops, temb);
        using var cHat = mc is null ? _norm1ContextLast!.Apply(ops, c, temb) : AdaLayerNormZero.Modulated(ops, c, mc.ShiftMsa, mc.ScaleMsa);

        // Joint attention, image first then text.
        Tensor newX;
        Tensor? attnTxt;
        {
            using var q = _q.Apply(ops, xHat);
            using var k = _k.Apply(ops, xHat);
            using var v = _v.Apply(ops, xHat);
            using var qc = _addQ.Apply(ops, cHat);
            using var kc = _addK.Apply(ops, cHat);
            using var vc = _addV.Apply(ops, cHat);
            var r = attention.Run(ops, new AttentionCall
            {
                Layer = _attnName,
                Kind = AttentionKind.Self,
                Q = HeadProjection.AsHeads(q, _heads), K = HeadProjection.AsHeads(k, _heads), V = HeadProjection.AsHeads(v, _heads),
                JointQ = HeadProjection.AsHeads(qc, _heads), JointK = HeadProjection.AsHeads(kc, _heads), JointV = HeadProjection.AsHeads(vc, _heads),
                JointFirst = false,
            });
            using (r.Output)
            {
                using var ax = _toOut.Apply(ops, HeadProjection.MergeHeads(r.Output));
                newX = ops.GatedResidual(x, mx.GateMsa, ax);
            }
            attnTxt = r.JointOutput;
        }

        if (Dual)
        {
            using var xHat2 = ops.Modulate(nx, mx.ShiftMsa2, mx.ScaleMsa2);
            using var q = _q2!.Apply(ops, xHat2);
            using var k = _k2!.Apply(ops, xHat2);
            using var v = _v2!.Apply(ops, xHat2);
            var r = attention.Run(ops, new AttentionCall
            {
                Layer = _attn2Name,
                Kind = AttentionKind.Self,
                Q = HeadProjection.AsHeads(q, _heads), K = HeadProjection.AsHeads(k, _heads), V = HeadProjection.AsHeads(v, _heads),
            });
            r.JointOutput?.Dispose();
            using (r.Output)
            using (var a2 = _toOut2!.Value.Apply(ops, HeadProjection.MergeHeads(r.Output)))
            using (var prev = newX)
                newX = ops.GatedResidual(prev, mx.GateMsa2, a2);
        }

        using (var x1 = newX)
        {
            using var f = AdaLayerNormZero.Modulated(ops, x1, mx.ShiftMlp, mx.ScaleMlp);
            using var ff = _ff.Apply(ops, f);
            state.ReplaceImage(ops.GatedResidual(x1, mx.GateMlp, ff));
        }

        using (attnTxt)
        {
            if (ContextPreOnly)
            {
                // The text stream ends here; its attention rows are not used.
                state.ReplaceText(null);
                return;
            }
            if (attnTxt is null) throw new InvalidOperationException($"{_name}: the attention returned no rows for the text tokens");
            using var ac = _toAddOut!.Value.Apply(ops, HeadProjection.MergeHeads(attnTxt));
            using var c1 = ops.GatedResidual(c, mc!.GateMsa, ac);
            using var f = AdaLayerNormZero.Modulated(ops, c1, mc.ShiftMlp, mc.ScaleMlp);
            using var ff = _ffContext!.Apply(ops, f);
            state.ReplaceText(ops.GatedResidual(c1, mc.GateMlp, ff));
        }
    }
}

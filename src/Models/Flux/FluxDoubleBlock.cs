using XDit.Kernels;
using XDit.Models.Layers;
using XDit.Runtime;

namespace XDit.Models.Flux;

/// <summary>
/// diffusers FluxTransformerBlock (double stream): AdaLN-zero on image and text, q/k RMSNorm per head, RoPE, one
/// joint attention over [text; image] (text first), separate output projections, gated residuals and GELU-tanh
/// MLPs per stream.
/// </summary>
sealed class FluxDoubleBlock
{
    readonly string _name;
    readonly int _heads;
    readonly AdaLayerNormZero _norm1, _norm1Context;
    readonly HeadProjection _q, _k, _v, _addQ, _addK, _addV;
    readonly Linear _toOut, _toAddOut;
    readonly FeedForward _ff, _ffContext;

    /// <summary>Loads the block from its scope (transformer_blocks.{i}).</summary>
    public FluxDoubleBlock(WeightScope w, FluxConfig c)
    {
        _name = w.Prefix;
        int d = c.InnerDim, h = c.NumAttentionHeads, hd = c.AttentionHeadDim;
        _heads = h;
        _norm1 = AdaLayerNormZero.Load(w.Pp("norm1"), d, 6);
        _norm1Context = AdaLayerNormZero.Load(w.Pp("norm1_context"), d, 6);
        var attn = w.Pp("attn");
        _q = HeadProjection.Load(attn, "to_q", "norm_q", d, h, hd);
        _k = HeadProjection.Load(attn, "to_k", "norm_k", d, h, hd);
        _v = HeadProjection.Load(attn, "to_v", null, d, h, hd);
        _addQ = HeadProjection.Load(attn, "add_q_proj", "norm_added_q", d, h, hd);
        _addK = HeadProjection.Load(attn, "add_k_proj", "norm_added_k", d, h, hd);
        _addV = HeadProjection.Load(attn, "add_v_proj", null, d, h, hd);
        _toOut = attn.Linear("to_out.0", d, d);
        _toAddOut = attn.Linear("to_add_out", d, d);
        _ff = FeedForward.Load(w.Pp("ff"), d, c.MlpDim);
        _ffContext = FeedForward.Load(w.Pp("ff_context"), d, c.MlpDim);
    }

    /// <summary>norm1(x, temb)[0]: LN(x)·(1 + scale_msa) + shift_msa of the image tokens.</summary>
    public Tensor ModulatedImage(IOps ops, DitState state) => _norm1.FirstModulated(ops, state.Image, state.Conditioning);

    public void Run(IOps ops, DitState state, IAttention attention)
    {
        var x = state.Image;
        var c = state.Text ?? throw new InvalidOperationException($"{_name}: the state has no text tokens");
        var temb = state.Conditioning;

        using var mx = _norm1.ComputeZero(ops, temb);
        using var mc = _norm1Context.ComputeZero(ops, temb);
        using var xHat = AdaLayerNormZero.Modulated(ops, x, mx.ShiftMsa, mx.ScaleMsa);
        using var cHat = AdaLayerNormZero.Modulated(ops, c, mc.ShiftMsa, mc.ScaleMsa);

        var r = FluxAttention.Run(ops, attention, state, _name, _heads, xHat, _q, _k, _v, cHat, _addQ, _addK, _addV);
        using var attnImg = r.Output;
        using var attnTxt = r.JointOutput!;

        state.ReplaceImage(Stream(ops, x, attnImg, _toOut, _ff, mx));
        state.ReplaceText(Stream(ops, c, attnTxt, _toAddOut, _ffContext, mc));
    }

    /// <summary>h + gate_msa·out(attn), then + gate_mlp·FF(LN(·)·(1+scale_mlp)+shift_mlp).</summary>
    static Tensor Stream(IOps ops, Tensor h, Tensor attn, Linear outProj, FeedForward ff, AdaLnZeroParts m)
    {
        using var a = outProj.Apply(ops, HeadProjection.MergeHeads(attn));
        using var h1 = ops.GatedResidual(h, m.GateMsa, a);
        using var f = AdaLayerNormZero.Modulated(ops, h1, m.ShiftMlp, m.ScaleMlp);
        using var y = ff.Apply(ops, f);
        return ops.GatedResidual(h1, m.GateMlp, y);
    }
}

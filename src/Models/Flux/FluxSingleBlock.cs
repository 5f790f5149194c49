using XDit.Kernels;
using XDit.Models.Layers;
using XDit.Runtime;

namespace XDit.Models.Flux;

/// <summary>
/// diffusers FluxSingleTransformerBlock over the sequence [text; image]: one AdaLN-zero-single norm feeds both an
/// MLP (proj_mlp, GELU-tanh) and an attention without output projection; proj_out mixes their concatenation and a
/// gated residual closes the block. Everything but attention is per token, so the text and image rows are
/// processed apart and meet only in the joint attention call.
/// </summary>
sealed class FluxSingleBlock
{
    readonly string _name;
    readonly int _heads;
    readonly AdaLayerNormZero _norm;
    readonly Linear _projMlp, _projOut;
    readonly HeadProjection _q, _k, _v;

    /// <summary>Loads the block from its scope (single_transformer_blocks.{i}).</summary>
    public FluxSingleBlock(WeightScope w, FluxConfig c)
    {
        _name = w.Prefix;
        int d = c.InnerDim, h = c.NumAttentionHeads, hd = c.AttentionHeadDim;
        _heads = h;
        _norm = AdaLayerNormZero.Load(w.Pp("norm"), d, 3);
        _projMlp = w.Linear("proj_mlp", d, c.MlpDim);
        _projOut = w.Linear("proj_out", d + c.MlpDim, d);
        var attn = w.Pp("attn");
        _q = HeadProjection.Load(attn, "to_q", "norm_q", d, h, hd);
        _k = HeadProjection.Load(attn, "to_k", "norm_k", d, h, hd);
        _v = HeadProjection.Load(attn, "to_v", null, d, h, hd);
    }

    public void Run(IOps ops, DitState state, IAttention attention)
    {
        var x = state.Image;
        var c = state.Text ?? throw new InvalidOperationException($"{_name}: the state has no text tokens");
        using var m = _norm.ComputeSingle(ops, state.Conditioning);

        using var xHat = AdaLayerNormZero.Modulated(ops, x, m.Shift, m.Scale);
        using var cHat = AdaLayerNormZero.Modulated(ops, c, m.Shift, m.Scale);
        using var xMlp = _projMlp.Apply(ops, xHat, Activation.GeluTanh);
        using var cMlp = _projMlp.Apply(ops, cHat, Activation.GeluTanh);

        var r = FluxAttention.Run(ops, attention, state, _name, _heads, xHat, _q, _k, _v, cHat, _q, _k, _v);
        using var attnImg = r.Output;
        using var attnTxt = r.JointOutput!;

        state.ReplaceImage(Rows(ops, x, attnImg, xMlp, m.Gate));
        state.ReplaceText(Rows(ops, c, attnTxt, cMlp, m.Gate));
    }

    /// <summary>h + gate·proj_out([attn, mlp]).</summary>
    Tensor Rows(IOps ops, Tensor h, Tensor attn, Tensor mlp, Tensor gate)
    {
        using var cat = ops.Concat(2, HeadProjection.MergeHeads(attn), mlp);
        using var y = _projOut.Apply(ops, cat);
        return ops.GatedResidual(h, gate, y);
    }
}

using XDit.Kernels;
using XDit.Models.Layers;
using XDit.Runtime;

namespace XDit.Models.QwenImage;

/// <summary>
/// diffusers QwenImageTransformerBlock: per stream a modulation SiLU(temb) → Linear(D, 6·D) (img_mod, txt_mod: shift,
/// scale, gate of the attention, then of the MLP), LayerNorm without affine (eps 1e-6) and modulation, one joint
/// attention over [text; image] (text first) with separate q/k/v projections per stream, per-head RMSNorm of q and k
/// (norm_q/k for the image, norm_added_q/k for the text) and complex RoPE, separate output projections, gated
/// residuals and GELU-tanh MLPs (img_mlp, txt_mlp). The arithmetic is Flux's double block; the names and the text
/// key mask are Qwen-Image's.
/// </summary>
sealed class QwenImageBlock
{
    readonly string _name;
    readonly int _heads, _dim;
    readonly Linear _mod, _modImage;               // img_mod.1 and txt_mod.1 stacked; img_mod.1's rows alone
    readonly Linear _qkv, _addQkv;                 // to_q/k/v and add_q/k/v_proj stacked per stream
    readonly Tensor _qkNorm, _addQkNorm;          // norm_q and norm_k, norm_added_q and norm_added_k: [2, d] each
    readonly Linear _toOut, _toAddOut;
    readonly FeedForward _imgMlp, _txtMlp;

    /// <summary>Loads the block from its scope (transformer_blocks.{i}).</summary>
    public QwenImageBlock(WeightScope w, QwenImageConfig c)
    {
        _name = w.Prefix;
        int d = c.InnerDim, h = c.NumAttentionHeads, hd = c.AttentionHeadDim;
        _heads = h;
        _dim = d;
        var (mod, modParts) = w.Stack(w.Pp("img_mod").Linear("1", d, 6 * d), w.Pp("txt_mod").Linear("1", d, 6 * d));
        (_mod, _modImage) = (mod, modParts[0]);
        var attn = w.Pp("attn");
        _qkv = attn.Stack(attn.Linear("to_q", d, d), attn.Linear("to_k", d, d), attn.Linear("to_v", d, d)).Stacked;
        _addQkv = attn.Stack(attn.Linear("add_q_proj", d, d), attn.Linear("add_k_proj", d, d), attn.Linear("add_v_proj", d, d)).Stacked;
        _qkNorm = attn.StackVectors(attn.Pp("norm_q").Get("weight", hd), attn.Pp("norm_k").Get("weight", hd));
        _addQkNorm = attn.StackVectors(attn.Pp("norm_added_q").Get("weight", hd), attn.Pp("norm_added_k").Get("weight", hd));
        _toOut = attn.Linear("to_out.0", d, d);
        _toAddOut = attn.Linear("to_add_out", d, d);
        _imgMlp = FeedForward.Load(w.Pp("img_mlp"), d, c.MlpDim);
        _txtMlp = FeedForward.Load(w.Pp("txt_mlp"), d, c.MlpDim);
    }

    /// <summary>img_norm1 and the first modulation of the image tokens, LN(x)·(1 + scale) + shift (state.Conditioning
    /// is SiLU(temb)): TeaCache's indicator.</summary>
    public Tensor ModulatedImage(IOps ops, DitState state)
    {
        using var m = Modulation.Split(_modImage.Apply(ops, state.Conditioning), 6);
        return AdaLayerNormZero.Modulated(ops, state.Image, m[0], m[1]);
    }

    public void Run(IOps ops, DitState state, IAttention attention)
    {
        var x = state.Image;
        var c = state.Text ?? throw new InvalidOperationException($"{_name}: the state has no text tokens");
        if (state.ImageRopeCos is null || state.ImageRopeSin is null || state.TextRopeCos is null || state.TextRopeSin is null)
            throw new InvalidOperationException($"{_name}: the state has no RoPE tables");

        // both streams' modulation in one GEMM of SiLU(temb), chunks read in place
        using var mod = _mod.Apply(ops, state.Conditioning);
        using var mx = new AdaLnZeroParts(Modulation.View(mod, 0, 6, _dim));
        using var mc = new AdaLnZeroParts(Modulation.View(mod, 6, 6, _dim));
        using var xHat = AdaLayerNormZero.Modulated(ops, x, mx.ShiftMsa, mx.ScaleMsa);
        using var cHat = AdaLayerNormZero.Modulated(ops, c, mc.ShiftMsa, mc.ScaleMsa);

        // the four gated GEMMs take their gates from the one modulation output: one pass prepares their epilogues
        using var gated = ops.PrepareGatedEpilogues([(mx.GateMsa, _toOut.Bias), (mx.GateMlp, _imgMlp.OutBias), (mc.GateMsa, _toAddOut.Bias), (mc.GateMlp, _txtMlp.OutBias)]);

        var r = JointAttention(ops, attention, state, xHat, cHat);
        using var attnTxt = r.JointOutput!;   // disposed last: it may own the storage Output views
        using var attnImg = r.Output;

        state.ReplaceImage(Stream(ops, x, attnImg, _toOut, _imgMlp, mx));
        state.ReplaceText(Stream(ops, c, attnTxt, _toAddOut, _txtMlp, mc));
    }

    /// <summary>Joint attention, text first, each stream rotated by its own tables (<see cref="PackedQkv.JointAttention"/>);
    /// padded text keys are hidden by the state's key bias (<see cref="QwenImageTransformer"/>).</summary>
    AttentionResult JointAttention(IOps ops, IAttention attention, DitState state, Tensor xHat, Tensor cHat)
        => PackedQkv.JointAttention(ops, attention, _name, _heads, new(xHat, _qkv, _qkNorm, state.ImageRopeCos, state.ImageRopeSin),
            new(cHat, _addQkv, _addQkNorm, state.TextRopeCos, state.TextRopeSin), textFirst: true, QwenImageTransformer.KeyBiasOptions(state, cHat.Dim(1)));

    /// <summary>h1 = h + gate_msa·out(attn) out of place in the output GEMM's epilogue (h, the block's input, stays
    /// intact), then h1 + gate_mlp·MLP(LN(h1)·(1+scale_mlp)+shift_mlp), the last GEMM adding into h1 in place.</summary>
    static Tensor Stream(IOps ops, Tensor h, Tensor attn, Linear outProj, FeedForward mlp, AdaLnZeroParts m)
    {
        var h1 = ops.Empty(h.DType, h.Dims);
        try
        {
            ops.LinearGatedResidualInto(h, HeadProjection.MergeHeads(attn), outProj.Weight, outProj.Bias, m.GateMsa, h1);
            using var f = ops.LayerNormModulate(h1, m.ShiftMlp, m.ScaleMlp, AdaLayerNormZero.Eps);
            mlp.ApplyGatedResidualInto(ops, h1, f, m.GateMlp);
            return h1;
        }
        catch { h1.Dispose(); throw; }
    }
}

using XDit.Kernels;
using XDit.Models.Flux;
using XDit.Models.Layers;
using XDit.Runtime;

namespace XDit.Models.Flux2;

/// <summary>
/// diffusers Flux2TransformerBlock (double stream): image and text each get LN(·)·(1 + scale) + shift from the
/// model's shared modulations (not a norm of their own), bias-free q/k/v per stream with per-head q/k RMSNorm and
/// RoPE, one joint attention over [text; image] (Flux's <see cref="FluxAttention.RunPacked"/>: the same order, norms
/// and interleaved rotation), to_out.0 / to_add_out, gated residuals and a SwiGLU feed-forward per stream.
/// </summary>
sealed class Flux2DoubleBlock
{
    readonly string _name;
    readonly int _heads, _dim;
    readonly Linear _qkv, _addQkv;                 // to_q/k/v and add_q/k/v_proj stacked per stream
    readonly Tensor _qkNorm, _addQkNorm;          // norm_q and norm_k, norm_added_q and norm_added_k: [2, d] each
    readonly Linear _toOut, _toAddOut;
    readonly Flux2FeedForward _ff, _ffContext;

    /// <summary>Loads the block from its scope (transformer_blocks.{i}).</summary>
    public Flux2DoubleBlock(WeightScope w, Flux2Config c)
    {
        _name = w.Prefix;
        int d = c.InnerDim, h = c.NumAttentionHeads, hd = c.AttentionHeadDim;
        _heads = h;
        _dim = d;
        var attn = w.Pp("attn");
        _qkv = attn.Stack(attn.Linear("to_q", d, d, bias: false), attn.Linear("to_k", d, d, bias: false), attn.Linear("to_v", d, d, bias: false)).Stacked;
        _addQkv = attn.Stack(attn.Linear("add_q_proj", d, d, bias: false), attn.Linear("add_k_proj", d, d, bias: false), attn.Linear("add_v_proj", d, d, bias: false)).Stacked;
        _qkNorm = attn.StackVectors(attn.Pp("norm_q").Get("weight", hd), attn.Pp("norm_k").Get("weight", hd));
        _addQkNorm = attn.StackVectors(attn.Pp("norm_added_q").Get("weight", hd), attn.Pp("norm_added_k").Get("weight", hd));
        _toOut = attn.Linear("to_out.0", d, d, bias: false);
        _toAddOut = attn.Linear("to_add_out", d, d, bias: false);
        _ff = Flux2FeedForward.Load(w.Pp("ff"), d, c.MlpDim);
        _ffContext = Flux2FeedForward.Load(w.Pp("ff_context"), d, c.MlpDim);
    }

    /// <summary>LN(x)·(1 + scale_msa) + shift_msa of the image tokens: TeaCache's indicator. The modulation is the
    /// model's shared one, so this is the same input every double block would see for the same tokens.</summary>
    public Tensor ModulatedImage(IOps ops, DitState state)
    {
        using var m = Flux2Conditioning.DoubleImageParts(state.Conditioning, _dim);
        return AdaLayerNormZero.Modulated(ops, state.Image, m.ShiftMsa, m.ScaleMsa);
    }

    public void Run(IOps ops, DitState state, IAttention attention)
    {
        var x = state.Image;
        var c = state.Text ?? throw new InvalidOperationException($"{_name}: the state has no text tokens");

        using var mx = Flux2Conditioning.DoubleImageParts(state.Conditioning, _dim);
        using var mc = Flux2Conditioning.DoubleTextParts(state.Conditioning, _dim);
        using var xHat = AdaLayerNormZero.Modulated(ops, x, mx.ShiftMsa, mx.ScaleMsa);
        using var cHat = AdaLayerNormZero.Modulated(ops, c, mc.ShiftMsa, mc.ScaleMsa);
        // the four gated GEMMs read their gates from the one conditioning row: epilogue constants in one pass
        using var gated = ops.PrepareGatedEpilogues([(mx.GateMsa, null), (mx.GateMlp, null), (mc.GateMsa, null), (mc.GateMlp, null)]);

        var r = FluxAttention.RunPacked(ops, attention, state, _name, _heads, xHat, _qkv, _qkNorm, cHat, _addQkv, _addQkNorm);
        using var attnTxt = r.JointOutput!;   // disposed last: it may own the storage Output views
        using var attnImg = r.Output;

        state.ReplaceImage(Stream(ops, x, attnImg, _toOut, _ff, mx));
        state.ReplaceText(Stream(ops, c, attnTxt, _toAddOut, _ffContext, mc));
    }

    /// <summary>h1 = h + gate_msa·out(attn) out of place (h, the block's input, stays intact), then
    /// h1 += gate_mlp·FF(LN(h1)·(1 + scale_mlp) + shift_mlp) in linear_out's epilogue.</summary>
    static Tensor Stream(IOps ops, Tensor h, Tensor attn, Linear outProj, Flux2FeedForward ff, AdaLnZeroParts m)
    {
        var h1 = ops.Empty(h.DType, h.Dims);
        try
        {
            ops.LinearGatedResidualInto(h, HeadProjection.MergeHeads(attn), outProj.Weight, null, m.GateMsa, h1);
            using var f = ops.LayerNormModulate(h1, m.ShiftMlp, m.ScaleMlp, AdaLayerNormZero.Eps);
            ff.ApplyGatedResidualInto(ops, h1, f, m.GateMlp);
            return h1;
        }
        catch { h1.Dispose(); throw; }
    }
}

using XDit.Kernels;
using XDit.Models.Flux;
using XDit.Models.Layers;
using XDit.Runtime;

namespace XDit.Models.Flux2;

/// <summary>
/// diffusers Flux2SingleTransformerBlock (a parallel block over [text; image]): LN(·)·(1 + scale) + shift from the
/// model's shared single-stream modulation, then one fused bias-free projection to_qkv_mlp_proj [3·D + 2·F, D] whose
/// rows are q, k, v, the SwiGLU gate and its value; attention (per-head q/k RMSNorm, RoPE) and SwiGLU side by side;
/// to_out [D, D + F] over [attention, MLP] and a gated residual. Here the fused weight is read as two row views (q/k/v
/// in one GEMM, gate and value in the other) and to_out as its two column blocks, each accumulating into the residual
/// in its epilogue, so neither the fused product nor the concatenation is written. Everything but attention is per
/// token: text and image rows are processed apart and meet only in the joint attention call.
/// </summary>
sealed class Flux2SingleBlock
{
    readonly string _name;
    readonly int _heads, _dim;
    readonly Linear _qkv, _mlpIn;                       // row views of to_qkv_mlp_proj: q/k/v, then gate and value
    readonly Linear _outAttn, _outMlp;                  // to_out's columns over the attention and over the MLP
    readonly Tensor _qkNorm;             // norm_q and norm_k: [2, d]

    /// <summary>Loads the block from its scope (single_transformer_blocks.{i}).</summary>
    public Flux2SingleBlock(WeightScope w, Flux2Config c)
    {
        _name = w.Prefix;
        int d = c.InnerDim, mlp = c.MlpDim, hd = c.AttentionHeadDim;
        _heads = c.NumAttentionHeads;
        _dim = d;
        var attn = w.Pp("attn");
        var fused = attn.Linear("to_qkv_mlp_proj", d, 3 * d + 2 * mlp, bias: false);
        _qkv = Flux2FeedForward.Rows(fused, 0, 3 * d);
        _mlpIn = Flux2FeedForward.Rows(fused, 3 * d, 2 * mlp);
        var toOut = attn.SplitColumns(attn.Linear("to_out", d + mlp, d, bias: false), d, mlp);
        (_outAttn, _outMlp) = (toOut[0], toOut[1]);
        _qkNorm = attn.StackVectors(attn.Pp("norm_q").Get("weight", hd), attn.Pp("norm_k").Get("weight", hd));
    }

    /// <summary>The modulated image tokens: TeaCache's indicator when a model has no double blocks.</summary>
    public Tensor ModulatedImage(IOps ops, DitState state)
    {
        using var m = Flux2Conditioning.SingleParts(state.Conditioning, _dim);
        return AdaLayerNormZero.Modulated(ops, state.Image, m.Shift, m.Scale);
    }

    public void Run(IOps ops, DitState state, IAttention attention)
    {
        var x = state.Image;
        var c = state.Text ?? throw new InvalidOperationException($"{_name}: the state has no text tokens");
        using var m = Flux2Conditioning.SingleParts(state.Conditioning, _dim);

        using var xHat = AdaLayerNormZero.Modulated(ops, x, m.Shift, m.Scale);
        using var cHat = AdaLayerNormZero.Modulated(ops, c, m.Shift, m.Scale);
        using var xMlp = Flux2FeedForward.Swiglu(ops, xHat, _mlpIn);
        using var cMlp = Flux2FeedForward.Swiglu(ops, cHat, _mlpIn);
        using var gated = ops.PrepareGatedEpilogues([(m.Gate, null)]);

        var r = FluxAttention.RunPacked(ops, attention, state, _name, _heads, xHat, _qkv, _qkNorm, cHat, _qkv, _qkNorm);
        using var attnTxt = r.JointOutput!;   // disposed last: it may own the storage Output views
        using var attnImg = r.Output;

        // to_out([attn, mlp]) as the sum of its two column blocks' products, each in its GEMM's gated epilogue
        state.ReplaceImage(FluxSingleBlock.Rows(ops, x, attnImg, xMlp, _outAttn, _outMlp, m.Gate));
        state.ReplaceText(FluxSingleBlock.Rows(ops, c, attnTxt, cMlp, _outAttn, _outMlp, m.Gate));
    }
}

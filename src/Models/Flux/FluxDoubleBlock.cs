using XDit.Kernels;
using XDit.Models.Layers;
using XDit.Runtime;

namespace XDit.Models.Flux;

/// <summary>
/// diffusers FluxTransformerBlock (double stream): AdaLN-zero on image and text, q/k RMSNorm per head, RoPE, one
/// joint attention over [text; image] (text first), separate output projections, gated residuals and GELU-tanh
/// MLPs per stream. HunyuanVideo's dual-stream block is this block with its own joint attention (video first, padded
/// text keys hidden): the attention comes in as a <see cref="JointAttentionRunner"/>.
/// </summary>
sealed class FluxDoubleBlock
{
    readonly string _name;
    readonly int _heads, _dim;
    readonly Linear _ada, _adaImage;               // norm1.linear and norm1_context.linear stacked; norm1's rows alone
    readonly Linear _qkv, _addQkv;                 // to_q/k/v and add_q/k/v_proj stacked per stream
    readonly Tensor _qkNorm, _addQkNorm;          // norm_q and norm_k, norm_added_q and norm_added_k: [2, d] each
    readonly Linear _toOut, _toAddOut;
    readonly FeedForward _ff, _ffContext;
    readonly JointAttentionRunner _attention;

    /// <summary>Loads the block from its scope (transformer_blocks.{i}) of a model of this <paramref name="shape"/>,
    /// attending as <paramref name="attention"/> does.</summary>
    public FluxDoubleBlock(WeightScope w, FluxBlockShape shape, JointAttentionRunner attention)
    {
        _name = w.Prefix;
        _attention = attention;
        int d = shape.Dim, h = shape.Heads, hd = shape.HeadDim;
        _heads = h;
        _dim = d;
        var (ada, adaParts) = w.Stack(w.Linear("norm1.linear", d, 6 * d), w.Linear("norm1_context.linear", d, 6 * d));
        (_ada, _adaImage) = (ada, adaParts[0]);
        var attn = w.Pp("attn");
        _qkv = attn.Stack(attn.Linear("to_q", d, h * hd), attn.Linear("to_k", d, h * hd), attn.Linear("to_v", d, h * hd)).Stacked;
        _addQkv = attn.Stack(attn.Linear("add_q_proj", d, h * hd), attn.Linear("add_k_proj", d, h * hd), attn.Linear("add_v_proj", d, h * hd)).Stacked;
        _qkNorm = attn.StackVectors(attn.Pp("norm_q").Get("weight", hd), attn.Pp("norm_k").Get("weight", hd));
        _addQkNorm = attn.StackVectors(attn.Pp("norm_added_q").Get("weight", hd), attn.Pp("norm_added_k").Get("weight", hd));
        _toOut = attn.Linear("to_out.0", d, d);
        _toAddOut = attn.Linear("to_add_out", d, d);
        _ff = FeedForward.Load(w.Pp("ff"), d, shape.MlpDim);
        _ffContext = FeedForward.Load(w.Pp("ff_context"), d, shape.MlpDim);
    }

    /// <summary>norm1(x, temb)[0]: LN(x)·(1 + scale_msa) + shift_msa of the image tokens (state.Conditioning is
    /// SiLU(temb)): TeaCache's indicator.</summary>
    public Tensor ModulatedImage(IOps ops, DitState state)
    {
        using var m = Modulation.Split(_adaImage.Apply(ops, state.Conditioning), 6);
        return AdaLayerNormZero.Modulated(ops, state.Image, m[0], m[1]);
    }

    public void Run(IOps ops, DitState state, IAttention attention)
    {
        var x = state.Image;
        var c = state.Text ?? throw new InvalidOperationException($"{_name}: the state has no text tokens");

        // both streams' modulation in one GEMM of SiLU(temb), chunks read in place
        using var ada = _ada.Apply(ops, state.Conditioning);
        using var mx = new AdaLnZeroParts(Modulation.View(ada, 0, 6, _dim));
        using var mc = new AdaLnZeroParts(Modulation.View(ada, 6, 6, _dim));
        using var xHat = AdaLayerNormZero.Modulated(ops, x, mx.ShiftMsa, mx.ScaleMsa);
        using var cHat = AdaLayerNormZero.Modulated(ops, c, mc.ShiftMsa, mc.ScaleMsa);

        // the four gated GEMMs (attention output and feed-forward, per stream) take their gates from the one adaLN
        // output: the backend turns them into epilogue constants in one pass
        using var gated = ops.PrepareGatedEpilogues([(mx.GateMsa, _toOut.Bias), (mx.GateMlp, _ff.OutBias), (mc.GateMsa, _toAddOut.Bias), (mc.GateMlp, _ffContext.OutBias)]);

        var r = _attention(ops, attention, state, _name, _heads, xHat, _qkv, _qkNorm, cHat, _addQkv, _addQkNorm);
        using var attnTxt = r.JointOutput!;   // disposed last: it may own the storage Output views
        using var attnImg = r.Output;

        state.ReplaceImage(Stream(ops, x, attnImg, _toOut, _ff, mx));
        state.ReplaceText(Stream(ops, c, attnTxt, _toAddOut, _ffContext, mc));
    }

    /// <summary>h1 = h + gate_msa·out(attn) out of place in the output GEMM's epilogue (h, the block's input, stays
    /// intact), then h1 + gate_mlp·FF(LN(h1)·(1+scale_mlp)+shift_mlp), the last GEMM adding into h1 in place.</summary>
    static Tensor Stream(IOps ops, Tensor h, Tensor attn, Linear outProj, FeedForward ff, AdaLnZeroParts m)
    {
        var h1 = ops.Empty(h.DType, h.Dims);
        try
        {
            ops.LinearGatedResidualInto(h, HeadProjection.MergeHeads(attn), outProj.Weight, outProj.Bias, m.GateMsa, h1);
            using var f = ops.LayerNormModulate(h1, m.ShiftMlp, m.ScaleMlp, AdaLayerNormZero.Eps);
            ff.ApplyGatedResidualInto(ops, h1, f, m.GateMlp);
            return h1;
        }
        catch { h1.Dispose(); throw; }
    }
}

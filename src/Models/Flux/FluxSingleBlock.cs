using XDit.Kernels;
using XDit.Models.Layers;
using XDit.Runtime;

namespace XDit.Models.Flux;

/// <summary>
/// diffusers FluxSingleTransformerBlock over the sequence [text; image]: one AdaLN-zero-single norm feeds both an
/// MLP (proj_mlp, GELU-tanh) and an attention without output projection; proj_out mixes their concatenation and a
/// gated residual closes the block (here: proj_out's two column blocks, one GEMM each, both accumulating into the
/// residual in their epilogues). Everything but attention is per token, so the text and image rows are processed
/// apart and meet only in the joint attention call. HunyuanVideo's single-stream block is this block with its own
/// joint attention (<see cref="JointAttentionRunner"/>).
/// </summary>
sealed class FluxSingleBlock
{
    readonly string _name;
    readonly int _heads;
    readonly AdaLayerNormZero _norm;
    readonly Linear _projMlp, _projOutAttn, _projOutMlp;   // proj_out's columns over the attention and over the MLP
    readonly Linear _qkv;                // to_q/k/v stacked: one GEMM per stream
    readonly Tensor _qkNorm;             // norm_q and norm_k: [2, d]
    readonly JointAttentionRunner _attention;

    /// <summary>Loads the block from its scope (single_transformer_blocks.{i}) of a model of this
    /// <paramref name="shape"/>, attending as <paramref name="attention"/> does.</summary>
    public FluxSingleBlock(WeightScope w, FluxBlockShape shape, JointAttentionRunner attention)
    {
        _name = w.Prefix;
        _attention = attention;
        int d = shape.Dim, h = shape.Heads, hd = shape.HeadDim, mlp = shape.MlpDim;
        _heads = h;
        _norm = AdaLayerNormZero.Load(w.Pp("norm"), d, 3);
        _projMlp = w.Linear("proj_mlp", d, mlp);
        var projOut = w.SplitColumns(w.Linear("proj_out", d + mlp, d), d, mlp);
        (_projOutAttn, _projOutMlp) = (projOut[0], projOut[1]);
        var attn = w.Pp("attn");
        _qkv = attn.Stack(attn.Linear("to_q", d, h * hd), attn.Linear("to_k", d, h * hd), attn.Linear("to_v", d, h * hd)).Stacked;
        _qkNorm = attn.StackVectors(attn.Pp("norm_q").Get("weight", hd), attn.Pp("norm_k").Get("weight", hd));
    }

    /// <summary>norm(x, temb)[0] of the image tokens: TeaCache's indicator when a model has no double blocks.</summary>
    public Tensor ModulatedImage(IOps ops, DitState state) => _norm.FirstModulatedActivated(ops, state.Image, state.Conditioning);

    public void Run(IOps ops, DitState state, IAttention attention)
    {
        var x = state.Image;
        var c = state.Text ?? throw new InvalidOperationException($"{_name}: the state has no text tokens");
        using var m = new AdaLnSingleParts(_norm.ComputeActivated(ops, state.Conditioning));   // Conditioning is SiLU(temb)

        using var xHat = AdaLayerNormZero.Modulated(ops, x, m.Shift, m.Scale);
        using var cHat = AdaLayerNormZero.Modulated(ops, c, m.Shift, m.Scale);
        using var xMlp = _projMlp.Apply(ops, xHat, Activation.GeluTanh);
        using var cMlp = _projMlp.Apply(ops, cHat, Activation.GeluTanh);
        // proj_out's two gated GEMMs per stream share the one gate (the bias goes with the attention columns): the
        // backend turns it into epilogue constants once for all four
        using var gated = ops.PrepareGatedEpilogues([(m.Gate, _projOutAttn.Bias), (m.Gate, _projOutMlp.Bias)]);

        var r = _attention(ops, attention, state, _name, _heads, xHat, _qkv, _qkNorm, cHat, _qkv, _qkNorm);
        using var attnTxt = r.JointOutput!;   // disposed last: it may own the storage Output views
        using var attnImg = r.Output;

        state.ReplaceImage(Rows(ops, x, attnImg, xMlp, _projOutAttn, _projOutMlp, m.Gate));
        state.ReplaceText(Rows(ops, c, attnTxt, cMlp, _projOutAttn, _projOutMlp, m.Gate));
    }

    /// <summary>h + gate·proj_out([attn, mlp]) as proj_out's attention columns' product plus its MLP columns' (no
    /// concatenation), each added in its GEMM's epilogue: h1 = h + gate·(attn·Waᵀ + b) out of place (h, the block's
    /// input, stays intact), then h1 += gate·(mlp·Wmᵀ) in place. The projections are never written out on their own.
    /// Flux 2's single block ends the same way (its to_out without a bias).</summary>
    internal static Tensor Rows(IOps ops, Tensor h, Tensor attn, Tensor mlp, Linear outAttn, Linear outMlp, Tensor gate)
    {
        var h1 = ops.Empty(h.DType, h.Dims);
        try
        {
            ops.LinearGatedResidualInto(h, HeadProjection.MergeHeads(attn), outAttn.Weight, outAttn.Bias, gate, h1);
            ops.LinearGatedResidualInto(h1, mlp, outMlp.Weight, outMlp.Bias, gate);
            return h1;
        }
        catch { h1.Dispose(); throw; }
    }
}

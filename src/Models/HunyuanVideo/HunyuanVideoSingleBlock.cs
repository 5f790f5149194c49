using XDit.Kernels;
using XDit.Models.Layers;
using XDit.Runtime;

namespace XDit.Models.HunyuanVideo;

/// <summary>
/// diffusers HunyuanVideoSingleTransformerBlock over [video; text]: one AdaLN-zero-single norm feeds both an MLP
/// (proj_mlp, GELU-tanh) and an attention without output projection (q/k RMSNorm, RoPE on the video rows, padded
/// text keys hidden); proj_out mixes their concatenation and a gated residual closes the block. Everything but the
/// attention is per token, so the two streams are processed apart (proj_out as its two column blocks, each GEMM
/// adding into the residual in its epilogue) and meet only in the joint attention.
/// </summary>
sealed class HunyuanVideoSingleBlock
{
    readonly string _name;
    readonly int _heads;
    readonly AdaLayerNormZero _norm;
    readonly Linear _projMlp, _projOutAttn, _projOutMlp;   // proj_out's columns over the attention and over the MLP
    readonly Linear _qkv;
    readonly Tensor _normQ, _normK;

    /// <summary>Loads the block from its scope (single_transformer_blocks.{i}).</summary>
    public HunyuanVideoSingleBlock(WeightScope w, HunyuanVideoConfig c)
    {
        _name = w.Prefix;
        int d = c.InnerDim, h = c.NumAttentionHeads, hd = c.AttentionHeadDim;
        _heads = h;
        _norm = AdaLayerNormZero.Load(w.Pp("norm"), d, 3);
        _projMlp = w.Linear("proj_mlp", d, c.MlpDim);
        var projOut = w.SplitColumns(w.Linear("proj_out", d + c.MlpDim, d), d, c.MlpDim);
        (_projOutAttn, _projOutMlp) = (projOut[0], projOut[1]);
        var attn = w.Pp("attn");
        _qkv = attn.Stack(attn.Linear("to_q", d, h * hd), attn.Linear("to_k", d, h * hd), attn.Linear("to_v", d, h * hd)).Stacked;
        _normQ = attn.Pp("norm_q").Get("weight", hd);
        _normK = attn.Pp("norm_k").Get("weight", hd);
    }

    /// <summary>norm(x, temb)[0] of the video tokens: TeaCache's indicator when the model has no dual blocks.</summary>
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
        using var gated = ops.PrepareGatedEpilogues([(m.Gate, _projOutAttn.Bias), (m.Gate, _projOutMlp.Bias)]);

        var r = HunyuanVideoAttention.RunPacked(ops, attention, state, _name, _heads, xHat, _qkv, _normQ, _normK, cHat, _qkv, _normQ, _normK);
        using var attnTxt = r.JointOutput!;   // disposed last: it may own the storage Output views
        using var attnImg = r.Output;

        state.ReplaceImage(Rows(ops, x, attnImg, xMlp, m.Gate));
        state.ReplaceText(Rows(ops, c, attnTxt, cMlp, m.Gate));
    }

    /// <summary>h + gate·proj_out([attn, mlp]) as the attention columns' product plus the MLP columns', each added in
    /// its GEMM's epilogue (the first out of place, h stays intact; the second in place).</summary>
    Tensor Rows(IOps ops, Tensor h, Tensor attn, Tensor mlp, Tensor gate)
    {
        var h1 = ops.Empty(h.DType, h.Dims);
        try
        {
            ops.LinearGatedResidualInto(h, HeadProjection.MergeHeads(attn), _projOutAttn.Weight, _projOutAttn.Bias, gate, h1);
            ops.LinearGatedResidualInto(h1, mlp, _projOutMlp.Weight, _projOutMlp.Bias, gate);
            return h1;
        }
        catch { h1.Dispose(); throw; }
    }
}

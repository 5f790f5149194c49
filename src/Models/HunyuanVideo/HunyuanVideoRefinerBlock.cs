using XDit.Kernels;
using XDit.Models.Layers;
using XDit.Runtime;

namespace XDit.Models.HunyuanVideo;

/// <summary>
/// diffusers HunyuanVideoIndividualTokenRefinerBlock: self-attention over the text tokens (to_q/k/v/out.0 with
/// biases, no q/k norm) on LayerNorm(x) (affine, eps 1e-6), then an MLP (Linear, SiLU, Linear) on LayerNorm(x),
/// both added with gates that norm_out.linear makes of SiLU(temb) (gate_msa, then gate_mlp; no shift or scale).
/// </summary>
sealed class HunyuanVideoRefinerBlock
{
    public const float Eps = 1e-6f;

    readonly string _name;
    readonly Tensor _norm1W, _norm1B, _norm2W, _norm2B;
    readonly AttentionProjections _attn;
    readonly Linear _ffIn, _ffOut, _gates;
    readonly int _dim;

    /// <summary>Loads the block from its scope (context_embedder.token_refiner.refiner_blocks.{i}).</summary>
    public HunyuanVideoRefinerBlock(WeightScope w, HunyuanVideoConfig c)
    {
        _name = w.Prefix;
        int d = c.InnerDim;
        _dim = d;
        _norm1W = w.Pp("norm1").Get("weight", d);
        _norm1B = w.Pp("norm1").Get("bias", d);
        _norm2W = w.Pp("norm2").Get("weight", d);
        _norm2B = w.Pp("norm2").Get("bias", d);
        _attn = AttentionProjections.Load(w.Pp("attn"), d, d, c.NumAttentionHeads, bias: true);
        _ffIn = w.Linear("ff.net.0.proj", d, c.RefinerMlpDim);
        _ffOut = w.Linear("ff.net.2", c.RefinerMlpDim, d);
        _gates = w.Linear("norm_out.linear", d, 2 * d);
    }

    /// <summary>The block on text tokens <paramref name="h"/> [B, T, D] → a new tensor; <paramref name="siluTemb"/>
    /// is SiLU of the refiner's conditioning [B, D]; <paramref name="options"/> hides the padded keys (or null).
    /// The attention is the plain op: the text is replicated on every rank, so nothing is split.</summary>
    public Tensor Run(IOps ops, Tensor h, Tensor siluTemb, AttentionOptions? options)
    {
        using var g = Modulation.Split(_gates.Apply(ops, siluTemb), 2);
        var h1 = ops.Empty(h.DType, h.Dims);
        try
        {
            using (var n1 = ops.LayerNorm(h, _norm1W, _norm1B, Eps))
                _attn.AttendResidualInto(ops, LocalAttention.Instance, _name + ".attn", AttentionKind.Self, n1, n1, h, g[0], h1, options);
            using var n2 = ops.LayerNorm(h1, _norm2W, _norm2B, Eps);
            using var mid = _ffIn.Apply(ops, n2, Activation.Silu);
            _ffOut.ApplyGatedResidualInto(ops, h1, mid, g[1]);
            return h1;
        }
        catch { h1.Dispose(); throw; }
    }
}

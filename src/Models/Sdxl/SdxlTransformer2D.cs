using XDit.Kernels;
using XDit.Models.Vae;
using XDit.Runtime;

namespace XDit.Models.Sdxl;

/// <summary>
/// diffusers Transformer2DModel on a feature map with linear projections (use_linear_projection true), one of a
/// UNet block's "attentions": out = x + unflatten(proj_out(blocks(proj_in(flatten(GN(x)))))), where GN is an
/// affine GroupNorm with the UNet's group count and eps 1e-6 and flatten takes the pixels row-major as tokens
/// [B, H·W, C].
/// </summary>
sealed class SdxlTransformer2D
{
    const float NormEps = 1e-6f;

    readonly VaeGroupNorm _norm;
    readonly Linear _projIn, _projOut;
    readonly SdxlTransformerBlock[] _blocks;

    public SdxlTransformer2D(WeightScope w, int channels, int heads, int layers, SdxlUNetConfig c)
    {
        _norm = VaeGroupNorm.Load(w.Pp("norm"), channels, c.NormNumGroups, NormEps);
        _projIn = w.Linear("proj_in", channels, channels);
        var blocks = w.Pp("transformer_blocks");
        _blocks = Enumerable.Range(0, layers).Select(i => new SdxlTransformerBlock(blocks.Pp(i), channels, heads, c.CrossAttentionDim)).ToArray();
        _projOut = w.Linear("proj_out", channels, channels);
    }

    /// <summary>x [B, C, H, W], text [B, T, cross_attention_dim] → [B, C, H, W].</summary>
    public Tensor Forward(IOps ops, Tensor x, Tensor text, IAttention attention)
    {
        int b = x.Dim(0), ch = x.Dim(1), h = x.Dim(2), wd = x.Dim(3);
        Tensor tokens;
        using (var n = ops.GroupNorm(x, _norm.Groups, _norm.Weight, _norm.Bias, _norm.Eps))
        using (var flat = ops.Contiguous(n.Reshape(b, ch, h * wd).Permute(0, 2, 1)))   // [B, HW, C]
            tokens = _projIn.Apply(ops, flat);
        using (tokens)
        {
            // proj_in's output is this layer's own: the blocks update it in place
            foreach (var block in _blocks) block.RunInPlace(ops, tokens, text, attention);
            using var o = _projOut.Apply(ops, tokens);
            // the residual reads proj_out's tokens [B, HW, C] through a channels-first view: no transposed copy first
            return ops.Add(x.Reshape(b, ch, h * wd), o.Permute(0, 2, 1)).TakeReshaped(b, ch, h, wd);
        }
    }
}

using XDit.Kernels;
using XDit.Models.Vae;
using XDit.Runtime;

namespace XDit.Models.Sdxl;

/// <summary>diffusers UNetMidBlock2DCrossAttn (one layer): resnet 0, then a Transformer2DModel and resnet 1, at the
/// widest channels, with the last block's heads and transformer depth.</summary>
sealed class SdxlMidBlock
{
    readonly VaeResnetBlock _resnet0, _resnet1;
    readonly SdxlTransformer2D _attention;

    public SdxlMidBlock(WeightScope w, SdxlUNetConfig c)
    {
        int ch = c.BlockOutChannels[^1];
        _resnet0 = new VaeResnetBlock(w.Pp("resnets.0"), ch, ch, c.NormNumGroups, c.NormEps, c.TimeEmbedDim);
        _attention = new SdxlTransformer2D(w.Pp("attentions.0"), ch, c.NumAttentionHeads[^1], c.TransformerLayersPerBlock[^1], c);
        _resnet1 = new VaeResnetBlock(w.Pp("resnets.1"), ch, ch, c.NormNumGroups, c.NormEps, c.TimeEmbedDim);
    }

    /// <summary>x [B, C, h, w] (left as it is) → a new [B, C, h, w].</summary>
    public Tensor Forward(IOps ops, Tensor x, Tensor tembActivated, Tensor text, IAttention attention)
    {
        using var a = _resnet0.Forward(ops, x, VaeSpatialOps.Local, tembActivated);
        using var b = _attention.Forward(ops, a, text, attention);
        return _resnet1.Forward(ops, b, VaeSpatialOps.Local, tembActivated);
    }
}

using XDit.Kernels;
using XDit.Models.Vae;
using XDit.Runtime;

namespace XDit.Models.Sdxl;

/// <summary>
/// diffusers DownBlock2D (resnets only) or CrossAttnDownBlock2D (each resnet followed by a Transformer2DModel):
/// layers_per_block resnets taking the time embedding, then, in every block but the last, Downsample2D (a 3×3
/// convolution with stride 2 and padding 1). Every resnet(+attention) output and the downsampled map are kept as
/// skip states for the up path.
/// </summary>
sealed class SdxlDownBlock
{
    readonly VaeResnetBlock[] _resnets;
    readonly SdxlTransformer2D[]? _attentions;
    readonly VaeConv? _downsampler;

    public SdxlDownBlock(WeightScope w, SdxlUNetConfig c, int index, int inChannels)
    {
        int outChannels = c.BlockOutChannels[index];
        _resnets = Enumerable.Range(0, c.LayersPerBlock).Select(i => new VaeResnetBlock(w.Pp("resnets").Pp(i),
            i == 0 ? inChannels : outChannels, outChannels, c.NormNumGroups, c.NormEps, c.TimeEmbedDim)).ToArray();
        if (c.IsCrossAttnDown(index))
            _attentions = Enumerable.Range(0, c.LayersPerBlock).Select(i => new SdxlTransformer2D(w.Pp("attentions").Pp(i),
                outChannels, c.NumAttentionHeads[index], c.TransformerLayersPerBlock[index], c)).ToArray();
        if (index < c.NumBlocks - 1) _downsampler = VaeConv.Load(w.Pp("downsamplers.0.conv"), outChannels, outChannels, 3);
    }

    /// <summary>Runs the block on x (left as it is); appends each skip state to <paramref name="skips"/>, which owns
    /// them, and returns the last of them.</summary>
    public Tensor Forward(IOps ops, Tensor x, Tensor tembActivated, Tensor text, IAttention attention, List<Tensor> skips)
    {
        var h = x;
        for (int i = 0; i < _resnets.Length; i++)
        {
            h = _resnets[i].Forward(ops, h, VaeSpatialOps.Local, tembActivated);
            if (_attentions is not null)
            {
                using var r = h;
                h = _attentions[i].Forward(ops, r, text, attention);
            }
            skips.Add(h);
        }
        if (_downsampler is { } d)
        {
            h = ops.Conv2d(h, d.Weight, d.Bias, stride: 2, padding: 1);
            skips.Add(h);
        }
        return h;
    }
}

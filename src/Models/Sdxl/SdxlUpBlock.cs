using XDit.Kernels;
using XDit.Models.Vae;
using XDit.Runtime;

namespace XDit.Models.Sdxl;

/// <summary>
/// diffusers UpBlock2D or CrossAttnUpBlock2D: layers_per_block + 1 resnets, each on cat[h, the latest unused skip
/// state] along the channels (and, in CrossAttnUpBlock2D, followed by a Transformer2DModel), then, in every block
/// but the last, Upsample2D (nearest-neighbour resize and a 3×3 convolution). Up block i mirrors down block n − 1 − i:
/// its channels, heads and transformer depth are the down path's lists reversed. The resize goes to the size of the
/// skip state the next block takes first, as diffusers forwards upsample_size: 2× where the stride-2 downsampler
/// halved an even size, 2h − 1 where it rounded an odd one up (a latent not a multiple of 2^downsamplings).
/// </summary>
sealed class SdxlUpBlock
{
    readonly VaeResnetBlock[] _resnets;
    readonly SdxlTransformer2D[]? _attentions;
    readonly VaeConv? _upsampler;

    public SdxlUpBlock(WeightScope w, SdxlUNetConfig c, int index, int prevOutputChannels)
    {
        int n = c.NumBlocks, mirror = n - 1 - index;
        int outChannels = c.BlockOutChannels[mirror];
        // the channels of the down block before the mirrored one: what its last skip state (that block's input) has
        int inChannels = c.BlockOutChannels[Math.Max(mirror - 1, 0)];
        int count = c.LayersPerBlock + 1;
        _resnets = new VaeResnetBlock[count];
        for (int j = 0; j < count; j++)
        {
            int skip = j == count - 1 ? inChannels : outChannels;
            int input = (j == 0 ? prevOutputChannels : outChannels) + skip;
            _resnets[j] = new VaeResnetBlock(w.Pp("resnets").Pp(j), input, outChannels, c.NormNumGroups, c.NormEps, c.TimeEmbedDim);
        }
        if (c.IsCrossAttnUp(index))
            _attentions = Enumerable.Range(0, count).Select(j => new SdxlTransformer2D(w.Pp("attentions").Pp(j),
                outChannels, c.NumAttentionHeads[mirror], c.TransformerLayersPerBlock[mirror], c)).ToArray();
        if (index < n - 1) _upsampler = VaeConv.Load(w.Pp("upsamplers.0.conv"), outChannels, outChannels, 3);
        OutChannels = outChannels;
    }

    public int OutChannels { get; }
    /// <summary>How many skip states the block takes.</summary>
    public int SkipCount => _resnets.Length;

    /// <summary>Runs the block on x (left as it is), taking (and disposing) its skip states from the end of
    /// <paramref name="skips"/>; returns a new tensor (upsampled to the size of the skip state then last).</summary>
    public Tensor Forward(IOps ops, Tensor x, Tensor tembActivated, Tensor text, IAttention attention, List<Tensor> skips)
    {
        Tensor? h = null;
        try
        {
            for (int j = 0; j < _resnets.Length; j++)
            {
                var skip = skips[^1];
                skips.RemoveAt(skips.Count - 1);
                Tensor next;
                using (skip)
                using (var joined = ops.Concat(1, h ?? x, skip))
                    next = _resnets[j].Forward(ops, joined, VaeSpatialOps.Local, tembActivated);
                h?.Dispose();
                h = next;
                if (_attentions is not null)
                {
                    next = _attentions[j].Forward(ops, h, text, attention);
                    h.Dispose();
                    h = next;
                }
            }
            if (_upsampler is not { } u) { var result = h!; h = null; return result; }
            var target = skips[^1];
            using var up = ops.UpsampleNearest(h!, target.Dim(2), target.Dim(3));
            return ops.Conv2d(up, u.Weight, u.Bias, 1, u.Padding);
        }
        finally { h?.Dispose(); }
    }
}

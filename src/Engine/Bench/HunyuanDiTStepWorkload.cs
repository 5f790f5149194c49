using XDit.Kernels;
using XDit.Models;
using XDit.Models.HunyuanDiT;
using XDit.Runtime;

namespace XDit.Engine.Bench;

/// <summary>
/// A HunyuanDiT transformer (from a config and a made-up checkpoint, <see cref="RealSizeModels"/>) on a square latent
/// of <paramref name="latentSize"/>² and <paramref name="rows"/> rows ([negative; positive] of one prompt by
/// default): seeded random BERT and mT5 states of the config's text_len and text_len_t5 tokens (77 + 256 for v1.2,
/// all kept), the pipeline's 2-D rotary tables for the grid, image_meta_size of the square and style 0.
/// </summary>
public sealed class HunyuanDiTStepWorkload(HunyuanDiTConfig config, string source, Func<IOps, DiffusionTransformer> load, int latentSize, int rows)
    : StepWorkload(source, load, latentSize, config.PatchSize, config.TextLen + config.TextLenT5, rows)
{
    public override int Heads => config.NumAttentionHeads;
    protected override string Architecture => $"{config.NumLayers} layers, {Heads} heads × {config.AttentionHeadDim}";

    public override DitInputs Inputs(IOps ops, List<Tensor> owned)
    {
        int c = config.InChannels, l = config.TextLen, l5 = config.TextLenT5, grid = LatentSize / config.PatchSize;
        var (cos, sin) = HunyuanDiTRotaryTable.Build(config.AttentionHeadDim, grid, grid);
        float px = LatentSize * 8f;
        return new DitInputs
        {
            HiddenStates = Own(owned, ops.FromHost(StepInputs.Random(Rows * c * LatentSize * LatentSize, 1), Rows, c, LatentSize, LatentSize)),
            EncoderHiddenStates = Own(owned, ops.FromHost(StepInputs.Random(Rows * l * config.CrossAttentionDim, 2), Rows, l, config.CrossAttentionDim)),
            EncoderAttentionMask = Own(owned, ops.FromHost(Enumerable.Repeat(1f, Rows * l).ToArray(), Rows, l)),
            EncoderHiddenStatesT5 = Own(owned, ops.FromHost(StepInputs.Random(Rows * l5 * config.CrossAttentionDimT5, 3), Rows, l5, config.CrossAttentionDimT5)),
            EncoderAttentionMaskT5 = Own(owned, ops.FromHost(Enumerable.Repeat(1f, Rows * l5).ToArray(), Rows, l5)),
            ImageRotaryCos = Own(owned, ops.FromHost(cos, grid * grid, config.AttentionHeadDim)),
            ImageRotarySin = Own(owned, ops.FromHost(sin, grid * grid, config.AttentionHeadDim)),
            ImageMetaSize = config.UseStyleCondAndImageMetaSize
                ? Own(owned, ops.FromHost(Enumerable.Range(0, Rows).SelectMany(_ => new[] { px, px, px, px, 0f, 0f }).ToArray(), Rows, HunyuanDiTConfig.ImageMetaValues))
                : null,
            Style = config.UseStyleCondAndImageMetaSize ? new long[Rows] : null,
            Timestep = Enumerable.Repeat(500f, Rows).ToArray(),
        };
    }
}

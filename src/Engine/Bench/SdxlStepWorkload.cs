using XDit.Kernels;
using XDit.Models;
using XDit.Models.Sdxl;
using XDit.Runtime;

namespace XDit.Engine.Bench;

/// <summary>
/// SDXL's UNet (from a config and a made-up checkpoint, <see cref="RealSizeModels"/>) on a square latent of
/// <paramref name="latentSize"/>² (its "tokens" are the latent's pixels) with <paramref name="textTokens"/> text tokens
/// (77 in SDXL's pipeline), <paramref name="rows"/> rows, the pooled text_embeds and the six time ids of a
/// <c>8·latentSize</c>-pixel square image; seeded random inputs.
/// </summary>
public sealed class SdxlStepWorkload(SdxlUNetConfig config, string source, Func<IOps, DiffusionTransformer> load, int latentSize, int textTokens, int rows)
    : StepWorkload(source, load, latentSize, 1, textTokens, rows)
{
    /// <summary>The mid block's heads.</summary>
    public override int Heads => config.NumAttentionHeads[^1];
    protected override string Architecture => $"UNet {string.Join("/", config.BlockOutChannels)} channels, transformer depths {string.Join("/", config.TransformerLayersPerBlock)}";

    public override DitInputs Inputs(IOps ops, List<Tensor> owned)
    {
        int c = config.InChannels, pooled = config.ProjectionClassEmbeddingsInputDim - 6 * config.AdditionTimeEmbedDim;
        return new DitInputs
        {
            HiddenStates = Own(owned, ops.FromHost(StepInputs.Random(Rows * c * LatentSize * LatentSize, 1), Rows, c, LatentSize, LatentSize)),
            EncoderHiddenStates = Own(owned, ops.FromHost(StepInputs.Random(Rows * TextTokens * config.CrossAttentionDim, 2), Rows, TextTokens, config.CrossAttentionDim)),
            PooledProjections = Own(owned, ops.FromHost(StepInputs.Random(Rows * pooled, 3), Rows, pooled)),
            Timestep = Enumerable.Repeat(500f, Rows).ToArray(),
            TimeIds = Enumerable.Range(0, Rows).SelectMany(_ => new float[] { 8 * LatentSize, 8 * LatentSize, 0, 0, 8 * LatentSize, 8 * LatentSize }).ToArray(),
        };
    }
}

using XDit.Kernels;
using XDit.Models;
using XDit.Models.QwenImage;
using XDit.Runtime;

namespace XDit.Engine.Bench;

/// <summary>
/// One Qwen-Image denoising step: a square latent of <paramref name="latentSize"/>² packed 2×2 into (side / 2)²
/// tokens as QwenImagePipeline packs it (img_shapes (1, side / 2, side / 2)), <paramref name="textTokens"/>
/// Qwen2.5-VL states with no padding (no mask: every text key is kept) and <paramref name="rows"/> rows (the pipeline's
/// true CFG calls the transformer once per branch, one row each); seeded random inputs, timestep 0.5 (t/1000).
/// </summary>
public sealed class QwenImageStepWorkload(QwenImageConfig config, string source, Func<IOps, DiffusionTransformer> load, int latentSize, int textTokens, int rows)
    : StepWorkload(source, load, latentSize, 2, textTokens, rows)
{
    public override int Heads => config.NumAttentionHeads;
    protected override string Architecture => $"{config.NumLayers} layers, {Heads} heads × {config.AttentionHeadDim}";

    public override DitInputs Inputs(IOps ops, List<Tensor> owned)
    {
        int n = ImageTokens, side = LatentSize / 2;
        return new DitInputs
        {
            HiddenStates = Own(owned, ops.FromHost(StepInputs.Random(Rows * n * config.InChannels, 1), Rows, n, config.InChannels)),
            EncoderHiddenStates = Own(owned, ops.FromHost(StepInputs.Random(Rows * TextTokens * config.JointAttentionDim, 2), Rows, TextTokens, config.JointAttentionDim)),
            Timestep = Enumerable.Repeat(0.5f, Rows).ToArray(),
            ImgShape = (1, side, side),
        };
    }
}

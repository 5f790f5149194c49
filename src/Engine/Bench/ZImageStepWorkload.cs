using XDit.Kernels;
using XDit.Models;
using XDit.Models.ZImage;
using XDit.Runtime;

namespace XDit.Engine.Bench;

/// <summary>
/// One Z-Image denoising step: a square latent of <paramref name="latentSize"/>² (16 channels, one frame, as the
/// pipeline passes it) in 2×2 patches, <paramref name="textTokens"/> caption states with no padding (no mask: every
/// row has all of them), <paramref name="rows"/> rows; seeded random inputs, timestep 0.5 ((1000 − t)/1000).
/// </summary>
public sealed class ZImageStepWorkload(ZImageConfig config, string source, Func<IOps, DiffusionTransformer> load, int latentSize, int textTokens, int rows)
    : StepWorkload(source, load, latentSize, config.PatchSize, textTokens, rows)
{
    public override int Heads => config.NHeads;
    protected override string Architecture => $"{config.NRefinerLayers} + {config.NLayers} layers (noise refiner + main; {config.NRefinerLayers} context refiner), {Heads} heads × {config.HeadDim}";

    public override DitInputs Inputs(IOps ops, List<Tensor> owned)
    {
        int c = config.InChannels, side = LatentSize;
        return new DitInputs
        {
            HiddenStates = Own(owned, ops.FromHost(StepInputs.Random(Rows * c * side * side, 1), Rows, c, 1, side, side)),
            EncoderHiddenStates = Own(owned, ops.FromHost(StepInputs.Random(Rows * TextTokens * config.CapFeatDim, 2), Rows, TextTokens, config.CapFeatDim)),
            Timestep = Enumerable.Repeat(0.5f, Rows).ToArray(),
        };
    }
}

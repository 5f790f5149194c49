using XDit.Kernels;
using XDit.Models;
using XDit.Models.SD3;
using XDit.Runtime;

namespace XDit.Engine.Bench;

/// <summary>
/// An SD3 transformer (from a config and a made-up checkpoint, <see cref="RealSizeModels"/>) on a square latent of
/// <paramref name="latentSize"/>² with <paramref name="textTokens"/> joint text tokens (77 CLIP + 256 T5 = 333 in
/// SD3's pipeline) and <paramref name="rows"/> rows; seeded random inputs.
/// </summary>
public sealed class SD3StepWorkload(SD3Config config, string source, Func<IOps, DiffusionTransformer> load, int latentSize, int textTokens, int rows)
    : StepWorkload(source, load, latentSize, config.PatchSize, textTokens, rows)
{
    public override int Heads => config.NumAttentionHeads;
    protected override string Architecture => $"{config.NumLayers} layers, {Heads} heads × {config.AttentionHeadDim}";

    public override DitInputs Inputs(IOps ops, List<Tensor> owned)
    {
        int c = config.InChannels;
        return new DitInputs
        {
            HiddenStates = Own(owned, ops.FromHost(StepInputs.Random(Rows * c * LatentSize * LatentSize, 1), Rows, c, LatentSize, LatentSize)),
            EncoderHiddenStates = Own(owned, ops.FromHost(StepInputs.Random(Rows * TextTokens * config.JointAttentionDim, 2), Rows, TextTokens, config.JointAttentionDim)),
            PooledProjections = Own(owned, ops.FromHost(StepInputs.Random(Rows * config.PooledProjectionDim, 3), Rows, config.PooledProjectionDim)),
            Timestep = Enumerable.Repeat(500f, Rows).ToArray(),
        };
    }
}

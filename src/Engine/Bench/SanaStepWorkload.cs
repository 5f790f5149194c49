using XDit.Kernels;
using XDit.Models;
using XDit.Models.Sana;
using XDit.Runtime;

namespace XDit.Engine.Bench;

/// <summary>
/// A SANA transformer on a square latent of <paramref name="latentSize"/>² with <paramref name="textTokens"/>
/// caption tokens (Gemma 2 states) and <paramref name="rows"/> rows, from a config and a made-up checkpoint
/// (<see cref="RealSizeModels"/>). Inputs are seeded random values: the time of a step does not depend on them.
/// </summary>
public sealed class SanaStepWorkload(SanaConfig config, string source, Func<IOps, DiffusionTransformer> load, int latentSize, int textTokens, int rows)
    : StepWorkload(source, load, latentSize, config.PatchSize, textTokens, rows)
{
    public override int Heads => config.NumAttentionHeads;
    protected override string Architecture => $"{config.NumLayers} layers, {Heads} heads × {config.AttentionHeadDim} (linear attention), cross {config.NumCrossAttentionHeads} × {config.CrossAttentionHeadDim}";

    public override DitInputs Inputs(IOps ops, List<Tensor> owned)
    {
        int c = config.InChannels, caption = config.CaptionChannels;
        return new DitInputs
        {
            HiddenStates = Own(owned, ops.FromHost(StepInputs.Random(Rows * c * LatentSize * LatentSize, 1), Rows, c, LatentSize, LatentSize)),
            EncoderHiddenStates = Own(owned, ops.FromHost(StepInputs.Random(Rows * TextTokens * caption, 2), Rows, TextTokens, caption)),
            EncoderAttentionMask = Own(owned, ops.FromHost(Enumerable.Repeat(1f, Rows * TextTokens).ToArray(), Rows, TextTokens)),
            Timestep = Enumerable.Repeat(500f, Rows).ToArray(),
        };
    }
}

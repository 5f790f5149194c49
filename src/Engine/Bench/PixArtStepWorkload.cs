using XDit.Kernels;
using XDit.Models;
using XDit.Models.PixArt;
using XDit.Runtime;

namespace XDit.Engine.Bench;

/// <summary>
/// A PixArt transformer on a square latent of <paramref name="latentSize"/>² with <paramref name="textTokens"/>
/// caption tokens, <paramref name="rows"/> rows ([negative; positive] of one prompt by default): from a folder (the
/// demo model's by default), or from a config and a made-up checkpoint (<see cref="RealSizeModels"/>). Inputs are
/// seeded random values: the time of a step does not depend on them.
/// </summary>
public sealed class PixArtStepWorkload : StepWorkload
{
    readonly PixArtConfig _config;

    public PixArtStepWorkload(string transformerDir, int latentSize = 16, int textTokens = 16, int rows = 2)
        : this(PixArtConfig.Load(Path.Combine(transformerDir, "config.json")), transformerDir, ops => PixArtTransformer.Load(transformerDir, ops),
            latentSize, textTokens, rows) { }

    public PixArtStepWorkload(PixArtConfig config, string source, Func<IOps, DiffusionTransformer> load, int latentSize, int textTokens, int rows)
        : base(source, load, latentSize, config.PatchSize, textTokens, rows) => _config = config;

    public override int Heads => _config.NumAttentionHeads;
    protected override string Architecture => $"{_config.NumLayers} layers, {Heads} heads × {_config.AttentionHeadDim}";

    public override DitInputs Inputs(IOps ops, List<Tensor> owned)
    {
        int c = _config.InChannels, caption = _config.CaptionChannels ?? _config.CrossAttentionDim;
        return new DitInputs
        {
            HiddenStates = Own(owned, ops.FromHost(StepInputs.Random(Rows * c * LatentSize * LatentSize, 1), Rows, c, LatentSize, LatentSize)),
            EncoderHiddenStates = Own(owned, ops.FromHost(StepInputs.Random(Rows * TextTokens * caption, 2), Rows, TextTokens, caption)),
            EncoderAttentionMask = Own(owned, ops.FromHost(Enumerable.Repeat(1f, Rows * TextTokens).ToArray(), Rows, TextTokens)),
            Timestep = Enumerable.Repeat(500f, Rows).ToArray(),
            Resolution = _config.UseAdditionalConditions ? Own(owned, ops.FromHost(Enumerable.Repeat((float)LatentSize * 8, Rows * 2).ToArray(), Rows, 2)) : null,
            AspectRatio = _config.UseAdditionalConditions ? Own(owned, ops.FromHost(Enumerable.Repeat(1f, Rows).ToArray(), Rows, 1)) : null,
        };
    }
}

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
    : IStepWorkload
{
    public string Description => $"{source}: {config.NumLayers} layers, {Heads} heads × {config.AttentionHeadDim}, latent {latentSize}×{latentSize} → {ImageTokens} tokens, {textTokens} text tokens, {Rows} rows";
    public int Heads => config.NumAttentionHeads;
    public int ImageTokens => (latentSize / config.PatchSize) * (latentSize / config.PatchSize);
    public int Rows => rows;
    public int TextTokens => textTokens;

    public DiffusionTransformer Load(IOps ops) => load(ops);

    public DitInputs Inputs(IOps ops, List<Tensor> owned)
    {
        int c = config.InChannels;
        Tensor Own(Tensor t) { owned.Add(t); return t; }
        return new DitInputs
        {
            HiddenStates = Own(ops.FromHost(StepInputs.Random(rows * c * latentSize * latentSize, 1), rows, c, latentSize, latentSize)),
            EncoderHiddenStates = Own(ops.FromHost(StepInputs.Random(rows * textTokens * config.JointAttentionDim, 2), rows, textTokens, config.JointAttentionDim)),
            PooledProjections = Own(ops.FromHost(StepInputs.Random(rows * config.PooledProjectionDim, 3), rows, config.PooledProjectionDim)),
            Timestep = Enumerable.Repeat(500f, rows).ToArray(),
        };
    }
}

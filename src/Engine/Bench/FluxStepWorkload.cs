using XDit.Engine.Pipelines;
using XDit.Kernels;
using XDit.Models;
using XDit.Models.Flux;
using XDit.Runtime;

namespace XDit.Engine.Bench;

/// <summary>
/// A Flux transformer (from a config and a made-up checkpoint, <see cref="RealSizeModels"/>) on a square latent of
/// <paramref name="latentSize"/>², packed 2×2 into (side / 2)² tokens as FluxPipeline packs it, with
/// <paramref name="textTokens"/> T5 tokens and <paramref name="rows"/> rows; seeded random inputs, guidance 3.5.
/// </summary>
public sealed class FluxStepWorkload(FluxConfig config, string source, Func<IOps, DiffusionTransformer> load, int latentSize, int textTokens, int rows)
    : IStepWorkload
{
    public string Description => $"{source}: {config.NumLayers} + {config.NumSingleLayers} layers, {Heads} heads × {config.AttentionHeadDim}, latent {latentSize}×{latentSize} → {ImageTokens} tokens, {textTokens} text tokens, {Rows} rows";
    public int Heads => config.NumAttentionHeads;
    public int ImageTokens => (latentSize / 2) * (latentSize / 2);
    public int Rows => rows;
    public int TextTokens => textTokens;

    public DiffusionTransformer Load(IOps ops) => load(ops);

    public DitInputs Inputs(IOps ops, List<Tensor> owned)
    {
        int n = ImageTokens;
        Tensor Own(Tensor t) { owned.Add(t); return t; }
        Tensor Ids(float[] ids, int count)
        {
            using var host = Tensor.FromArray(ids, count, 3);
            return Own(ops.Upload(host));   // float32, exact positions
        }
        return new DitInputs
        {
            HiddenStates = Own(ops.FromHost(StepInputs.Random(rows * n * config.InChannels, 1), rows, n, config.InChannels)),
            EncoderHiddenStates = Own(ops.FromHost(StepInputs.Random(rows * textTokens * config.JointAttentionDim, 2), rows, textTokens, config.JointAttentionDim)),
            PooledProjections = Own(ops.FromHost(StepInputs.Random(rows * config.PooledProjectionDim, 3), rows, config.PooledProjectionDim)),
            Timestep = Enumerable.Repeat(0.5f, rows).ToArray(),
            Guidance = config.GuidanceEmbeds ? Enumerable.Repeat(3.5f, rows).ToArray() : null,
            ImgIds = Ids(FluxLatents.ImageIds(latentSize, latentSize), n),
            TxtIds = Ids(new float[textTokens * 3], textTokens),
        };
    }
}

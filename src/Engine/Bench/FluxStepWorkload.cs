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
    : StepWorkload(source, load, latentSize, 2, textTokens, rows)   // FluxPipeline packs 2×2 latent pixels per token
{
    public override int Heads => config.NumAttentionHeads;
    protected override string Architecture => $"{config.NumLayers} + {config.NumSingleLayers} layers, {Heads} heads × {config.AttentionHeadDim}";

    public override DitInputs Inputs(IOps ops, List<Tensor> owned)
    {
        int n = ImageTokens;
        Tensor Ids(float[] ids, int count)
        {
            using var host = Tensor.FromArray(ids, count, 3);
            return Own(owned, ops.Upload(host));   // float32, exact positions
        }
        return new DitInputs
        {
            HiddenStates = Own(owned, ops.FromHost(StepInputs.Random(Rows * n * config.InChannels, 1), Rows, n, config.InChannels)),
            EncoderHiddenStates = Own(owned, ops.FromHost(StepInputs.Random(Rows * TextTokens * config.JointAttentionDim, 2), Rows, TextTokens, config.JointAttentionDim)),
            PooledProjections = Own(owned, ops.FromHost(StepInputs.Random(Rows * config.PooledProjectionDim, 3), Rows, config.PooledProjectionDim)),
            Timestep = Enumerable.Repeat(0.5f, Rows).ToArray(),
            Guidance = config.GuidanceEmbeds ? Enumerable.Repeat(3.5f, Rows).ToArray() : null,
            ImgIds = Ids(FluxLatents.ImageIds(LatentSize, LatentSize), n),
            TxtIds = Ids(new float[TextTokens * 3], TextTokens),
        };
    }
}

using XDit.Kernels;
using XDit.Models;
using XDit.Models.Mochi;
using XDit.Runtime;

namespace XDit.Engine.Bench;

/// <summary>
/// One Mochi denoising step: a video latent [B, C, F, H, W] of <paramref name="frames"/>×<paramref name="height"/>×
/// <paramref name="width"/>, <paramref name="textTokens"/> T5 states, all kept (no mask: the model drops a prompt's
/// padding before its blocks, so 256, the pipeline's max_sequence_length, is the longest), and <paramref name="rows"/>
/// batch rows (2: the pipeline's classifier-free guidance). Seeded random values: the time of a step does not depend
/// on them.
/// </summary>
public sealed class MochiStepWorkload(MochiConfig config, string source, Func<IOps, DiffusionTransformer> load,
    int frames, int height, int width, int textTokens, int rows) : IStepWorkload
{
    public int Heads => config.NumAttentionHeads;
    public int ImageTokens => frames * (height / config.PatchSize) * (width / config.PatchSize);
    public int Rows => rows;
    public int TextTokens => textTokens;

    public string Description => $"{source}: {config.NumLayers} blocks, {Heads} heads × {config.AttentionHeadDim}, text stream {config.PooledProjectionDim} wide, latent {frames}×{height}×{width} → {ImageTokens} tokens, {TextTokens} text tokens, {Rows} rows";

    public DiffusionTransformer Load(IOps ops) => load(ops);

    public DitInputs Inputs(IOps ops, List<Tensor> owned)
    {
        int c = config.InChannels, d = config.TextEmbedDim;
        Tensor Own(Tensor t) { owned.Add(t); return t; }
        return new DitInputs
        {
            HiddenStates = Own(ops.FromHost(StepInputs.Random(rows * c * frames * height * width, 1), rows, c, frames, height, width)),
            EncoderHiddenStates = Own(ops.FromHost(StepInputs.Random(rows * textTokens * d, 2), rows, textTokens, d)),
            Timestep = Enumerable.Repeat(500f, rows).ToArray(),
        };
    }
}

using XDit.Kernels;
using XDit.Models;
using XDit.Models.Wan;
using XDit.Runtime;

namespace XDit.Engine.Bench;

/// <summary>
/// One Wan denoising step: a video latent of <paramref name="frames"/>×<paramref name="height"/>×<paramref name="width"/>
/// ([B, C, F, H, W], as diffusers takes it), <paramref name="textTokens"/> UMT5 states and <paramref name="rows"/> batch
/// rows (2: the pipeline's classifier-free guidance). Seeded random values: the time of a step does not depend on them.
/// </summary>
public sealed class WanStepWorkload(WanConfig config, string source, Func<IOps, DiffusionTransformer> load, int frames, int height, int width, int textTokens, int rows)
    : IStepWorkload
{
    public int Heads => config.NumAttentionHeads;
    public int ImageTokens => frames / config.PatchT * (height / config.PatchH) * (width / config.PatchW);
    public int Rows => rows;
    public int TextTokens => textTokens;

    public string Description => $"{source}: {config.NumLayers} layers, {Heads} heads × {config.AttentionHeadDim}, latent {frames}×{height}×{width} → {ImageTokens} tokens, {TextTokens} text tokens, {Rows} rows";

    public DiffusionTransformer Load(IOps ops) => load(ops);

    public DitInputs Inputs(IOps ops, List<Tensor> owned)
    {
        int c = config.InChannels, d = config.TextDim;
        Tensor Own(Tensor t) { owned.Add(t); return t; }
        return new DitInputs
        {
            HiddenStates = Own(ops.FromHost(StepInputs.Random(rows * c * frames * height * width, 1), rows, c, frames, height, width)),
            EncoderHiddenStates = Own(ops.FromHost(StepInputs.Random(rows * textTokens * d, 2), rows, textTokens, d)),
            Timestep = Enumerable.Repeat(500f, rows).ToArray(),
        };
    }
}

using XDit.Kernels;
using XDit.Models;
using XDit.Models.Ltx;
using XDit.Runtime;

namespace XDit.Engine.Bench;

/// <summary>
/// One LTX-Video denoising step: a latent of <paramref name="frames"/>×<paramref name="height"/>×<paramref name="width"/>
/// packed as its pipeline passes it ([B, F·H·W, C]), rope_interpolation_scale (8/25, 32, 32) (the VAE's ratios at
/// 25 fps), <paramref name="textTokens"/> T5 states with their mask (all kept: the key bias costs the same whatever it
/// holds) and <paramref name="rows"/> batch rows (2: the pipeline's classifier-free guidance). Seeded random values:
/// the time of a step does not depend on them.
/// </summary>
public sealed class LtxStepWorkload(LtxConfig config, string source, Func<IOps, DiffusionTransformer> load, int frames, int height, int width, int textTokens, int rows)
    : IStepWorkload
{
    public int Heads => config.NumAttentionHeads;
    public int ImageTokens => frames * height * width;
    public int Rows => rows;
    public int TextTokens => textTokens;

    public string Description => $"{source}: {config.NumLayers} layers, {Heads} heads × {config.AttentionHeadDim}, latent {frames}×{height}×{width} → {ImageTokens} tokens, {TextTokens} text tokens, {Rows} rows";

    public DiffusionTransformer Load(IOps ops) => load(ops);

    public DitInputs Inputs(IOps ops, List<Tensor> owned)
    {
        int c = config.InChannels, d = config.CaptionChannels, n = ImageTokens;
        Tensor Own(Tensor t) { owned.Add(t); return t; }
        return new DitInputs
        {
            HiddenStates = Own(ops.FromHost(StepInputs.Random(rows * n * c, 1), rows, n, c)),
            EncoderHiddenStates = Own(ops.FromHost(StepInputs.Random(rows * textTokens * d, 2), rows, textTokens, d)),
            EncoderAttentionMask = Own(ops.FromHost(Enumerable.Repeat(1f, rows * textTokens).ToArray(), rows, textTokens)),
            Timestep = Enumerable.Repeat(500f, rows).ToArray(),
            ImgShape = (frames, height, width),
            RopeInterpolationScale = (8f / 25f, 32f, 32f),
        };
    }
}

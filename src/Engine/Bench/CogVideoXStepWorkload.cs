using XDit.Kernels;
using XDit.Models;
using XDit.Models.CogVideoX;
using XDit.Runtime;

namespace XDit.Engine.Bench;

/// <summary>
/// One CogVideoX denoising step: a video latent of <paramref name="frames"/>×<paramref name="height"/>×<paramref name="width"/>
/// ([B, F, C, H, W], as the pipeline passes it), <paramref name="textTokens"/> T5 states, the pipeline's RoPE tables
/// where the model takes them, and <paramref name="rows"/> batch rows (2: the pipeline's classifier-free guidance).
/// Seeded random values: the time of a step does not depend on them.
/// </summary>
public sealed class CogVideoXStepWorkload(CogVideoXConfig config, string source, Func<IOps, DiffusionTransformer> load, int frames, int height, int width, int textTokens, int rows)
    : IStepWorkload
{
    int FrameGroups => frames / config.FramesPerPatch;
    public int Heads => config.NumAttentionHeads;
    public int ImageTokens => FrameGroups * (height / config.PatchSize) * (width / config.PatchSize);
    public int Rows => rows;
    public int TextTokens => textTokens;

    public string Description => $"{source}: {config.NumLayers} layers, {Heads} heads × {config.AttentionHeadDim}, latent {frames}×{height}×{width} → {ImageTokens} tokens, {TextTokens} text tokens, {Rows} rows";

    public DiffusionTransformer Load(IOps ops) => load(ops);

    public DitInputs Inputs(IOps ops, List<Tensor> owned)
    {
        int c = config.InChannels, d = config.TextEmbedDim;
        Tensor Own(Tensor t) { owned.Add(t); return t; }
        Tensor? cos = null, sin = null;
        if (config.UseRotaryPositionalEmbeddings)
        {
            var (hc, hs) = CogVideoXRotaryTable.Build(config, frames, height * CogVideoXRotaryTable.DefaultVaeScaleFactor, width * CogVideoXRotaryTable.DefaultVaeScaleFactor);
            cos = Own(ops.FromHost(hc, ImageTokens, config.AttentionHeadDim));
            sin = Own(ops.FromHost(hs, ImageTokens, config.AttentionHeadDim));
        }
        return new DitInputs
        {
            HiddenStates = Own(ops.FromHost(StepInputs.Random(rows * frames * c * height * width, 1), rows, frames, c, height, width)),
            EncoderHiddenStates = Own(ops.FromHost(StepInputs.Random(rows * textTokens * d, 2), rows, textTokens, d)),
            ImageRotaryCos = cos,
            ImageRotarySin = sin,
            Ofs = config.OfsEmbedDim is null ? null : [2f],
            Timestep = Enumerable.Repeat(500f, rows).ToArray(),
        };
    }
}

using XDit.Kernels;
using XDit.Models;
using XDit.Models.HunyuanVideo;
using XDit.Runtime;

namespace XDit.Engine.Bench;

/// <summary>
/// One HunyuanVideo denoising step: a video latent [B, C, F, H, W] of <paramref name="frames"/>×<paramref name="height"/>×
/// <paramref name="width"/>, <paramref name="textTokens"/> Llama states, all kept (no mask: the model drops padded
/// text before its blocks, so a prompt padded to 256 costs what its kept tokens cost; 256 is the longest), the pooled CLIP
/// projection, the distilled guidance (6.0·1000) and <paramref name="rows"/> batch rows (1: the guidance-distilled
/// model runs without classifier-free guidance). Seeded random values: the time of a step does not depend on them.
/// </summary>
public sealed class HunyuanVideoStepWorkload(HunyuanVideoConfig config, string source, Func<IOps, DiffusionTransformer> load,
    int frames, int height, int width, int textTokens, int rows) : IStepWorkload
{
    public int Heads => config.NumAttentionHeads;
    public int ImageTokens => frames / config.PatchSizeT * (height / config.PatchSize) * (width / config.PatchSize);
    public int Rows => rows;
    public int TextTokens => textTokens;

    public string Description => $"{source}: {config.NumLayers} dual + {config.NumSingleLayers} single blocks, {Heads} heads × {config.AttentionHeadDim}, latent {frames}×{height}×{width} → {ImageTokens} tokens, {TextTokens} text tokens, {Rows} rows";

    public DiffusionTransformer Load(IOps ops) => load(ops);

    public DitInputs Inputs(IOps ops, List<Tensor> owned)
    {
        int c = config.InChannels, d = config.TextEmbedDim;
        Tensor Own(Tensor t) { owned.Add(t); return t; }
        return new DitInputs
        {
            HiddenStates = Own(ops.FromHost(StepInputs.Random(rows * c * frames * height * width, 1), rows, c, frames, height, width)),
            EncoderHiddenStates = Own(ops.FromHost(StepInputs.Random(rows * textTokens * d, 2), rows, textTokens, d)),
            PooledProjections = Own(ops.FromHost(StepInputs.Random(rows * config.PooledProjectionDim, 3), rows, config.PooledProjectionDim)),
            Timestep = Enumerable.Repeat(500f, rows).ToArray(),
            Guidance = config.GuidanceEmbeds ? Enumerable.Repeat(6000f, rows).ToArray() : null,
        };
    }
}

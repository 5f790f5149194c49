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
public sealed class PixArtStepWorkload : IStepWorkload
{
    readonly PixArtConfig _config;
    readonly string _source;
    readonly Func<IOps, DiffusionTransformer> _load;
    readonly int latentSize, textTokens, rows;

    public PixArtStepWorkload(string transformerDir, int latentSize = 16, int textTokens = 16, int rows = 2)
        : this(PixArtConfig.Load(Path.Combine(transformerDir, "config.json")), transformerDir, ops => PixArtTransformer.Load(transformerDir, ops),
            latentSize, textTokens, rows) { }

    public PixArtStepWorkload(PixArtConfig config, string source, Func<IOps, DiffusionTransformer> load, int latentSize, int textTokens, int rows)
    {
        if (latentSize <= 0 || latentSize % config.PatchSize != 0)
            throw new ArgumentException($"the latent side must be a positive multiple of the patch size {config.PatchSize}, got {latentSize}");
        (_config, _source, _load, this.latentSize, this.textTokens, this.rows) = (config, source, load, latentSize, textTokens, rows);
    }

    public string Description => $"{_source}: {_config.NumLayers} layers, {Heads} heads × {_config.AttentionHeadDim}, latent {latentSize}×{latentSize} → {ImageTokens} tokens, {textTokens} text tokens, {Rows} rows";
    public int Heads => _config.NumAttentionHeads;
    public int ImageTokens => (latentSize / _config.PatchSize) * (latentSize / _config.PatchSize);
    public int Rows => rows;
    public int TextTokens => textTokens;

    public DiffusionTransformer Load(IOps ops) => _load(ops);

    public DitInputs Inputs(IOps ops, List<Tensor> owned)
    {
        int c = _config.InChannels, caption = _config.CaptionChannels ?? _config.CrossAttentionDim;
        Tensor Own(Tensor t) { owned.Add(t); return t; }
        return new DitInputs
        {
            HiddenStates = Own(ops.FromHost(StepInputs.Random(rows * c * latentSize * latentSize, 1), rows, c, latentSize, latentSize)),
            EncoderHiddenStates = Own(ops.FromHost(StepInputs.Random(rows * textTokens * caption, 2), rows, textTokens, caption)),
            EncoderAttentionMask = Own(ops.FromHost(Enumerable.Repeat(1f, rows * textTokens).ToArray(), rows, textTokens)),
            Timestep = Enumerable.Repeat(500f, rows).ToArray(),
            Resolution = _config.UseAdditionalConditions ? Own(ops.FromHost(Enumerable.Repeat((float)latentSize * 8, rows * 2).ToArray(), rows, 2)) : null,
            AspectRatio = _config.UseAdditionalConditions ? Own(ops.FromHost(Enumerable.Repeat(1f, rows).ToArray(), rows, 1)) : null,
        };
    }
}

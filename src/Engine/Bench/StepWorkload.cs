using XDit.Kernels;
using XDit.Models;
using XDit.Models.PixArt;
using XDit.Models.SD3;
using XDit.Models.Flux;
using XDit.Engine.Pipelines;
using XDit.Runtime;

namespace XDit.Engine.Bench;

/// <summary>What one benchmarked denoising step runs: a transformer (loaded once per rank) and its inputs.</summary>
public interface IStepWorkload
{
    string Description { get; }
    int Heads { get; }
    int ImageTokens { get; }
    int Rows { get; }
    int TextTokens { get; }
    DiffusionTransformer Load(IOps ops);
    /// <summary>The step's inputs on <paramref name="ops"/>; the tensors made go into <paramref name="owned"/>.</summary>
    DitInputs Inputs(IOps ops, List<Tensor> owned);
}

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
            HiddenStates = Own(ops.FromHost(Random(rows * c * latentSize * latentSize, 1), rows, c, latentSize, latentSize)),
            EncoderHiddenStates = Own(ops.FromHost(Random(rows * textTokens * caption, 2), rows, textTokens, caption)),
            EncoderAttentionMask = Own(ops.FromHost(Enumerable.Repeat(1f, rows * textTokens).ToArray(), rows, textTokens)),
            Timestep = Enumerable.Repeat(500f, rows).ToArray(),
            Resolution = _config.UseAdditionalConditions ? Own(ops.FromHost(Enumerable.Repeat((float)latentSize * 8, rows * 2).ToArray(), rows, 2)) : null,
            AspectRatio = _config.UseAdditionalConditions ? Own(ops.FromHost(Enumerable.Repeat(1f, rows).ToArray(), rows, 1)) : null,
        };
    }

    internal static float[] Random(int n, int seed)
    {
        var r = new Random(seed);
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float)(r.NextDouble() * 2 - 1);
        return x;
    }
}

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
            HiddenStates = Own(ops.FromHost(PixArtStepWorkload.Random(rows * c * latentSize * latentSize, 1), rows, c, latentSize, latentSize)),
            EncoderHiddenStates = Own(ops.FromHost(PixArtStepWorkload.Random(rows * textTokens * config.JointAttentionDim, 2), rows, textTokens, config.JointAttentionDim)),
            PooledProjections = Own(ops.FromHost(PixArtStepWorkload.Random(rows * config.PooledProjectionDim, 3), rows, config.PooledProjectionDim)),
            Timestep = Enumerable.Repeat(500f, rows).ToArray(),
        };
    }
}

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
            HiddenStates = Own(ops.FromHost(PixArtStepWorkload.Random(rows * n * config.InChannels, 1), rows, n, config.InChannels)),
            EncoderHiddenStates = Own(ops.FromHost(PixArtStepWorkload.Random(rows * textTokens * config.JointAttentionDim, 2), rows, textTokens, config.JointAttentionDim)),
            PooledProjections = Own(ops.FromHost(PixArtStepWorkload.Random(rows * config.PooledProjectionDim, 3), rows, config.PooledProjectionDim)),
            Timestep = Enumerable.Repeat(0.5f, rows).ToArray(),
            Guidance = config.GuidanceEmbeds ? Enumerable.Repeat(3.5f, rows).ToArray() : null,
            ImgIds = Ids(FluxLatents.ImageIds(latentSize, latentSize), n),
            TxtIds = Ids(new float[textTokens * 3], textTokens),
        };
    }
}

using XDit.Kernels;
using XDit.Models;
using XDit.Runtime;

namespace XDit.Engine.Bench;

/// <summary>
/// What the step workloads share: where the transformer comes from, a square latent of <see cref="LatentSize"/>²
/// cut into patches of <paramref name="patch"/>², the text tokens and the batch rows. The models' workloads add
/// their inputs (seeded random values: the time of a step does not depend on them).
/// </summary>
public abstract class StepWorkload : IStepWorkload
{
    readonly string _source;
    readonly Func<IOps, DiffusionTransformer> _load;
    readonly int _patch;

    protected StepWorkload(string source, Func<IOps, DiffusionTransformer> load, int latentSize, int patch, int textTokens, int rows)
    {
        if (latentSize <= 0 || latentSize % patch != 0)
            throw new ArgumentException($"the latent side must be a positive multiple of the patch size {patch}, got {latentSize}");
        (_source, _load, _patch, LatentSize, TextTokens, Rows) = (source, load, patch, latentSize, textTokens, rows);
    }

    public int LatentSize { get; }
    public int TextTokens { get; }
    public int Rows { get; }
    public int ImageTokens => (LatentSize / _patch) * (LatentSize / _patch);
    public abstract int Heads { get; }
    /// <summary>The model's blocks and head size, for <see cref="Description"/> ("28 layers, 16 heads × 72").</summary>
    protected abstract string Architecture { get; }

    public string Description => $"{_source}: {Architecture}, latent {LatentSize}×{LatentSize} → {ImageTokens} tokens, {TextTokens} text tokens, {Rows} rows";

    public DiffusionTransformer Load(IOps ops) => _load(ops);

    public abstract DitInputs Inputs(IOps ops, List<Tensor> owned);

    /// <summary>Adds <paramref name="t"/> to the tensors <see cref="Inputs"/> made, and returns it.</summary>
    protected static Tensor Own(List<Tensor> owned, Tensor t)
    {
        owned.Add(t);
        return t;
    }
}

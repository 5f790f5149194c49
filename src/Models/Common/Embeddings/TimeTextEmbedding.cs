using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Embeddings;

/// <summary>
/// The conditioning vector of SD3 (CombinedTimestepTextProjEmbeddings) and Flux
/// (CombinedTimestep[Guidance]TextProjEmbeddings): temb = TimestepEmbedding(t) [+ TimestepEmbedding_g(g)] +
/// TextProjection_SiLU(pooled), weights under <c>time_text_embed.{timestep_embedder, guidance_embedder,
/// text_embedder}</c>.
/// </summary>
public sealed class TimeTextEmbedding
{
    readonly TimestepEmbedding _timestep;
    readonly TimestepEmbedding? _guidance;
    readonly TextProjection _text;

    TimeTextEmbedding(TimestepEmbedding timestep, TimestepEmbedding? guidance, TextProjection text)
    {
        _timestep = timestep; _guidance = guidance; _text = text;
    }

    public static TimeTextEmbedding Load(WeightScope w, int dim, int pooledDim, bool guidance)
        => new(TimestepEmbedding.Load(w.Pp("timestep_embedder"), dim),
               guidance ? TimestepEmbedding.Load(w.Pp("guidance_embedder"), dim) : null,
               TextProjection.Load(w.Pp("text_embedder"), pooledDim, dim, Activation.Silu));

    public bool HasGuidance => _guidance is not null;

    /// <summary>timesteps and guidance already scaled as the model feeds them to the sinusoid; pooled [B, P].</summary>
    public Tensor Apply(IOps ops, ReadOnlySpan<float> timesteps, ReadOnlySpan<float> guidance, Tensor pooled)
    {
        if (pooled.Dim(0) != timesteps.Length)
            throw new ArgumentException($"pooled projections have batch {pooled.Dim(0)} but there are {timesteps.Length} timesteps");
        var t = _timestep.Embed(ops, timesteps);
        if (_guidance is not null)
        {
            if (guidance.Length != timesteps.Length)
                throw new ArgumentException($"the model has a guidance embedder and needs one guidance value per batch row ({timesteps.Length}), got {guidance.Length}");
            using var g = _guidance.Embed(ops, guidance);
            using var tg = t;
            t = ops.Add(tg, g);
        }
        using (t)
        {
            using var p = _text.Apply(ops, pooled);
            return ops.Add(t, p);
        }
    }
}

using XDit.Kernels;
using XDit.Models.Embeddings;
using XDit.Runtime;

namespace XDit.Models.Mochi;

/// <summary>
/// diffusers MochiCombinedTimestepCaptionEmbedding (time_embed): the conditioning is the timestep's embedding
/// (sinusoid of time_embed_dim channels, cos first, then timestep_embedder's MLP) plus the attention-pooled caption
/// (<see cref="MochiAttentionPool"/>); the caption itself goes through caption_proj to the text stream's width.
/// </summary>
sealed class MochiTimeCaptionEmbedding
{
    readonly TimestepEmbedding _time;
    readonly MochiAttentionPool _pool;
    readonly Linear _captionProj;

    public MochiTimeCaptionEmbedding(WeightScope w, MochiConfig c)
    {
        _time = TimestepEmbedding.Load(w.Pp("timestep_embedder"), c.InnerDim, c.TimeEmbedDim);
        _pool = MochiAttentionPool.Load(w.Pp("pooler"), c.TextEmbedDim, c.InnerDim);
        _captionProj = w.Linear("caption_proj", c.TextEmbedDim, c.PooledProjectionDim);
    }

    /// <summary>temb [B, D] of one timestep per row and the text states [B, T, C_text] with their host mask.</summary>
    public Tensor Conditioning(IOps ops, ReadOnlySpan<float> timesteps, Tensor text, ReadOnlySpan<float> mask)
    {
        using var t = _time.Embed(ops, timesteps);
        using var pooled = _pool.Apply(ops, text, mask);
        return ops.Add(t, pooled);
    }

    /// <summary>The text stream [B, T, pooled_projection_dim].</summary>
    public Tensor Caption(IOps ops, Tensor text) => _captionProj.Apply(ops, text);
}

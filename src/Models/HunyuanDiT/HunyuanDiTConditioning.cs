using XDit.Kernels;
using XDit.Models.Embeddings;
using XDit.Runtime;

namespace XDit.Models.HunyuanDiT;

/// <summary>
/// diffusers HunyuanCombinedTimestepTextSizeStyleEmbedding (time_extra_emb): the timestep embedding plus
/// extra_embedder(cat[pooled mT5, sinusoids of the 6 image-meta-size values, style embedding]), where the pooled
/// vector is the attention pool of the raw mT5 states (before the text embedder). Without the size/style
/// condition the extra input is the pooled vector alone.
/// </summary>
public sealed class HunyuanDiTConditioning
{
    readonly TimestepEmbedding _timestep;
    readonly HunyuanDiTAttentionPool _pooler;
    readonly Tensor? _styleTable;            // [styles, D]
    readonly TextProjection _extra;

    HunyuanDiTConditioning(TimestepEmbedding timestep, HunyuanDiTAttentionPool pooler, Tensor? styleTable, TextProjection extra)
    { _timestep = timestep; _pooler = pooler; _styleTable = styleTable; _extra = extra; }

    public static HunyuanDiTConditioning Load(WeightScope w, HunyuanDiTConfig c)
    {
        int d = c.InnerDim;
        var timestep = TimestepEmbedding.Load(w.Pp("timestep_embedder"), d);
        var pooler = HunyuanDiTAttentionPool.Load(w.Pp("pooler"), c.TextLenT5, c.CrossAttentionDimT5, c.PooledProjectionDim, HunyuanDiTConfig.PoolHeads);
        Tensor? style = null;
        int extraIn = c.PooledProjectionDim;
        if (c.UseStyleCondAndImageMetaSize)
        {
            style = w.GetOperand("style_embedder.weight", 1, d);
            extraIn += TimestepEmbedding.SinusoidChannels * HunyuanDiTConfig.ImageMetaValues + d;
        }
        var extra = TextProjection.Load(w.Pp("extra_embedder"), extraIn, 4 * d, Activation.Silu, d);
        return new(timestep, pooler, style, extra);
    }

    /// <summary>The conditioning [B, D]. t5 [B, L, C_t5]; imageMetaSize [B, 6] and style ids [B] are needed exactly
    /// when the model was built with the size/style condition.</summary>
    public Tensor Apply(IOps ops, ReadOnlySpan<float> timestep, Tensor t5, float[]? imageMetaSize, long[]? style)
    {
        int b = t5.Dim(0);
        using var temb = _timestep.Embed(ops, timestep);
        using var pooled = _pooler.Apply(ops, t5);
        Tensor extraIn;
        if (_styleTable is { } table)
        {
            if (imageMetaSize is null || imageMetaSize.Length != b * HunyuanDiTConfig.ImageMetaValues)
                throw new ArgumentException($"HunyuanDiT with use_style_cond_and_image_meta_size needs image_meta_size [{b}, {HunyuanDiTConfig.ImageMetaValues}]; got {(imageMetaSize is null ? "none" : imageMetaSize.Length + " values")}");
            if (style is null || style.Length != b)
                throw new ArgumentException($"HunyuanDiT with use_style_cond_and_image_meta_size needs one style id per batch row ({b}); got {(style is null ? "none" : style.Length.ToString(System.Globalization.CultureInfo.InvariantCulture))}");
            foreach (var s in style)
                if (s < 0 || s >= table.Dim(0))
                    throw new ArgumentOutOfRangeException(nameof(style), $"HunyuanDiT style id {s} is outside the style_embedder's {table.Dim(0)} rows");
            using var meta = TimestepEmbedding.Sinusoid(ops, imageMetaSize);
            using var styleEmb = ops.Embedding(table, style);
            extraIn = ops.Concat(1, pooled, meta.Reshape(b, HunyuanDiTConfig.ImageMetaValues * TimestepEmbedding.SinusoidChannels), styleEmb);
        }
        else
        {
            if (imageMetaSize is not null || style is not null)
                throw new ArgumentException("HunyuanDiT without use_style_cond_and_image_meta_size takes no image_meta_size or style");
            extraIn = ops.Contiguous(pooled);
        }
        using (extraIn)
        {
            using var extra = _extra.Apply(ops, extraIn);
            return ops.Add(temb, extra);
        }
    }
}

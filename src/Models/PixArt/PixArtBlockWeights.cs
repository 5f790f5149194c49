using XDit.Runtime;

namespace XDit.Models.PixArt;

/// <summary>One attention layer's projections (diffusers Attention: to_q, to_k, to_v, to_out.0).</summary>
public sealed record PixArtAttentionWeights(Linear Q, Linear K, Linear V, Linear Out)
{
    public static PixArtAttentionWeights Load(WeightScope w, int dim, int kvInput, bool bias) => new(
        w.Linear("to_q", dim, dim, bias),
        w.Linear("to_k", kvInput, dim, bias),
        w.Linear("to_v", kvInput, dim, bias),
        w.Linear("to_out.0", dim, dim, true));
}

/// <summary>Weights of transformer_blocks.{i} (BasicTransformerBlock with norm_type ada_norm_single).</summary>
public sealed record PixArtBlockWeights(Tensor ScaleShiftTable, PixArtAttentionWeights SelfAttention,
    PixArtAttentionWeights CrossAttention, Linear FeedForwardIn, Linear FeedForwardOut)
{
    public static PixArtBlockWeights Load(WeightScope w, PixArtConfig c)
    {
        int d = c.InnerDim;
        return new PixArtBlockWeights(
            w.Get("scale_shift_table", 6, d),
            PixArtAttentionWeights.Load(w.Pp("attn1"), d, d, c.AttentionBias),
            PixArtAttentionWeights.Load(w.Pp("attn2"), d, c.CrossAttentionDim, c.AttentionBias),
            w.Linear("ff.net.0.proj", d, 4 * d),
            w.Linear("ff.net.2", 4 * d, d));
    }
}

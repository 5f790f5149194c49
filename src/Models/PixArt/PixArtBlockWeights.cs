using XDit.Runtime;

namespace XDit.Models.PixArt;

/// <summary>One attention layer's projections (diffusers Attention: to_q, to_k, to_v, to_out.0).</summary>
public sealed record PixArtAttentionWeights(Linear Q, Linear K, Linear V, Linear Out)
{
    public static PixArtAttentionWeights Load(ModelWeights w, string prefix, int dim, int kvInput, bool bias) => new(
        w.Linear(prefix + ".to_q", dim, dim, bias),
        w.Linear(prefix + ".to_k", kvInput, dim, bias),
        w.Linear(prefix + ".to_v", kvInput, dim, bias),
        w.Linear(prefix + ".to_out.0", dim, dim, true));
}

/// <summary>Weights of transformer_blocks.{i} (BasicTransformerBlock with norm_type ada_norm_single).</summary>
public sealed record PixArtBlockWeights(Tensor ScaleShiftTable, PixArtAttentionWeights SelfAttention,
    PixArtAttentionWeights CrossAttention, Linear FeedForwardIn, Linear FeedForwardOut)
{
    public static PixArtBlockWeights Load(ModelWeights w, PixArtConfig c, int index)
    {
        string p = $"transformer_blocks.{index}";
        int d = c.InnerDim;
        return new PixArtBlockWeights(
            w.Get(p + ".scale_shift_table", 6, d),
            PixArtAttentionWeights.Load(w, p + ".attn1", d, d, c.AttentionBias),
            PixArtAttentionWeights.Load(w, p + ".attn2", d, c.CrossAttentionDim, c.AttentionBias),
            w.Linear(p + ".ff.net.0.proj", d, 4 * d),
            w.Linear(p + ".ff.net.2", 4 * d, d));
    }
}

using XDit.Runtime;

namespace XDit.Models.HunyuanDiT;

/// <summary>One forward of HunYuanDiT2DModel, as the pipeline calls it. Tensors are on the model's backend and
/// stay the caller's.</summary>
public sealed record HunyuanDiTInputs
{
    /// <summary>Latents [B, C, H, W], H and W multiples of the patch size.</summary>
    public required Tensor HiddenStates { get; init; }
    /// <summary>One timestep per batch row (0..1000).</summary>
    public required float[] Timestep { get; init; }
    /// <summary>BERT states [B, text_len, cross_attention_dim].</summary>
    public required Tensor EncoderHiddenStates { get; init; }
    /// <summary>[B, text_len]: 1 keep, 0 padding (padded tokens are replaced by text_embedding_padding).</summary>
    public required Tensor TextEmbeddingMask { get; init; }
    /// <summary>mT5 states [B, text_len_t5, cross_attention_dim_t5].</summary>
    public required Tensor EncoderHiddenStatesT5 { get; init; }
    /// <summary>[B, text_len_t5]: 1 keep, 0 padding.</summary>
    public required Tensor TextEmbeddingMaskT5 { get; init; }
    /// <summary>The 2-D rotary tables [(H/p)·(W/p), head_dim], features paired (2i, 2i+1), as the pipeline makes
    /// them (get_2d_rotary_pos_embed over the resize-crop region of the grid).</summary>
    public required Tensor RotaryCos { get; init; }
    public required Tensor RotarySin { get; init; }
    /// <summary>[B·6] original size, target size, crop top-left; only with use_style_cond_and_image_meta_size.</summary>
    public float[]? ImageMetaSize { get; init; }
    /// <summary>[B] style ids; only with use_style_cond_and_image_meta_size.</summary>
    public long[]? Style { get; init; }
}

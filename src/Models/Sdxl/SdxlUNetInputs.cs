using XDit.Runtime;

namespace XDit.Models.Sdxl;

/// <summary>Inputs of one UNet forward, named as diffusers' UNet2DConditionModel.forward names them.</summary>
public sealed record SdxlUNetInputs
{
    /// <summary>The noisy latents [B, in_channels, H, W].</summary>
    public required Tensor Sample { get; init; }
    /// <summary>One timestep per batch row (0..1000, as the scheduler gives it).</summary>
    public required float[] Timestep { get; init; }
    /// <summary>The text states [B, T, cross_attention_dim] (SDXL: both CLIP encoders' penultimate states
    /// concatenated along the features).</summary>
    public required Tensor EncoderHiddenStates { get; init; }
    /// <summary>added_cond_kwargs["text_embeds"]: the pooled text embedding [B, P] (SDXL: text_encoder_2's
    /// projection); required with addition_embed_type "text_time".</summary>
    public Tensor? TextEmbeds { get; init; }
    /// <summary>added_cond_kwargs["time_ids"], row-major [B, n] on the host (SDXL: original size, crop top-left,
    /// target size, n = 6).</summary>
    public float[]? TimeIds { get; init; }
}

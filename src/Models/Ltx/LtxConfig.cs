using XDit.Runtime;

namespace XDit.Models.Ltx;

/// <summary>
/// config.json of diffusers' LTXVideoTransformer3DModel, with diffusers' constructor defaults for missing keys (those
/// of LTX-Video 0.9: 28 layers of 32 heads × 64, T5-XXL captions of 4096, 128 latent channels, patch 1). The patch
/// sizes only scale the RoPE grid: the pipeline packs the latents into tokens itself, and proj_in takes each token's
/// in_channels as they come.
/// </summary>
public sealed record LtxConfig
{
    public const string ClassName = "LTXVideoTransformer3DModel";
    /// <summary>The one qk_norm diffusers' LTXAttention builds (it raises on any other).</summary>
    public const string QkNormAcrossHeads = "rms_norm_across_heads";
    public const string GeluTanh = "gelu-approximate";

    public int InChannels { get; init; } = 128;
    public int OutChannels { get; init; } = 128;
    public int PatchSize { get; init; } = 1;
    public int PatchSizeT { get; init; } = 1;
    public int NumAttentionHeads { get; init; } = 32;
    public int AttentionHeadDim { get; init; } = 64;
    /// <summary>Width of attn2's keys and values: the projected caption, so it must be the inner width.</summary>
    public int CrossAttentionDim { get; init; } = 2048;
    public int NumLayers { get; init; } = 28;
    /// <summary>norm1 and norm2 (RMSNorm) with a weight [D]; false in every released checkpoint.</summary>
    public bool NormElementwiseAffine { get; init; }
    /// <summary>eps of norm1 and norm2 (the q/k norms' is 1e-5, fixed in diffusers' LTXAttention; norm_out's 1e-6).</summary>
    public double NormEps { get; init; } = 1e-6;
    /// <summary>Width of the text encoder's states (caption_projection's input).</summary>
    public int CaptionChannels { get; init; } = 4096;
    public bool AttentionBias { get; init; } = true;
    public bool AttentionOutBias { get; init; } = true;

    /// <summary>D = heads × head_dim.</summary>
    public int InnerDim => NumAttentionHeads * AttentionHeadDim;

    public static LtxConfig Load(string path) => From(JsonConfig.Load(path));

    public static LtxConfig From(JsonConfig c)
    {
        if (c.ClassName is { } name && name != ClassName)
            throw new NotSupportedException($"{c.Path}: _class_name is '{name}', expected '{ClassName}'");
        var qk = c.GetString("qk_norm", QkNormAcrossHeads);
        if (qk != QkNormAcrossHeads)
            throw new NotSupportedException($"{c.Path}: qk_norm '{qk}' is not supported (expected '{QkNormAcrossHeads}', the only one diffusers' LTXAttention builds)");
        var act = c.GetString("activation_fn", GeluTanh);
        if (act != GeluTanh)
            throw new NotSupportedException($"{c.Path}: activation_fn '{act}' is not supported (expected '{GeluTanh}', as every released checkpoint has)");
        int inChannels = c.GetInt("in_channels", 128, 1, ConfigBounds.Width);
        var cfg = new LtxConfig
        {
            InChannels = inChannels,
            // diffusers: out_channels or in_channels (an explicit null takes in_channels)
            OutChannels = c.GetInt("out_channels", inChannels, 1, ConfigBounds.Width),
            PatchSize = c.GetInt("patch_size", 1, 1, ConfigBounds.PatchSize),
            PatchSizeT = c.GetInt("patch_size_t", 1, 1, ConfigBounds.PatchSize),
            NumAttentionHeads = c.GetInt("num_attention_heads", 32, 1, ConfigBounds.Heads),
            AttentionHeadDim = c.GetInt("attention_head_dim", 64, 1, ConfigBounds.HeadDim),
            CrossAttentionDim = c.GetInt("cross_attention_dim", 2048, 1, ConfigBounds.Width),
            NumLayers = c.GetInt("num_layers", 28, 1, ConfigBounds.Layers),
            NormElementwiseAffine = c.GetBool("norm_elementwise_affine", false),
            NormEps = c.GetPositiveDouble("norm_eps", 1e-6),
            CaptionChannels = c.GetInt("caption_channels", 4096, 1, ConfigBounds.Width),
            AttentionBias = c.GetBool("attention_bias", true),
            AttentionOutBias = c.GetBool("attention_out_bias", true),
        };
        cfg.Validate(c.Path);
        return cfg;
    }

    /// <summary>Refuses, naming the file and key, what diffusers would fail on or the code cannot run.</summary>
    public void Validate(string path)
    {
        long d = (long)NumAttentionHeads * AttentionHeadDim;
        if (d > ConfigBounds.Width)
            throw new FormatException($"{path}: num_attention_heads × attention_head_dim = {d} is more than {ConfigBounds.Width}");
        // the RoPE rotates pairs of features over the whole row of all heads, from its first feature on
        if (d % 2 != 0 || d < 6)
            throw new FormatException($"{path}: num_attention_heads × attention_head_dim = {d} must be even and at least 6 (the 3-D RoPE turns pairs of the {d} features, a third of them per axis)");
        // attn2's keys come from the caption projection, which is D wide whatever cross_attention_dim says
        if (CrossAttentionDim != d)
            throw new FormatException($"{path}: cross_attention_dim {CrossAttentionDim} must equal num_attention_heads × attention_head_dim = {d} (attn2 attends to the caption projected to that width)");
    }
}

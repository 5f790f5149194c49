using XDit.Runtime;

namespace XDit.Models.Sana;

/// <summary>
/// The keys of a SanaTransformer2DModel config.json that the forward pass depends on, with diffusers' constructor
/// defaults (Sana 1600M's widths) for missing keys. SANA Sprint's guidance embedding (guidance_embeds) and its
/// q/k RMSNorms across heads (qk_norm "rms_norm_across_heads") are read; refused is what this implementation cannot
/// run: other qk norms, affine block norms, a cross-attention of another width than the blocks'. timestep_scale is
/// the pipeline's (SanaPipeline multiplies it in; the transformer never reads it).
/// </summary>
public sealed record SanaConfig
{
    public const string ClassName = "SanaTransformer2DModel";
    /// <summary>The qk_norm value this implementation runs: RMSNorm over all heads of q and of k (norm_q, norm_k).</summary>
    public const string QkNormAcrossHeads = "rms_norm_across_heads";

    public required int InChannels { get; init; }
    public required int OutChannels { get; init; }
    public required int NumAttentionHeads { get; init; }
    public required int AttentionHeadDim { get; init; }
    public required int NumLayers { get; init; }
    public required int NumCrossAttentionHeads { get; init; }
    public required int CrossAttentionHeadDim { get; init; }
    public required int CrossAttentionDim { get; init; }
    public required int CaptionChannels { get; init; }
    public required double MlpRatio { get; init; }
    public required bool AttentionBias { get; init; }
    public required int SampleSize { get; init; }
    public required int PatchSize { get; init; }
    public required double NormEps { get; init; }
    /// <summary>Null: no position embedding (Sana's configs); else PatchEmbed's sin-cos table at this scale.</summary>
    public double? InterpolationScale { get; init; }
    /// <summary>SANA Sprint: time_embed is SanaCombinedTimestepGuidanceEmbeddings (timestep and guidance
    /// embedders, summed) and the forward needs a guidance value per row.</summary>
    public bool GuidanceEmbeds { get; init; }
    /// <summary>What SanaSprintPipeline multiplies guidance_scale by before the transformer sees it (diffusers' 0.1).</summary>
    public double GuidanceEmbedsScale { get; init; } = 0.1;
    /// <summary>Whether attn1 and attn2 RMS-normalise q and k over the whole inner dim (qk_norm
    /// "rms_norm_across_heads"; weights norm_q / norm_k).</summary>
    public bool QkNorm { get; init; }

    /// <summary>D = heads × head_dim.</summary>
    public int InnerDim => NumAttentionHeads * AttentionHeadDim;
    /// <summary>GLUMBConv's hidden width int(mlp_ratio · D).</summary>
    public int FfnHidden => (int)(MlpRatio * InnerDim);
    /// <summary>Patch grid side of the trained resolution: the position table's base_size.</summary>
    public int BaseSize => SampleSize / PatchSize;

    public static SanaConfig Load(string path) => From(JsonConfig.Load(path));

    public static SanaConfig From(JsonConfig c)
    {
        var cls = c.ClassName;
        if (cls is not null && cls != ClassName)
            throw new NotSupportedException($"{c.Path}: _class_name '{cls}' is not a SANA transformer (expected {ClassName})");
        var qkNorm = c.GetString("qk_norm", null);
        if (qkNorm is not null && qkNorm != QkNormAcrossHeads)
            throw new NotSupportedException($"{c.Path}: qk_norm '{qkNorm}' is not supported (null or '{QkNormAcrossHeads}')");
        if (c.GetBool("norm_elementwise_affine", false))
            throw new NotSupportedException($"{c.Path}: norm_elementwise_affine true is not supported (SANA's block norms have no parameters)");
        if (!c.Has("cross_attention_dim") && c.Root.TryGetProperty("cross_attention_dim", out _))
            throw new NotSupportedException($"{c.Path}: cross_attention_dim null (blocks without cross-attention) is not supported");
        int inChannels = c.GetInt("in_channels", 32, 1, ConfigBounds.Width);
        var cfg = new SanaConfig
        {
            InChannels = inChannels,
            // diffusers: missing → its default 32, explicit null → in_channels
            OutChannels = c.Has("out_channels") ? c.GetIntIn("out_channels", 1, ConfigBounds.Width) : c.Root.TryGetProperty("out_channels", out _) ? inChannels : 32,
            NumAttentionHeads = c.GetInt("num_attention_heads", 70, 1, ConfigBounds.Heads),
            AttentionHeadDim = c.GetInt("attention_head_dim", 32, 1, ConfigBounds.HeadDim),
            NumLayers = c.GetInt("num_layers", 20, 1, ConfigBounds.Layers),
            NumCrossAttentionHeads = c.GetInt("num_cross_attention_heads", 20, 1, ConfigBounds.Heads),
            CrossAttentionHeadDim = c.GetInt("cross_attention_head_dim", 112, 1, ConfigBounds.HeadDim),
            CrossAttentionDim = c.GetInt("cross_attention_dim", 2240, 1, ConfigBounds.Width),
            CaptionChannels = c.GetInt("caption_channels", 2304, 1, ConfigBounds.Width),
            MlpRatio = c.GetPositiveDouble("mlp_ratio", 2.5),
            AttentionBias = c.GetBool("attention_bias", false),
            SampleSize = c.GetInt("sample_size", 32, 1, ConfigBounds.SampleSize),
            PatchSize = c.GetInt("patch_size", 1, 1, ConfigBounds.PatchSize),
            NormEps = c.GetPositiveDouble("norm_eps", 1e-6),
            InterpolationScale = c.GetDoubleOrNull("interpolation_scale"),
            GuidanceEmbeds = c.GetBool("guidance_embeds", false),
            GuidanceEmbedsScale = c.GetFiniteDouble("guidance_embeds_scale", 0.1),
            QkNorm = qkNorm is not null,
        };
        cfg.Validate(c.Path, c.DefaultsNote("num_attention_heads", "attention_head_dim", "num_cross_attention_heads", "cross_attention_head_dim", "cross_attention_dim"));
        return cfg;
    }

    /// <param name="defaults">which of the width keys the file lacks (<see cref="JsonConfig.DefaultsNote"/>)</param>
    void Validate(string path, string defaults)
    {
        if ((long)NumAttentionHeads * AttentionHeadDim > ConfigBounds.Width)
            throw new FormatException($"{path}: num_attention_heads × attention_head_dim = {(long)NumAttentionHeads * AttentionHeadDim} is more than {ConfigBounds.Width}");
        if ((long)NumCrossAttentionHeads * CrossAttentionHeadDim != InnerDim)
            throw new NotSupportedException($"{path}: num_cross_attention_heads {NumCrossAttentionHeads} × cross_attention_head_dim {CrossAttentionHeadDim} must equal num_attention_heads {NumAttentionHeads} × attention_head_dim {AttentionHeadDim} = {InnerDim}{defaults}");
        if (CrossAttentionDim != InnerDim)
            throw new NotSupportedException($"{path}: cross_attention_dim {CrossAttentionDim} must equal the inner dim {InnerDim} (the caption is projected to it){defaults}");
        if (FfnHidden < 1 || FfnHidden > ConfigBounds.Width)
            throw new FormatException($"{path}: mlp_ratio {MlpRatio} × inner dim {InnerDim} gives a GLUMBConv width of {FfnHidden}, outside 1..{ConfigBounds.Width}");
        if (SampleSize % PatchSize != 0)
            throw new FormatException($"{path}: sample_size {SampleSize} is not a multiple of patch_size {PatchSize}");
        if (InterpolationScale is <= 0)
            throw new FormatException($"{path}: interpolation_scale {InterpolationScale} must be positive (or null: no position embedding)");
    }
}

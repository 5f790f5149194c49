using XDit.Runtime;

namespace XDit.Models.Sana;

/// <summary>
/// The keys of a SanaTransformer2DModel config.json that the forward pass depends on, with diffusers' constructor
/// defaults (Sana 1600M's widths) for missing keys. Refuses what this implementation cannot run: SANA Sprint's
/// guidance embedding and qk norms, affine block norms, a cross-attention of another width than the blocks'.
/// </summary>
public sealed record SanaConfig
{
    public const string ClassName = "SanaTransformer2DModel";

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
        if (c.GetBool("guidance_embeds", false))
            throw new NotSupportedException($"{c.Path}: guidance_embeds true (SANA Sprint's guidance embedding) is not supported");
        var qkNorm = c.GetString("qk_norm", null);
        if (qkNorm is not null)
            throw new NotSupportedException($"{c.Path}: qk_norm '{qkNorm}' is not supported (only null)");
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

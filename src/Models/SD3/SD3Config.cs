using XDit.Runtime;

namespace XDit.Models.SD3;

/// <summary>
/// config.json of diffusers' SD3Transformer2DModel (SD3, SD3.5). Missing keys take diffusers' constructor defaults.
/// </summary>
public sealed record SD3Config
{
    public const string ClassName = "SD3Transformer2DModel";

    public int SampleSize { get; init; } = 128;
    public int PatchSize { get; init; } = 2;
    public int InChannels { get; init; } = 16;
    public int NumLayers { get; init; } = 18;
    public int AttentionHeadDim { get; init; } = 64;
    public int NumAttentionHeads { get; init; } = 18;
    public int JointAttentionDim { get; init; } = 4096;
    public int CaptionProjectionDim { get; init; } = 1152;
    public int PooledProjectionDim { get; init; } = 2048;
    public int OutChannels { get; init; } = 16;
    public int PosEmbedMaxSize { get; init; } = 96;
    /// <summary>Blocks with SD3.5's second (image-only) self-attention attn2.</summary>
    public int[] DualAttentionLayers { get; init; } = [];
    /// <summary>null or "rms_norm".</summary>
    public string? QkNorm { get; init; }

    /// <summary>D = heads × head_dim.</summary>
    public int InnerDim => NumAttentionHeads * AttentionHeadDim;
    public bool HasQkNorm => QkNorm is not null;

    public static SD3Config Load(string path) => From(JsonConfig.Load(path));

    public static SD3Config From(JsonConfig c)
    {
        if (c.ClassName is { } name && name != ClassName)
            throw new NotSupportedException($"{c.Path}: _class_name is '{name}', expected '{ClassName}'");
        int inChannels = c.GetInt("in_channels", 16, 1, ConfigBounds.Width);
        var cfg = new SD3Config
        {
            SampleSize = c.GetInt("sample_size", 128, 1, ConfigBounds.SampleSize),
            PatchSize = c.GetInt("patch_size", 2, 1, ConfigBounds.PatchSize),
            InChannels = inChannels,
            NumLayers = c.GetInt("num_layers", 18, 1, ConfigBounds.Layers),
            AttentionHeadDim = c.GetInt("attention_head_dim", 64, 1, ConfigBounds.HeadDim),
            NumAttentionHeads = c.GetInt("num_attention_heads", 18, 1, ConfigBounds.Heads),
            JointAttentionDim = c.GetInt("joint_attention_dim", 4096, 1, ConfigBounds.Width),
            CaptionProjectionDim = c.GetInt("caption_projection_dim", 1152, 1, ConfigBounds.Width),
            PooledProjectionDim = c.GetInt("pooled_projection_dim", 2048, 1, ConfigBounds.Width),
            // diffusers: out_channels defaults to 16; an explicit null means in_channels.
            OutChannels = c.Root.TryGetProperty("out_channels", out _) ? c.GetInt("out_channels", inChannels, 1, ConfigBounds.Width) : 16,
            PosEmbedMaxSize = c.GetInt("pos_embed_max_size", 96, 1, ConfigBounds.SampleSize),
            DualAttentionLayers = c.GetIntArrayOrNull("dual_attention_layers") ?? [],
            QkNorm = c.GetString("qk_norm", null),
        };
        cfg.Validate(c.Path, c.DefaultsNote("num_attention_heads", "attention_head_dim", "caption_projection_dim"));
        return cfg;
    }

    /// <param name="defaults">which of the width keys the file lacks (<see cref="JsonConfig.DefaultsNote"/>)</param>
    void Validate(string path, string defaults)
    {
        if (QkNorm is not null && QkNorm != "rms_norm")
            throw new NotSupportedException($"{path}: qk_norm '{QkNorm}' is not supported (only null or \"rms_norm\")");
        if (CaptionProjectionDim != InnerDim)
            throw new NotSupportedException($"{path}: caption_projection_dim {CaptionProjectionDim} must equal num_attention_heads {NumAttentionHeads} × attention_head_dim {AttentionHeadDim} = {InnerDim}{defaults}");
        if (NumLayers < 1 || PatchSize < 1 || NumAttentionHeads < 1 || AttentionHeadDim < 1 || PosEmbedMaxSize < 1)
            throw new FormatException($"{path}: num_layers, patch_size, num_attention_heads, attention_head_dim and pos_embed_max_size must be positive");
        if ((long)NumAttentionHeads * AttentionHeadDim > ConfigBounds.Width)
            throw new FormatException($"{path}: num_attention_heads × attention_head_dim = {(long)NumAttentionHeads * AttentionHeadDim} is more than {ConfigBounds.Width}");
        foreach (var l in DualAttentionLayers)
            if (l < 0 || l >= NumLayers) throw new FormatException($"{path}: dual_attention_layers names layer {l}, outside 0..{NumLayers - 1}");
    }
}

using XDit.Runtime;

namespace XDit.Models.PixArt;

/// <summary>
/// The keys of a PixArtTransformer2DModel config.json that the forward pass depends on, with diffusers' defaults
/// for missing keys. Older hub folders name the class "Transformer2DModel"; with norm_type "ada_norm_single" it is
/// the same model and the same tensor names.
/// </summary>
public sealed record PixArtConfig
{
    public required int NumAttentionHeads { get; init; }
    public required int AttentionHeadDim { get; init; }
    public required int InChannels { get; init; }
    public required int OutChannels { get; init; }
    public required int NumLayers { get; init; }
    public required int CrossAttentionDim { get; init; }
    public required bool AttentionBias { get; init; }
    public required int SampleSize { get; init; }
    public required int PatchSize { get; init; }
    public required string ActivationFn { get; init; }
    public required double NormEps { get; init; }
    /// <summary>Scale of the position table: config value, else max(sample_size // 64, 1) as diffusers does.</summary>
    public required double InterpolationScale { get; init; }
    /// <summary>α-1024's resolution and aspect-ratio embeddings: config value, else sample_size == 128.</summary>
    public required bool UseAdditionalConditions { get; init; }
    /// <summary>Width of the text encoder states; null means no caption projection (states are already D wide).</summary>
    public int? CaptionChannels { get; init; }

    /// <summary>D = heads × head_dim.</summary>
    public int InnerDim => NumAttentionHeads * AttentionHeadDim;
    /// <summary>Patch grid side of the trained resolution: the position table's base_size.</summary>
    public int BaseSize => SampleSize / PatchSize;
    /// <summary>Width of each micro-condition embedding (D // 3).</summary>
    public int SizeEmbedDim => InnerDim / 3;

    static readonly string[] ClassNames = ["PixArtTransformer2DModel", "Transformer2DModel"];

    public static PixArtConfig Load(string path) => From(JsonConfig.Load(path));

    public static PixArtConfig From(JsonConfig c)
    {
        var cls = c.ClassName;
        if (cls is not null && !ClassNames.Contains(cls))
            throw new NotSupportedException($"{c.Path}: _class_name '{cls}' is not a PixArt transformer (expected {string.Join(" or ", ClassNames)})");
        var normType = c.GetString("norm_type", "ada_norm_single")!;
        if (normType != "ada_norm_single")
            throw new NotSupportedException($"{c.Path}: norm_type '{normType}' is not supported (PixArt needs 'ada_norm_single')");
        if (cls == "Transformer2DModel" && !c.Has("norm_type"))
            throw new NotSupportedException($"{c.Path}: a Transformer2DModel config without norm_type 'ada_norm_single' is not a PixArt transformer");
        if (!c.Has("num_embeds_ada_norm") && c.Root.TryGetProperty("num_embeds_ada_norm", out _))
            throw new FormatException($"{c.Path}: key 'num_embeds_ada_norm' is null; ada_norm_single needs it set");

        int sampleSize = c.GetIntIn("sample_size", 1, ConfigBounds.SampleSize);          // diffusers has no default either
        int patchSize = c.GetIntIn("patch_size", 1, ConfigBounds.PatchSize);
        int inChannels = c.GetIntIn("in_channels", 1, ConfigBounds.Width);
        int heads = c.GetInt("num_attention_heads", 16, 1, ConfigBounds.Heads);
        int headDim = c.GetInt("attention_head_dim", 72, 1, ConfigBounds.HeadDim);
        var act = c.GetString("activation_fn", "gelu-approximate")!;
        if (act != "gelu-approximate")
            throw new NotSupportedException($"{c.Path}: activation_fn '{act}' is not supported (PixArt uses 'gelu-approximate')");
        var attnType = c.GetString("attention_type", "default");
        if (attnType != "default")
            throw new NotSupportedException($"{c.Path}: attention_type '{attnType}' is not supported (only 'default')");
        if (c.GetBool("norm_elementwise_affine", false))
            throw new NotSupportedException($"{c.Path}: norm_elementwise_affine true is not supported (PixArt's norms have no parameters)");
        if (c.GetBool("only_cross_attention", false))
            throw new NotSupportedException($"{c.Path}: only_cross_attention true is not supported");
        if (sampleSize % patchSize != 0)
            throw new FormatException($"{c.Path}: sample_size {sampleSize} is not a multiple of patch_size {patchSize}");

        bool useAdditional = c.Has("use_additional_conditions") ? c.GetBool("use_additional_conditions", false) : sampleSize == 128;
        if ((long)heads * headDim > ConfigBounds.Width)
            throw new FormatException($"{c.Path}: num_attention_heads × attention_head_dim = {(long)heads * headDim} is more than {ConfigBounds.Width}");
        int inner = heads * headDim;
        if (useAdditional && inner % 3 != 0)
            throw new FormatException($"{c.Path}: use_additional_conditions needs num_attention_heads × attention_head_dim ({inner}) divisible by 3");

        var cfg = new PixArtConfig
        {
            NumAttentionHeads = heads,
            AttentionHeadDim = headDim,
            InChannels = inChannels,
            // diffusers: missing → 8, explicit null → in_channels
            OutChannels = c.Has("out_channels") ? c.GetIntIn("out_channels", 1, ConfigBounds.Width) : c.Root.TryGetProperty("out_channels", out _) ? inChannels : 8,
            NumLayers = c.GetInt("num_layers", 28, 1, ConfigBounds.Layers),
            CrossAttentionDim = c.GetInt("cross_attention_dim", 1152, 1, ConfigBounds.Width),
            AttentionBias = c.GetBool("attention_bias", true),
            SampleSize = sampleSize,
            PatchSize = patchSize,
            ActivationFn = act,
            NormEps = c.GetPositiveDouble("norm_eps", 1e-6),
            InterpolationScale = c.GetDoubleOrNull("interpolation_scale") ?? Math.Max(sampleSize / 64, 1),
            UseAdditionalConditions = useAdditional,
            CaptionChannels = c.Has("caption_channels") ? c.GetIntIn("caption_channels", 1, ConfigBounds.Width) : null,
        };
        if (cfg.CaptionChannels is not null && cfg.CrossAttentionDim != inner)
            throw new FormatException($"{c.Path}: cross_attention_dim {cfg.CrossAttentionDim} must equal the inner dim {inner} = num_attention_heads {heads} × attention_head_dim {headDim} when the caption is projected (caption_channels set){c.DefaultsNote("num_attention_heads", "attention_head_dim", "cross_attention_dim")}");
        return cfg;
    }
}

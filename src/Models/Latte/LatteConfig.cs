using XDit.Runtime;

namespace XDit.Models.Latte;

/// <summary>
/// The keys of a LatteTransformer3DModel config.json, with diffusers' constructor defaults for missing keys. The
/// spatial blocks are PixArt's (BasicTransformerBlock with norm_type "ada_norm_single"), so the same settings are
/// refused: anything but GELU-tanh feed-forwards, norms with parameters, a caption that is not projected.
/// </summary>
public sealed record LatteConfig
{
    public const string ClassName = "LatteTransformer3DModel";

    public int NumAttentionHeads { get; init; } = 16;
    public int AttentionHeadDim { get; init; } = 88;
    public required int InChannels { get; init; }
    /// <summary>out_channels, or in_channels when the key is missing or null (diffusers' default None).</summary>
    public required int OutChannels { get; init; }
    public int NumLayers { get; init; } = 1;
    public required int CrossAttentionDim { get; init; }
    public bool AttentionBias { get; init; }
    public int SampleSize { get; init; } = 64;
    public required int PatchSize { get; init; }
    public double NormEps { get; init; } = 1e-5;
    public required int CaptionChannels { get; init; }
    /// <summary>Frames the temporal position table has rows for: a forward with temporal attention runs this many
    /// latent frames (or one, which adds no table).</summary>
    public int VideoLength { get; init; } = 16;

    /// <summary>D = heads × head_dim.</summary>
    public int InnerDim => NumAttentionHeads * AttentionHeadDim;
    /// <summary>Patch grid side of the trained size: the 2-D position table's base_size.</summary>
    public int BaseSize => SampleSize / PatchSize;
    /// <summary>PatchEmbed's interpolation scale: max(sample_size // 64, 1), as the Latte model fixes it.</summary>
    public double InterpolationScale => Math.Max(SampleSize / 64, 1);
    /// <summary>Features of one output token: p·p·C_out (proj_out's width).</summary>
    public int OutFeatures => PatchSize * PatchSize * OutChannels;

    public static LatteConfig Load(string path) => From(JsonConfig.Load(path));

    public static LatteConfig From(JsonConfig c)
    {
        var cls = c.ClassName;
        if (cls is not null && cls != ClassName)
            throw new NotSupportedException($"{c.Path}: _class_name is '{cls}', expected '{ClassName}'");
        var normType = c.GetString("norm_type", "layer_norm")!;
        if (normType != "ada_norm_single")
            throw new NotSupportedException($"{c.Path}: key 'norm_type' is '{normType}', expected 'ada_norm_single' (Latte's released models; other norms are not implemented)");
        var act = c.GetString("activation_fn", "geglu")!;
        if (act != "gelu-approximate")
            throw new NotSupportedException($"{c.Path}: key 'activation_fn' is '{act}', expected 'gelu-approximate' (the only feed-forward implemented)");
        if (c.GetBool("norm_elementwise_affine", true))
            throw new NotSupportedException($"{c.Path}: key 'norm_elementwise_affine' is true{(c.Has("norm_elementwise_affine") ? "" : " (not in the file: diffusers' default)")}, expected false (ada_norm_single blocks without norm parameters)");

        int inChannels = c.GetIntIn("in_channels", 1, ConfigBounds.Width);
        int patchSize = c.GetIntIn("patch_size", 1, ConfigBounds.PatchSize);
        int heads = c.GetInt("num_attention_heads", 16, 1, ConfigBounds.Heads);
        int headDim = c.GetInt("attention_head_dim", 88, 1, ConfigBounds.HeadDim);
        if ((long)heads * headDim > ConfigBounds.Width)
            throw new FormatException($"{c.Path}: num_attention_heads × attention_head_dim = {(long)heads * headDim} is more than {ConfigBounds.Width}");
        int inner = heads * headDim;
        if (inner % 4 != 0)
            throw new FormatException($"{c.Path}: num_attention_heads × attention_head_dim = {inner} must be divisible by 4 (the 2-D sin-cos position table){c.DefaultsNote("num_attention_heads", "attention_head_dim")}");
        int sampleSize = c.GetInt("sample_size", 64, 1, ConfigBounds.SampleSize);
        if (sampleSize % patchSize != 0)
            throw new FormatException($"{c.Path}: sample_size {sampleSize} is not a multiple of patch_size {patchSize}{c.DefaultsNote("sample_size")}");
        // the caption is always projected (PixArtAlphaTextProjection(caption_channels → D)), so attn2's keys are D wide
        int caption = c.GetIntIn("caption_channels", 1, ConfigBounds.Width);
        int cross = c.GetIntIn("cross_attention_dim", 1, ConfigBounds.Width);
        if (cross != inner)
            throw new FormatException($"{c.Path}: key 'cross_attention_dim' is {cross}, expected {inner} = num_attention_heads × attention_head_dim (the projected caption's width){c.DefaultsNote("num_attention_heads", "attention_head_dim")}");
        double dropout = c.GetDouble("dropout", 0.0);
        if (dropout < 0 || dropout >= 1)
            throw new FormatException($"{c.Path}: key 'dropout' is {dropout}, expected a probability in [0, 1) (inference ignores it)");
        if (c.Has("num_embeds_ada_norm"))
            c.GetIntIn("num_embeds_ada_norm", 1, ConfigBounds.TrainTimesteps);   // ada_norm_single does not read it; checked for shape only

        return new LatteConfig
        {
            NumAttentionHeads = heads,
            AttentionHeadDim = headDim,
            InChannels = inChannels,
            OutChannels = c.Has("out_channels") ? c.GetIntIn("out_channels", 1, ConfigBounds.Width) : inChannels,
            NumLayers = c.GetInt("num_layers", 1, 1, ConfigBounds.Layers),
            CrossAttentionDim = cross,
            AttentionBias = c.GetBool("attention_bias", false),
            SampleSize = sampleSize,
            PatchSize = patchSize,
            NormEps = c.GetPositiveDouble("norm_eps", 1e-5),
            CaptionChannels = caption,
            VideoLength = c.GetInt("video_length", 16, 1, ConfigBounds.Positions),
        };
    }
}

using XDit.Runtime;

namespace XDit.Models.HunyuanDiT;

/// <summary>
/// The keys of a HunYuanDiT2DModel config.json that the forward pass depends on, with diffusers' constructor
/// defaults for missing keys (HunyuanDiT v1.2: 16 heads of 88, 40 layers, BERT 1024 wide, mT5 2048 wide).
/// </summary>
public sealed record HunyuanDiTConfig
{
    public const string ClassName = "HunyuanDiT2DModel";

    public required int NumAttentionHeads { get; init; }
    public required int AttentionHeadDim { get; init; }
    public required int InChannels { get; init; }
    public required int PatchSize { get; init; }
    public required bool LearnSigma { get; init; }
    public required double MlpRatio { get; init; }
    public required int NumLayers { get; init; }
    /// <summary>Width of the BERT states, and of the mT5 states after the text embedder.</summary>
    public required int CrossAttentionDim { get; init; }
    /// <summary>Width of the mT5 states as they come in.</summary>
    public required int CrossAttentionDimT5 { get; init; }
    /// <summary>Width of the attention-pooled mT5 vector in the conditioning.</summary>
    public required int PooledProjectionDim { get; init; }
    /// <summary>Token counts of the BERT and mT5 states (the padding table has TextLen + TextLenT5 rows; the pool's
    /// position table TextLenT5 + 1).</summary>
    public required int TextLen { get; init; }
    public required int TextLenT5 { get; init; }
    /// <summary>v1.1/v1.2 condition on the image size/crop (6 numbers) and a style id; diffusers' default is true.</summary>
    public required bool UseStyleCondAndImageMetaSize { get; init; }

    /// <summary>D = heads × head_dim.</summary>
    /// <summary>Latent side the model was trained at (sample_size; 128 in v1.x, diffusers' default 32): the
    /// pipeline's default size is this times the VAE factor.</summary>
    public int SampleSize { get; init; } = 32;
    public int InnerDim => NumAttentionHeads * AttentionHeadDim;
    public int OutChannels => LearnSigma ? 2 * InChannels : InChannels;
    /// <summary>FFN width: int(D · mlp_ratio), as diffusers truncates it.</summary>
    public int FeedForwardDim => (int)(InnerDim * MlpRatio);
    /// <summary>Heads of the attention pool of the mT5 states (fixed at 8 in diffusers).</summary>
    public const int PoolHeads = 8;
    /// <summary>Number of image-meta-size values per sample (original size, target size, crop top-left).</summary>
    public const int ImageMetaValues = 6;

    public static HunyuanDiTConfig Load(string path) => From(JsonConfig.Load(path));

    /// <summary>Whether a checkpoint of this config holds the tensor <paramref name="name"/>, as far as the loader
    /// probes: blocks.i.skip_* only in the blocks after the middle (i &gt; num_layers/2), the style embedder only with
    /// the size/style condition. What a made-up checkpoint (<see cref="RandomCheckpoint"/>) answers.</summary>
    public bool Holds(string name)
    {
        if (name.Contains("style_embedder", StringComparison.Ordinal)) return UseStyleCondAndImageMetaSize;
        var parts = name.Split('.');
        if (parts.Length > 2 && parts[0] == "blocks" && parts[2].StartsWith("skip_", StringComparison.Ordinal)
            && int.TryParse(parts[1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int i))
            return i > NumLayers / 2;
        return true;
    }

    public static HunyuanDiTConfig From(JsonConfig c)
    {
        var cls = c.ClassName;
        if (cls is not null && cls != ClassName)
            throw new NotSupportedException($"{c.Path}: _class_name '{cls}' is not a HunyuanDiT transformer (expected {ClassName})");
        var act = c.GetString("activation_fn", "gelu-approximate")!;
        if (act != "gelu-approximate")
            throw new NotSupportedException($"{c.Path}: activation_fn '{act}' is not supported (HunyuanDiT uses 'gelu-approximate')");
        var norm = c.GetString("norm_type", "layer_norm")!;
        if (norm != "layer_norm")
            throw new NotSupportedException($"{c.Path}: norm_type '{norm}' is not supported (only 'layer_norm')");
        var cfg = new HunyuanDiTConfig
        {
            NumAttentionHeads = c.GetInt("num_attention_heads", 16),
            AttentionHeadDim = c.GetInt("attention_head_dim", 88),
            InChannels = c.GetInt("in_channels", 4),
            PatchSize = c.GetInt("patch_size", 2),
            LearnSigma = c.GetBool("learn_sigma", true),
            MlpRatio = c.GetDouble("mlp_ratio", 4.0),
            NumLayers = c.GetInt("num_layers", 40),
            CrossAttentionDim = c.GetInt("cross_attention_dim", 1024),
            CrossAttentionDimT5 = c.GetInt("cross_attention_dim_t5", 2048),
            PooledProjectionDim = c.GetInt("pooled_projection_dim", 1024),
            TextLen = c.GetInt("text_len", 77),
            TextLenT5 = c.GetInt("text_len_t5", 256),
            UseStyleCondAndImageMetaSize = c.GetBool("use_style_cond_and_image_meta_size", true),
            SampleSize = c.GetInt("sample_size", 32),
        };
        if (c.Has("hidden_size") && c.GetInt("hidden_size") != cfg.InnerDim)
            throw new NotSupportedException($"{c.Path}: hidden_size {c.GetInt("hidden_size")} ≠ num_attention_heads × attention_head_dim ({cfg.InnerDim}); diffusers builds the blocks {cfg.InnerDim} wide, so such a checkpoint cannot load");
        if (cfg.NumLayers < 2 || cfg.NumLayers % 2 != 0)
            throw new FormatException($"{c.Path}: num_layers {cfg.NumLayers} must be even and at least 2: the long skips pair block i with block num_layers − 1 − i");
        if (cfg.AttentionHeadDim % 2 != 0)
            throw new FormatException($"{c.Path}: attention_head_dim {cfg.AttentionHeadDim} must be even for the rotary embedding");
        if (cfg.CrossAttentionDimT5 % PoolHeads != 0)
            throw new FormatException($"{c.Path}: cross_attention_dim_t5 {cfg.CrossAttentionDimT5} must be divisible by the pool's {PoolHeads} heads");
        return cfg;
    }
}

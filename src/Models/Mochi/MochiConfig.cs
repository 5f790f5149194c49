using XDit.Runtime;

namespace XDit.Models.Mochi;

/// <summary>
/// config.json of diffusers' MochiTransformer3DModel (Genmo Mochi 1), with diffusers' constructor defaults for missing
/// keys: 48 blocks of 24 heads × 128 (D 3072) over video tokens, a text stream of its own width
/// (pooled_projection_dim 1536) projected from T5-XXL states (text_embed_dim 4096), patch 2 over 12 latent channels.
/// The only qk_norm is "rms_norm" and the only activation_fn "swiglu" (what diffusers builds); others are refused.
/// max_sequence_length is kept for the pipeline: the transformer takes any text length.
/// </summary>
public sealed record MochiConfig
{
    public const string ClassName = "MochiTransformer3DModel";
    /// <summary>The caption pooler's heads: diffusers builds MochiCombinedTimestepCaptionEmbedding with 8, whatever
    /// the config says.</summary>
    public const int PoolHeads = 8;

    public int PatchSize { get; init; } = 2;
    public int NumAttentionHeads { get; init; } = 24;
    public int AttentionHeadDim { get; init; } = 128;
    public int NumLayers { get; init; } = 48;
    /// <summary>The text stream's width (diffusers' name for it).</summary>
    public int PooledProjectionDim { get; init; } = 1536;
    public int InChannels { get; init; } = 12;
    public int OutChannels { get; init; } = 12;
    public int TextEmbedDim { get; init; } = 4096;
    /// <summary>Channels of the timestep sinusoid.</summary>
    public int TimeEmbedDim { get; init; } = 256;
    public int MaxSequenceLength { get; init; } = 256;

    /// <summary>D = heads × head_dim, the video stream's width.</summary>
    public int InnerDim => NumAttentionHeads * AttentionHeadDim;
    /// <summary>The video feed-forward's hidden width: (4·D·2) / 3 (SwiGLU's two thirds of 4·D).</summary>
    public int FfInnerDim => 4 * InnerDim * 2 / 3;
    /// <summary>The text feed-forward's hidden width: (4·P·2) / 3.</summary>
    public int FfContextInnerDim => 4 * PooledProjectionDim * 2 / 3;
    /// <summary>Features of one patch: C_in·p·p (the Conv2d patch embed's weight flattened).</summary>
    public int PatchFeatures => InChannels * PatchSize * PatchSize;
    /// <summary>Features of one output token: p·p·C_out (proj_out's width).</summary>
    public int OutFeatures => PatchSize * PatchSize * OutChannels;

    public static MochiConfig Load(string path) => From(JsonConfig.Load(path));

    public static MochiConfig From(JsonConfig c)
    {
        if (c.ClassName is { } name && name != ClassName)
            throw new NotSupportedException($"{c.Path}: _class_name is '{name}', expected '{ClassName}'");
        var qk = c.GetString("qk_norm", "rms_norm");
        if (qk != "rms_norm")
            throw new NotSupportedException($"{c.Path}: qk_norm '{qk}' is not supported (expected 'rms_norm': diffusers' MochiAttention always builds per-head RMS norms)");
        var act = c.GetString("activation_fn", "swiglu");
        if (act != "swiglu")
            throw new NotSupportedException($"{c.Path}: activation_fn '{act}' is not supported (expected 'swiglu', Mochi's feed-forward)");
        int inChannels = c.GetInt("in_channels", 12, 1, ConfigBounds.Width);
        var cfg = new MochiConfig
        {
            PatchSize = c.GetInt("patch_size", 2, 1, ConfigBounds.PatchSize),
            NumAttentionHeads = c.GetInt("num_attention_heads", 24, 1, ConfigBounds.Heads),
            AttentionHeadDim = c.GetInt("attention_head_dim", 128, 1, ConfigBounds.HeadDim),
            NumLayers = c.GetInt("num_layers", 48, 0, ConfigBounds.Layers),
            PooledProjectionDim = c.GetInt("pooled_projection_dim", 1536, 1, ConfigBounds.Width),
            InChannels = inChannels,
            // diffusers: out_channels = out_channels or in_channels
            OutChannels = c.GetInt("out_channels", inChannels, 1, ConfigBounds.Width),
            TextEmbedDim = c.GetInt("text_embed_dim", 4096, 1, ConfigBounds.Width),
            TimeEmbedDim = c.GetInt("time_embed_dim", 256, 1, ConfigBounds.Width),
            MaxSequenceLength = c.GetInt("max_sequence_length", 256, 1, ConfigBounds.Positions),
        };
        cfg.Validate(c.Path);
        return cfg;
    }

    /// <summary>Refuses, naming the file and key, what the code cannot run.</summary>
    public void Validate(string path)
    {
        if (NumLayers < 1)
            throw new FormatException($"{path}: num_layers is {NumLayers}, expected at least 1 (the last block is the text-less one)");
        if ((long)NumAttentionHeads * AttentionHeadDim > ConfigBounds.Width)
            throw new FormatException($"{path}: num_attention_heads × attention_head_dim = {(long)NumAttentionHeads * AttentionHeadDim} is more than {ConfigBounds.Width}");
        if (AttentionHeadDim % 2 != 0 || AttentionHeadDim > 512)
            throw new FormatException($"{path}: attention_head_dim is {AttentionHeadDim}, expected an even width of at most 512 (RoPE rotates pairs of features)");
        if (TextEmbedDim % PoolHeads != 0)
            throw new FormatException($"{path}: text_embed_dim {TextEmbedDim} is not a multiple of {PoolHeads}, the caption pooler's head count");
        if (TimeEmbedDim % 2 != 0)
            throw new FormatException($"{path}: time_embed_dim is {TimeEmbedDim}, expected an even width (sin and cos halves)");
        if (FfInnerDim < 1 || FfContextInnerDim < 1)
            throw new FormatException($"{path}: the feed-forward widths (4·{InnerDim}·2)/3 = {FfInnerDim} and (4·{PooledProjectionDim}·2)/3 = {FfContextInnerDim} must be at least 1");
    }
}

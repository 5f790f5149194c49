using XDit.Runtime;

namespace XDit.Models.CogVideoX;

/// <summary>
/// config.json of diffusers' CogVideoXTransformer3DModel, with diffusers' constructor defaults for missing keys. The
/// released checkpoints differ in: position (CogVideoX-2b: the 3-D sin-cos table added in the patch embed; 5b: RoPE;
/// 5b-I2V: RoPE and a learned table), patch_size_t (1.5: 2, a Linear over C·p_t·p·p patches, frames grouped in pairs,
/// "slice" RoPE in the pipeline), patch_bias (1.5: false) and ofs_embed_dim (1.5-I2V: an "ofs" embedding added to the
/// time embedding).
/// </summary>
public sealed record CogVideoXConfig
{
    public const string ClassName = "CogVideoXTransformer3DModel";

    public int NumAttentionHeads { get; init; } = 30;
    public int AttentionHeadDim { get; init; } = 64;
    public int InChannels { get; init; } = 16;
    public int OutChannels { get; init; } = 16;
    public bool FlipSinToCos { get; init; } = true;
    public int FreqShift { get; init; }
    public int TimeEmbedDim { get; init; } = 512;
    /// <summary>1.5-I2V: width of the ofs embedding (equal to <see cref="TimeEmbedDim"/>, as it is added to it); null
    /// where the model has none.</summary>
    public int? OfsEmbedDim { get; init; }
    public int TextEmbedDim { get; init; } = 4096;
    public int NumLayers { get; init; } = 30;
    public bool AttentionBias { get; init; } = true;
    /// <summary>The latent size the model was trained at (60×90, 49 frames before temporal compression: 13 latent
    /// frames): the base of the pipeline's RoPE crop and the size of a learned position table.</summary>
    public int SampleWidth { get; init; } = 90;
    public int SampleHeight { get; init; } = 60;
    public int SampleFrames { get; init; } = 49;
    public int PatchSize { get; init; } = 2;
    /// <summary>1.5: frames per patch (2); null for 1.0, where each latent frame is patched on its own.</summary>
    public int? PatchSizeT { get; init; }
    public int TemporalCompressionRatio { get; init; } = 4;
    public int MaxTextSeqLength { get; init; } = 226;
    public bool NormElementwiseAffine { get; init; } = true;
    public double NormEps { get; init; } = 1e-5;
    public double SpatialInterpolationScale { get; init; } = 1.875;
    public double TemporalInterpolationScale { get; init; } = 1.0;
    public bool UseRotaryPositionalEmbeddings { get; init; }
    public bool UseLearnedPositionalEmbeddings { get; init; }
    /// <summary>The 1.0 patch Conv2d's bias (1.5's patch Linear always has one).</summary>
    public bool PatchBias { get; init; } = true;

    /// <summary>D = heads × head_dim.</summary>
    public int InnerDim => NumAttentionHeads * AttentionHeadDim;
    /// <summary>Frames per patch: patch_size_t, or 1 for 1.0.</summary>
    public int FramesPerPatch => PatchSizeT ?? 1;
    /// <summary>Features of one patch: C_in·p_t·p·p (the patch embed's input width).</summary>
    public int PatchFeatures => InChannels * FramesPerPatch * PatchSize * PatchSize;
    /// <summary>Features of one output token: C_out·p_t·p·p (proj_out's width).</summary>
    public int OutFeatures => OutChannels * FramesPerPatch * PatchSize * PatchSize;
    /// <summary>The 3-D sin-cos table is added in the patch embed (CogVideoX-2b): no RoPE.</summary>
    public bool UsesSinCosPositions => !UseRotaryPositionalEmbeddings;
    /// <summary>Latent frames of the trained size: (sample_frames − 1)/temporal_compression_ratio + 1.</summary>
    public int SampleLatentFrames => (SampleFrames - 1) / TemporalCompressionRatio + 1;

    public static CogVideoXConfig Load(string path) => From(JsonConfig.Load(path));

    public static CogVideoXConfig From(JsonConfig c)
    {
        if (c.ClassName is { } name && name != ClassName)
            throw new NotSupportedException($"{c.Path}: _class_name is '{name}', expected '{ClassName}'");
        RequireString(c, "activation_fn", "gelu-approximate");
        RequireString(c, "timestep_activation_fn", "silu");
        if (c.Has("dropout") && c.GetDouble("dropout") != 0)
            throw new NotSupportedException($"{c.Path}: dropout {c.GetDouble("dropout")} is not supported for inference (expected 0)");
        int inChannels = c.GetInt("in_channels", 16, 1, ConfigBounds.Width);
        var cfg = new CogVideoXConfig
        {
            NumAttentionHeads = c.GetInt("num_attention_heads", 30, 1, ConfigBounds.Heads),
            AttentionHeadDim = c.GetInt("attention_head_dim", 64, 1, ConfigBounds.HeadDim),
            InChannels = inChannels,
            // diffusers: out_channels defaults to 16 (an explicit null builds proj_out 16 channels wide too)
            OutChannels = c.GetInt("out_channels", 16, 1, ConfigBounds.Width),
            FlipSinToCos = c.GetBool("flip_sin_to_cos", true),
            FreqShift = c.GetInt("freq_shift", 0, 0, 1),
            TimeEmbedDim = c.GetInt("time_embed_dim", 512, 1, ConfigBounds.Width),
            OfsEmbedDim = c.Has("ofs_embed_dim") ? c.GetIntIn("ofs_embed_dim", 1, ConfigBounds.Width) : null,
            TextEmbedDim = c.GetInt("text_embed_dim", 4096, 1, ConfigBounds.Width),
            NumLayers = c.GetInt("num_layers", 30, 1, ConfigBounds.Layers),
            AttentionBias = c.GetBool("attention_bias", true),
            SampleWidth = c.GetInt("sample_width", 90, 1, ConfigBounds.SampleSize),
            SampleHeight = c.GetInt("sample_height", 60, 1, ConfigBounds.SampleSize),
            SampleFrames = c.GetInt("sample_frames", 49, 1, ConfigBounds.SampleSize),
            PatchSize = c.GetInt("patch_size", 2, 1, ConfigBounds.PatchSize),
            PatchSizeT = c.Has("patch_size_t") ? c.GetIntIn("patch_size_t", 1, ConfigBounds.PatchSize) : null,
            TemporalCompressionRatio = c.GetInt("temporal_compression_ratio", 4, 1, ConfigBounds.PatchSize),
            MaxTextSeqLength = c.GetInt("max_text_seq_length", 226, 1, ConfigBounds.Positions),
            NormElementwiseAffine = c.GetBool("norm_elementwise_affine", true),
            NormEps = c.GetPositiveDouble("norm_eps", 1e-5),
            SpatialInterpolationScale = c.GetPositiveDouble("spatial_interpolation_scale", 1.875),
            TemporalInterpolationScale = c.GetPositiveDouble("temporal_interpolation_scale", 1.0),
            UseRotaryPositionalEmbeddings = c.GetBool("use_rotary_positional_embeddings", false),
            UseLearnedPositionalEmbeddings = c.GetBool("use_learned_positional_embeddings", false),
            PatchBias = c.GetBool("patch_bias", true),
        };
        cfg.Validate(c.Path);
        return cfg;
    }

    static void RequireString(JsonConfig c, string key, string expected)
    {
        var v = c.GetString(key, expected);
        if (v != expected) throw new NotSupportedException($"{c.Path}: {key} '{v}' is not supported (expected '{expected}')");
    }

    /// <summary>Refuses, naming the file and key, what diffusers would refuse or what no released checkpoint has and
    /// the code does not run.</summary>
    public void Validate(string path)
    {
        if ((long)NumAttentionHeads * AttentionHeadDim > ConfigBounds.Width)
            throw new FormatException($"{path}: num_attention_heads × attention_head_dim = {(long)NumAttentionHeads * AttentionHeadDim} is more than {ConfigBounds.Width}");
        if (!UseRotaryPositionalEmbeddings && UseLearnedPositionalEmbeddings)
            throw new NotSupportedException($"{path}: use_learned_positional_embeddings true needs use_rotary_positional_embeddings true (diffusers refuses the pair; no checkpoint has it)");
        if (UseRotaryPositionalEmbeddings && AttentionHeadDim % 16 != 0)
            throw new FormatException($"{path}: attention_head_dim {AttentionHeadDim} must be a multiple of 16 for the 3-D RoPE (t, h, w take d/4, 3d/8, 3d/8 features, each even)");
        if (PatchSizeT is not null && UsesSinCosPositions)
            throw new NotSupportedException($"{path}: patch_size_t {PatchSizeT} with use_rotary_positional_embeddings false is not supported (no 1.5 checkpoint has a sin-cos position table; diffusers' table would not match its tokens)");
        if (PatchSizeT is not null && UseLearnedPositionalEmbeddings)
            throw new NotSupportedException($"{path}: patch_size_t {PatchSizeT} with use_learned_positional_embeddings true is not supported (expected false for CogVideoX 1.5)");
        if (UsesSinCosPositions && InnerDim % 16 != 0)
            throw new FormatException($"{path}: num_attention_heads × attention_head_dim = {InnerDim} must be a multiple of 16 for the 3-D sin-cos table (t takes D/4, h and w 3D/8 each, in sin/cos halves)");
        if (OfsEmbedDim is int ofs && ofs != TimeEmbedDim)
            throw new FormatException($"{path}: ofs_embed_dim {ofs} must equal time_embed_dim {TimeEmbedDim} (the ofs embedding is added to the time embedding)");
        if (InnerDim % 2 != 0)
            throw new FormatException($"{path}: num_attention_heads × attention_head_dim = {InnerDim} must be even (the timestep sinusoid is that wide)");
    }
}

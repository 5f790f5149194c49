using XDit.Runtime;

namespace XDit.Models.HunyuanVideo;

/// <summary>
/// config.json of diffusers' HunyuanVideoTransformer3DModel, with diffusers' constructor defaults for missing keys
/// (HunyuanVideo T2V: 20 dual-stream and 40 single-stream blocks of 24 heads × 128, 2 refiner blocks, a guidance
/// embedder, 3-D RoPE 16/56/56 at θ 256). image_condition_type "latent_concat" (HunyuanVideo-I2V) changes nothing
/// in the transformer (the pipeline concatenates the image latents: in_channels 33), so it is accepted;
/// "token_replace" (its first-frame modulation) is refused, as is any qk_norm other than rms_norm.
/// </summary>
public sealed record HunyuanVideoConfig
{
    public const string ClassName = "HunyuanVideoTransformer3DModel";
    /// <summary>The refiner blocks' MLP ratio: diffusers builds the token refiner with its default 4.0, whatever
    /// mlp_ratio says.</summary>
    public const double RefinerMlpRatio = 4.0;

    public int InChannels { get; init; } = 16;
    public int OutChannels { get; init; } = 16;
    public int NumAttentionHeads { get; init; } = 24;
    public int AttentionHeadDim { get; init; } = 128;
    public int NumLayers { get; init; } = 20;
    public int NumSingleLayers { get; init; } = 40;
    public int NumRefinerLayers { get; init; } = 2;
    public double MlpRatio { get; init; } = 4.0;
    public int PatchSize { get; init; } = 2;
    public int PatchSizeT { get; init; } = 1;
    public bool GuidanceEmbeds { get; init; } = true;
    public int TextEmbedDim { get; init; } = 4096;
    public int PooledProjectionDim { get; init; } = 768;
    public double RopeTheta { get; init; } = 256.0;
    public int[] RopeAxesDim { get; init; } = [16, 56, 56];
    /// <summary>null (T2V) or "latent_concat" (I2V by channel concatenation); both run the same transformer.</summary>
    public string? ImageConditionType { get; init; }

    /// <summary>D = heads × head_dim.</summary>
    public int InnerDim => NumAttentionHeads * AttentionHeadDim;
    /// <summary>Hidden width of the blocks' MLPs: int(D · mlp_ratio).</summary>
    public int MlpDim => (int)(InnerDim * MlpRatio);
    /// <summary>Hidden width of the refiner blocks' MLPs: int(D · 4.0).</summary>
    public int RefinerMlpDim => (int)(InnerDim * RefinerMlpRatio);
    /// <summary>Features of one patch: C_in·p_t·p·p (the Conv3d patch embed's weight flattened).</summary>
    public int PatchFeatures => InChannels * PatchSizeT * PatchSize * PatchSize;
    /// <summary>Features of one output token: C_out·p_t·p·p (proj_out's width).</summary>
    public int OutFeatures => OutChannels * PatchSizeT * PatchSize * PatchSize;

    public static HunyuanVideoConfig Load(string path) => From(JsonConfig.Load(path));

    public static HunyuanVideoConfig From(JsonConfig c)
    {
        if (c.ClassName is { } name && name != ClassName)
            throw new NotSupportedException($"{c.Path}: _class_name is '{name}', expected '{ClassName}'");
        var qk = c.GetString("qk_norm", "rms_norm");
        if (qk != "rms_norm")
            throw new NotSupportedException($"{c.Path}: qk_norm '{qk}' is not supported (expected 'rms_norm')");
        var image = c.GetString("image_condition_type", null);
        if (image is not null and not "latent_concat")
            throw new NotSupportedException($"{c.Path}: image_condition_type '{image}' is not supported (expected null or 'latent_concat'; 'token_replace' modulates the first frame apart)");
        int inChannels = c.GetInt("in_channels", 16, 1, ConfigBounds.Width);
        var cfg = new HunyuanVideoConfig
        {
            InChannels = inChannels,
            // diffusers: out_channels = out_channels or in_channels
            OutChannels = c.GetInt("out_channels", inChannels, 1, ConfigBounds.Width),
            NumAttentionHeads = c.GetInt("num_attention_heads", 24, 1, ConfigBounds.Heads),
            AttentionHeadDim = c.GetInt("attention_head_dim", 128, 1, ConfigBounds.HeadDim),
            NumLayers = c.GetInt("num_layers", 20, 0, ConfigBounds.Layers),
            NumSingleLayers = c.GetInt("num_single_layers", 40, 0, ConfigBounds.Layers),
            NumRefinerLayers = c.GetInt("num_refiner_layers", 2, 0, ConfigBounds.Layers),
            MlpRatio = c.GetPositiveDouble("mlp_ratio", 4.0),
            PatchSize = c.GetInt("patch_size", 2, 1, ConfigBounds.PatchSize),
            PatchSizeT = c.GetInt("patch_size_t", 1, 1, ConfigBounds.PatchSize),
            GuidanceEmbeds = c.GetBool("guidance_embeds", true),
            TextEmbedDim = c.GetInt("text_embed_dim", 4096, 1, ConfigBounds.Width),
            PooledProjectionDim = c.GetInt("pooled_projection_dim", 768, 1, ConfigBounds.Width),
            RopeTheta = c.GetPositiveDouble("rope_theta", 256.0),
            RopeAxesDim = c.GetIntArrayOrNull("rope_axes_dim") ?? [16, 56, 56],
            ImageConditionType = image,
        };
        cfg.Validate(c.Path);
        return cfg;
    }

    /// <summary>Refuses, naming the file and key, what the code cannot run.</summary>
    public void Validate(string path)
    {
        if (NumLayers + NumSingleLayers == 0)
            throw new FormatException($"{path}: num_layers + num_single_layers is 0, expected at least one block");
        if ((long)NumAttentionHeads * AttentionHeadDim > ConfigBounds.Width)
            throw new FormatException($"{path}: num_attention_heads × attention_head_dim = {(long)NumAttentionHeads * AttentionHeadDim} is more than {ConfigBounds.Width}");
        if (RopeAxesDim.Length != 3 || RopeAxesDim.Any(a => a <= 0 || a % 2 != 0))
            throw new FormatException($"{path}: rope_axes_dim [{string.Join(", ", RopeAxesDim)}] must hold 3 positive even widths (frame, height, width)");
        if (RopeAxesDim.Sum() != AttentionHeadDim)
            throw new FormatException($"{path}: rope_axes_dim [{string.Join(", ", RopeAxesDim)}] sums to {RopeAxesDim.Sum()}, expected attention_head_dim {AttentionHeadDim}");
        if (MlpDim < 1 || MlpDim > ConfigBounds.Width * 8)
            throw new FormatException($"{path}: mlp_ratio {MlpRatio} gives an MLP width of {MlpDim}, expected 1 … {ConfigBounds.Width * 8}");
    }
}

using XDit.Runtime;

namespace XDit.Models.Wan;

/// <summary>
/// config.json of diffusers' WanTransformer3DModel, with diffusers' constructor defaults for missing keys (those of
/// Wan2.1-T2V-14B). The text-to-video checkpoints differ in size only (Wan2.1-T2V-1.3B: 12 heads, ffn 8960, 30 layers;
/// 14B and the two Wan2.2-T2V-A14B experts: 40 heads, ffn 13824, 40 layers); the image-to-video ones add an image
/// embedder and added key/value projections (image_dim, added_kv_proj_dim), refused here. Wan2.2-TI2V-5B (48 channels,
/// 24 heads, ffn 14336, 30 layers) loads; of its per-token timesteps (the pipeline's expand_timesteps) the model takes
/// those of text to video, one value a row (<see cref="WanTransformer.TimestepPerRow"/>).
/// </summary>
public sealed record WanConfig
{
    public const string ClassName = "WanTransformer3DModel";
    /// <summary>The one qk_norm of the released checkpoints (diffusers' WanAttention builds RMSNorm over all heads
    /// whatever the key says).</summary>
    public const string QkNormAcrossHeads = "rms_norm_across_heads";

    /// <summary>Frames, rows and columns per patch (t, h, w).</summary>
    public int PatchT { get; init; } = 1;
    public int PatchH { get; init; } = 2;
    public int PatchW { get; init; } = 2;
    public int NumAttentionHeads { get; init; } = 40;
    public int AttentionHeadDim { get; init; } = 128;
    public int InChannels { get; init; } = 16;
    public int OutChannels { get; init; } = 16;
    /// <summary>Width of the text encoder's states (UMT5-XXL: 4096).</summary>
    public int TextDim { get; init; } = 4096;
    /// <summary>Channels of the timestep sinusoid (time_embedder's input).</summary>
    public int FreqDim { get; init; } = 256;
    public int FfnDim { get; init; } = 13824;
    public int NumLayers { get; init; } = 40;
    /// <summary>norm2, a LayerNorm with affine before the cross-attention (else the identity).</summary>
    public bool CrossAttnNorm { get; init; } = true;
    /// <summary>Every LayerNorm's and the q/k RMSNorms' eps.</summary>
    public double Eps { get; init; } = 1e-6;
    /// <summary>Positions of each axis' RoPE table: the most latent frames, rows or columns of patches a video may have.</summary>
    public int RopeMaxSeqLen { get; init; } = 1024;

    /// <summary>D = heads × head_dim.</summary>
    public int InnerDim => NumAttentionHeads * AttentionHeadDim;
    /// <summary>Features of one patch: C_in·p_t·p_h·p_w (the patch Conv3d's weight flattened).</summary>
    public int PatchFeatures => InChannels * PatchT * PatchH * PatchW;
    /// <summary>Features of one output token: p_t·p_h·p_w·C_out (proj_out's width).</summary>
    public int OutFeatures => OutChannels * PatchT * PatchH * PatchW;
    /// <summary>RoPE features of the height and width axes (each 2·⌊head_dim/6⌋); the frame axis takes the rest.</summary>
    public int RopeHDim => 2 * (AttentionHeadDim / 6);
    public int RopeTDim => AttentionHeadDim - 2 * RopeHDim;

    public static WanConfig Load(string path) => From(JsonConfig.Load(path));

    public static WanConfig From(JsonConfig c)
    {
        if (c.ClassName is { } name && name != ClassName)
            throw new NotSupportedException($"{c.Path}: _class_name is '{name}', expected '{ClassName}'");
        // the image-to-video parts: an image embedder whose states are prepended to the text, and added k/v projections
        foreach (var key in new[] { "image_dim", "added_kv_proj_dim", "pos_embed_seq_len" })
            if (c.Has(key))
                throw new NotSupportedException($"{c.Path}: {key} {c.Get(key)} is not supported (expected null: the image-to-video embedder and added k/v projections are not implemented)");
        var qk = c.GetString("qk_norm", QkNormAcrossHeads);
        if (qk != QkNormAcrossHeads)
            throw new NotSupportedException($"{c.Path}: qk_norm '{qk}' is not supported (expected '{QkNormAcrossHeads}', as every released checkpoint has)");
        var patch = c.GetIntArrayOrNull("patch_size") ?? [1, 2, 2];
        if (patch.Length != 3 || patch.Any(p => p < 1 || p > ConfigBounds.PatchSize))
            throw new FormatException($"{c.Path}: patch_size must be 3 integers (t, h, w) in [1, {ConfigBounds.PatchSize}], got [{string.Join(", ", patch)}]");
        int inChannels = c.GetInt("in_channels", 16, 1, ConfigBounds.Width);
        var cfg = new WanConfig
        {
            PatchT = patch[0], PatchH = patch[1], PatchW = patch[2],
            NumAttentionHeads = c.GetInt("num_attention_heads", 40, 1, ConfigBounds.Heads),
            AttentionHeadDim = c.GetInt("attention_head_dim", 128, 1, ConfigBounds.HeadDim),
            InChannels = inChannels,
            // diffusers: out_channels or in_channels (an explicit null takes in_channels)
            OutChannels = c.GetInt("out_channels", inChannels, 1, ConfigBounds.Width),
            TextDim = c.GetInt("text_dim", 4096, 1, ConfigBounds.Width),
            FreqDim = c.GetInt("freq_dim", 256, 2, ConfigBounds.Width),
            FfnDim = c.GetInt("ffn_dim", 13824, 1, ConfigBounds.Width),
            NumLayers = c.GetInt("num_layers", 40, 1, ConfigBounds.Layers),
            CrossAttnNorm = c.GetBool("cross_attn_norm", true),
            Eps = c.GetPositiveDouble("eps", 1e-6),
            RopeMaxSeqLen = c.GetInt("rope_max_seq_len", 1024, 1, ConfigBounds.Positions),
        };
        cfg.Validate(c.Path);
        return cfg;
    }

    /// <summary>Refuses, naming the file and key, what diffusers would refuse or the code cannot run.</summary>
    public void Validate(string path)
    {
        if ((long)NumAttentionHeads * AttentionHeadDim > ConfigBounds.Width)
            throw new FormatException($"{path}: num_attention_heads × attention_head_dim = {(long)NumAttentionHeads * AttentionHeadDim} is more than {ConfigBounds.Width}");
        if (AttentionHeadDim % 2 != 0 || AttentionHeadDim < 6)
            throw new FormatException($"{path}: attention_head_dim {AttentionHeadDim} must be even and at least 6 (the 3-D RoPE splits it into frame, height and width parts of even widths)");
        if (FreqDim % 2 != 0)
            throw new FormatException($"{path}: freq_dim {FreqDim} must be even (the timestep sinusoid's cos and sin halves)");
    }
}

using XDit.Runtime;

namespace XDit.Models.QwenImage;

/// <summary>
/// config.json of diffusers' QwenImageTransformer2DModel (Qwen-Image), with diffusers' constructor defaults for
/// missing keys. The switches of the later checkpoints (zero_cond_t: Qwen-Image-Edit-2511's zero-timestep
/// reference tokens; use_additional_t_cond and use_layer3d_rope: Qwen-Image-Layered) are refused: the code runs the
/// text-to-image transformer.
/// </summary>
public sealed record QwenImageConfig
{
    public const string ClassName = "QwenImageTransformer2DModel";
    /// <summary>RoPE base, hard-coded in diffusers' QwenEmbedRope.</summary>
    public const double RopeTheta = 10000.0;

    public int PatchSize { get; init; } = 2;
    /// <summary>Width of a packed input token (16 latent channels × 2×2 = 64).</summary>
    public int InChannels { get; init; } = 64;
    /// <summary>Latent channels of the output (null in a config means in_channels).</summary>
    public int OutChannels { get; init; } = 16;
    public int NumLayers { get; init; } = 60;
    public int AttentionHeadDim { get; init; } = 128;
    public int NumAttentionHeads { get; init; } = 24;
    /// <summary>Width of the text encoder's states (Qwen2.5-VL-7B's hidden size).</summary>
    public int JointAttentionDim { get; init; } = 3584;
    /// <summary>Read and kept, but unused: diffusers builds no guidance embedder for either value.</summary>
    public bool GuidanceEmbeds { get; init; }
    /// <summary>Widths of the frame, height and width RoPE axes; they sum to the head dim.</summary>
    public int[] AxesDimsRope { get; init; } = [16, 56, 56];

    public int InnerDim => NumAttentionHeads * AttentionHeadDim;
    /// <summary>Hidden width of the MLPs (FeedForward's mult 4).</summary>
    public int MlpDim => 4 * InnerDim;
    /// <summary>Width of an output token: p·p·out_channels (packed, as the input).</summary>
    public int OutFeatures => PatchSize * PatchSize * OutChannels;

    public static QwenImageConfig Load(string path) => From(JsonConfig.Load(path));

    public static QwenImageConfig From(JsonConfig c)
    {
        if (c.ClassName is { } name && name != ClassName)
            throw new NotSupportedException($"{c.Path}: _class_name is '{name}', expected '{ClassName}'");
        Refuse(c, "zero_cond_t", "reference-image tokens modulated with timestep 0 (Qwen-Image-Edit-2511)");
        Refuse(c, "use_additional_t_cond", "the additional timestep embedding of Qwen-Image-Layered");
        Refuse(c, "use_layer3d_rope", "the layered 3-D RoPE of Qwen-Image-Layered");
        int inChannels = c.GetInt("in_channels", 64, 1, ConfigBounds.Width);
        var cfg = new QwenImageConfig
        {
            PatchSize = c.GetInt("patch_size", 2, 1, ConfigBounds.PatchSize),
            InChannels = inChannels,
            // diffusers: out_channels defaults to 16; an explicit null means in_channels
            OutChannels = c.Has("out_channels") ? c.GetIntIn("out_channels", 1, ConfigBounds.Width)
                : c.Root.TryGetProperty("out_channels", out _) ? inChannels : 16,
            NumLayers = c.GetInt("num_layers", 60, 1, ConfigBounds.Layers),
            AttentionHeadDim = c.GetInt("attention_head_dim", 128, 1, ConfigBounds.HeadDim),
            NumAttentionHeads = c.GetInt("num_attention_heads", 24, 1, ConfigBounds.Heads),
            JointAttentionDim = c.GetInt("joint_attention_dim", 3584, 1, ConfigBounds.Width),
            GuidanceEmbeds = c.GetBool("guidance_embeds", false),
            AxesDimsRope = c.GetIntArrayOrNull("axes_dims_rope") ?? [16, 56, 56],
        };
        cfg.Validate(c.Path, c.DefaultsNote("attention_head_dim"));
        return cfg;
    }

    static void Refuse(JsonConfig c, string key, string what)
    {
        if (c.GetBool(key, false))
            throw new NotSupportedException($"{c.Path}: {key} true ({what}) is not supported (expected false)");
    }

    /// <param name="path">the config file, for the messages</param>
    /// <param name="defaults">whether attention_head_dim was missing (<see cref="JsonConfig.DefaultsNote"/>)</param>
    public void Validate(string path, string defaults = "")
    {
        if ((long)NumAttentionHeads * AttentionHeadDim > ConfigBounds.Width)
            throw new FormatException($"{path}: num_attention_heads × attention_head_dim = {(long)NumAttentionHeads * AttentionHeadDim} is more than {ConfigBounds.Width}");
        if (AxesDimsRope.Length != 3 || AxesDimsRope.Any(a => a <= 0 || a % 2 != 0))
            throw new FormatException($"{path}: axes_dims_rope [{string.Join(", ", AxesDimsRope)}] must hold three positive even widths (frame, height, width)");
        if (AxesDimsRope.Sum() != AttentionHeadDim)
            throw new FormatException($"{path}: axes_dims_rope [{string.Join(", ", AxesDimsRope)}] sums to {AxesDimsRope.Sum()}, but attention_head_dim is {AttentionHeadDim}{defaults}");
        if (InnerDim % 2 != 0)
            throw new FormatException($"{path}: num_attention_heads × attention_head_dim = {InnerDim} must be even");
    }
}

using XDit.Runtime;

namespace XDit.Models.Flux;

/// <summary>config.json of diffusers' FluxTransformer2DModel (FLUX.1-dev/schnell). Missing keys take diffusers'
/// constructor defaults.</summary>
public sealed record FluxConfig
{
    public const string ClassName = "FluxTransformer2DModel";
    /// <summary>RoPE base, hard-coded in diffusers' FluxPosEmbed.</summary>
    public const double RopeTheta = 10000.0;

    public int PatchSize { get; init; } = 1;
    public int InChannels { get; init; } = 64;
    /// <summary>null in the released configs, meaning in_channels.</summary>
    public int OutChannels { get; init; } = 64;
    public int NumLayers { get; init; } = 19;
    public int NumSingleLayers { get; init; } = 38;
    public int AttentionHeadDim { get; init; } = 128;
    public int NumAttentionHeads { get; init; } = 24;
    public int JointAttentionDim { get; init; } = 4096;
    public int PooledProjectionDim { get; init; } = 768;
    public bool GuidanceEmbeds { get; init; }
    public int[] AxesDimsRope { get; init; } = [16, 56, 56];

    public int InnerDim => NumAttentionHeads * AttentionHeadDim;
    /// <summary>Hidden width of the MLPs (mlp_ratio 4).</summary>
    public int MlpDim => 4 * InnerDim;

    public static FluxConfig Load(string path) => From(JsonConfig.Load(path));

    public static FluxConfig From(JsonConfig c)
    {
        if (c.ClassName is { } name && name != ClassName)
            throw new NotSupportedException($"{c.Path}: _class_name is '{name}', expected '{ClassName}'");
        int inChannels = c.GetInt("in_channels", 64, 1, ConfigBounds.Width);
        var cfg = new FluxConfig
        {
            PatchSize = c.GetInt("patch_size", 1, 1, ConfigBounds.PatchSize),
            InChannels = inChannels,
            OutChannels = c.GetInt("out_channels", inChannels, 1, ConfigBounds.Width),
            NumLayers = c.GetInt("num_layers", 19, 0, ConfigBounds.Layers),
            NumSingleLayers = c.GetInt("num_single_layers", 38, 0, ConfigBounds.Layers),
            AttentionHeadDim = c.GetInt("attention_head_dim", 128, 1, ConfigBounds.HeadDim),
            NumAttentionHeads = c.GetInt("num_attention_heads", 24, 1, ConfigBounds.Heads),
            JointAttentionDim = c.GetInt("joint_attention_dim", 4096, 1, ConfigBounds.Width),
            PooledProjectionDim = c.GetInt("pooled_projection_dim", 768, 1, ConfigBounds.Width),
            GuidanceEmbeds = c.GetBool("guidance_embeds", false),
            AxesDimsRope = c.GetIntArrayOrNull("axes_dims_rope") ?? [16, 56, 56],
        };
        cfg.Validate(c.Path, c.DefaultsNote("attention_head_dim"));
        return cfg;
    }

    /// <param name="defaults">whether attention_head_dim was missing (<see cref="JsonConfig.DefaultsNote"/>)</param>
    void Validate(string path, string defaults)
    {
        if (NumLayers < 0 || NumSingleLayers < 0 || NumLayers + NumSingleLayers == 0 || PatchSize < 1 || NumAttentionHeads < 1 || AttentionHeadDim < 1)
            throw new FormatException($"{path}: the layer counts, patch_size, num_attention_heads and attention_head_dim must be positive");
        if ((long)NumAttentionHeads * AttentionHeadDim > ConfigBounds.Width)
            throw new FormatException($"{path}: num_attention_heads × attention_head_dim = {(long)NumAttentionHeads * AttentionHeadDim} is more than {ConfigBounds.Width}");
        if (AxesDimsRope.Length == 0 || AxesDimsRope.Any(a => a <= 0 || a % 2 != 0))
            throw new FormatException($"{path}: axes_dims_rope [{string.Join(", ", AxesDimsRope)}] must hold positive even widths");
        if (AxesDimsRope.Sum() != AttentionHeadDim)
            throw new FormatException($"{path}: axes_dims_rope [{string.Join(", ", AxesDimsRope)}] sums to {AxesDimsRope.Sum()}, but attention_head_dim is {AttentionHeadDim}{defaults}");
    }
}

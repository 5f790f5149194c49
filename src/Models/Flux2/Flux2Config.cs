using XDit.Runtime;

namespace XDit.Models.Flux2;

/// <summary>config.json of diffusers' Flux2Transformer2DModel (FLUX.2-dev), with diffusers' constructor defaults for
/// missing keys. Every linear layer of the model is bias-free; eps is both the LayerNorms' and the q/k RMSNorms'.</summary>
public sealed record Flux2Config
{
    public const string ClassName = "Flux2Transformer2DModel";
    /// <summary>The one eps the kernels' norms are built with (LayerNorm and the fused q/k RMSNorm + RoPE).</summary>
    public const double SupportedEps = 1e-6;

    public int PatchSize { get; init; } = 1;
    public int InChannels { get; init; } = 128;
    /// <summary>null in the released configs, meaning in_channels.</summary>
    public int OutChannels { get; init; } = 128;
    public int NumLayers { get; init; } = 8;
    public int NumSingleLayers { get; init; } = 48;
    public int AttentionHeadDim { get; init; } = 128;
    public int NumAttentionHeads { get; init; } = 48;
    public int JointAttentionDim { get; init; } = 15360;
    /// <summary>Sinusoid width of the timestep and guidance embedders.</summary>
    public int TimestepGuidanceChannels { get; init; } = 256;
    public double MlpRatio { get; init; } = 3.0;
    /// <summary>Widths of the (t, h, w, l) RoPE axes; they sum to the head dim.</summary>
    public int[] AxesDimsRope { get; init; } = [32, 32, 32, 32];
    public double RopeTheta { get; init; } = 2000;
    public double Eps { get; init; } = 1e-6;
    public bool GuidanceEmbeds { get; init; } = true;

    public int InnerDim => NumAttentionHeads * AttentionHeadDim;
    /// <summary>Hidden width of the SwiGLU MLPs: int(inner_dim · mlp_ratio), as diffusers truncates it.</summary>
    public int MlpDim => (int)(InnerDim * MlpRatio);
    /// <summary>Width of an output token: p·p·out_channels (proj_out's rows).</summary>
    public int OutFeatures => PatchSize * PatchSize * OutChannels;

    public static Flux2Config Load(string path) => From(JsonConfig.Load(path));

    public static Flux2Config From(JsonConfig c)
    {
        if (c.ClassName is { } name && name != ClassName)
            throw new NotSupportedException($"{c.Path}: _class_name is '{name}', expected '{ClassName}'");
        int inChannels = c.GetInt("in_channels", 128, 1, ConfigBounds.Width);
        var cfg = new Flux2Config
        {
            PatchSize = c.GetInt("patch_size", 1, 1, ConfigBounds.PatchSize),
            InChannels = inChannels,
            OutChannels = c.GetInt("out_channels", inChannels, 1, ConfigBounds.Width),
            NumLayers = c.GetInt("num_layers", 8, 0, ConfigBounds.Layers),
            NumSingleLayers = c.GetInt("num_single_layers", 48, 0, ConfigBounds.Layers),
            AttentionHeadDim = c.GetInt("attention_head_dim", 128, 1, ConfigBounds.HeadDim),
            NumAttentionHeads = c.GetInt("num_attention_heads", 48, 1, ConfigBounds.Heads),
            JointAttentionDim = c.GetInt("joint_attention_dim", 15360, 1, ConfigBounds.Width),
            TimestepGuidanceChannels = c.GetInt("timestep_guidance_channels", 256, 1, ConfigBounds.Width),
            MlpRatio = c.GetPositiveDouble("mlp_ratio", 3.0),
            AxesDimsRope = c.GetIntArrayOrNull("axes_dims_rope") ?? [32, 32, 32, 32],
            RopeTheta = c.GetPositiveDouble("rope_theta", 2000),
            Eps = c.GetPositiveDouble("eps", 1e-6),
            GuidanceEmbeds = c.GetBool("guidance_embeds", true),
        };
        cfg.Validate(c.Path, c.DefaultsNote("attention_head_dim"));
        return cfg;
    }

    /// <param name="path">the config file, for the messages</param>
    /// <param name="defaults">whether attention_head_dim was missing (<see cref="JsonConfig.DefaultsNote"/>)</param>
    public void Validate(string path, string defaults = "")
    {
        if (NumLayers + NumSingleLayers == 0)
            throw new FormatException($"{path}: num_layers and num_single_layers are both 0; the model needs at least one block");
        if ((long)NumAttentionHeads * AttentionHeadDim > ConfigBounds.Width)
            throw new FormatException($"{path}: num_attention_heads × attention_head_dim = {(long)NumAttentionHeads * AttentionHeadDim} is more than {ConfigBounds.Width}");
        if (AxesDimsRope.Length == 0 || AxesDimsRope.Any(a => a <= 0 || a % 2 != 0))
            throw new FormatException($"{path}: axes_dims_rope [{string.Join(", ", AxesDimsRope)}] must hold positive even widths");
        if (AxesDimsRope.Sum() != AttentionHeadDim)
            throw new FormatException($"{path}: axes_dims_rope [{string.Join(", ", AxesDimsRope)}] sums to {AxesDimsRope.Sum()}, but attention_head_dim is {AttentionHeadDim}{defaults}");
        if (MlpDim < 1 || MlpDim > ConfigBounds.Width * 8L)
            throw new FormatException($"{path}: mlp_ratio {MlpRatio} gives an MLP width of {MlpDim} (inner dim {InnerDim}); expected 1 to {ConfigBounds.Width * 8L}");
        if (Eps != SupportedEps)
            throw new NotSupportedException($"{path}: eps is {Eps}; the norms here are built for {SupportedEps} (FLUX.2's value)");
    }
}

using XDit.Runtime;

namespace XDit.Models.ZImage;

/// <summary>
/// config.json of diffusers' ZImageTransformer2DModel (Z-Image, Z-Image-Turbo), with diffusers' constructor defaults
/// (Z-Image-Turbo's 6B transformer) for missing keys. The code runs the text-to-image forward at the patch sizes
/// diffusers' forward() defaults to (patch_size 2, f_patch_size 1); the Omni variant (siglip_feat_dim) and grouped
/// key/value heads (which diffusers' Attention here does not build either) are refused.
/// </summary>
public sealed record ZImageConfig
{
    public const string ClassName = "ZImageTransformer2DModel";
    /// <summary>diffusers' forward() defaults: the all_x_embedder / all_final_layer entry "2-1" is the one it runs.</summary>
    public const int DefaultPatchSize = 2, DefaultFramePatchSize = 1;
    /// <summary>Width of the timestep embedding and the adaLN input: min(dim, 256) (ADALN_EMBED_DIM).</summary>
    public const int AdaLnEmbedMax = 256;
    /// <summary>Hidden width of t_embedder's MLP, hard-coded in diffusers.</summary>
    public const int TimestepMidSize = 1024;
    /// <summary>Image and caption sequences are each padded to a multiple of this (SEQ_MULTI_OF).</summary>
    public const int SequenceMultiple = 32;
    /// <summary>eps of the attention's per-head RMSNorm of q and k (fixed at 1e-5, not norm_eps).</summary>
    public const float QkNormEps = 1e-5f;
    /// <summary>eps of the final layer's LayerNorm (no affine).</summary>
    public const float FinalNormEps = 1e-6f;

    public int[] AllPatchSize { get; init; } = [2];
    public int[] AllFPatchSize { get; init; } = [1];
    public int InChannels { get; init; } = 16;
    public int Dim { get; init; } = 3840;
    public int NLayers { get; init; } = 30;
    public int NRefinerLayers { get; init; } = 2;
    public int NHeads { get; init; } = 30;
    public int NKvHeads { get; init; } = 30;
    public double NormEps { get; init; } = 1e-5;
    public bool QkNorm { get; init; } = true;
    public int CapFeatDim { get; init; } = 2560;
    public double RopeTheta { get; init; } = 256.0;
    public double TScale { get; init; } = 1000.0;
    public int[] AxesDims { get; init; } = [32, 48, 48];
    public int[] AxesLens { get; init; } = [1024, 512, 512];

    public int HeadDim => Dim / NHeads;
    /// <summary>Width of the timestep embedding (adaln_input) and of the adaLN linears' input.</summary>
    public int AdaLnDim => Math.Min(Dim, AdaLnEmbedMax);
    /// <summary>The SwiGLU hidden width int(dim / 3 · 8), as Python computes it in double.</summary>
    public int FfnDim => (int)(Dim / 3.0 * 8.0);
    public int PatchSize => DefaultPatchSize;
    public int FramePatchSize => DefaultFramePatchSize;
    /// <summary>Width of a patch token in and out: f_patch · patch² · in_channels (out_channels = in_channels).</summary>
    public int PatchFeatures => FramePatchSize * PatchSize * PatchSize * InChannels;
    /// <summary>The all_x_embedder / all_final_layer key of the patch sizes run.</summary>
    public string PatchKey => $"{PatchSize}-{FramePatchSize}";

    public static ZImageConfig Load(string path) => From(JsonConfig.Load(path));

    public static ZImageConfig From(JsonConfig c)
    {
        if (c.ClassName is { } name && name != ClassName)
            throw new NotSupportedException($"{c.Path}: _class_name is '{name}', expected '{ClassName}'");
        if (c.Has("siglip_feat_dim"))
            throw new NotSupportedException($"{c.Path}: siglip_feat_dim {c.Get("siglip_feat_dim")} (Z-Image Omni's SigLIP image conditioning) is not supported (expected null)");
        int dim = c.GetInt("dim", 3840, 1, ConfigBounds.Width);
        int heads = c.GetInt("n_heads", 30, 1, ConfigBounds.Heads);
        var cfg = new ZImageConfig
        {
            AllPatchSize = c.GetIntArrayOrNull("all_patch_size") ?? [2],
            AllFPatchSize = c.GetIntArrayOrNull("all_f_patch_size") ?? [1],
            InChannels = c.GetInt("in_channels", 16, 1, ConfigBounds.Width),
            Dim = dim,
            NLayers = c.GetInt("n_layers", 30, 1, ConfigBounds.Layers),
            NRefinerLayers = c.GetInt("n_refiner_layers", 2, 0, ConfigBounds.Layers),
            NHeads = heads,
            NKvHeads = c.GetInt("n_kv_heads", heads, 1, ConfigBounds.Heads),
            NormEps = c.GetPositiveDouble("norm_eps", 1e-5),
            QkNorm = c.GetBool("qk_norm", true),
            CapFeatDim = c.GetInt("cap_feat_dim", 2560, 1, ConfigBounds.Width),
            RopeTheta = c.GetPositiveDouble("rope_theta", 256.0),
            TScale = c.GetFiniteDouble("t_scale", 1000.0),
            AxesDims = c.GetIntArrayOrNull("axes_dims") ?? [32, 48, 48],
            AxesLens = c.GetIntArrayOrNull("axes_lens") ?? [1024, 512, 512],
        };
        cfg.Validate(c.Path);
        return cfg;
    }

    /// <param name="path">the config file, for the messages</param>
    public void Validate(string path)
    {
        if (AllPatchSize.Length != AllFPatchSize.Length)
            throw new FormatException($"{path}: all_patch_size [{string.Join(", ", AllPatchSize)}] and all_f_patch_size [{string.Join(", ", AllFPatchSize)}] must have the same length");
        if (!AllPatchSize.Zip(AllFPatchSize).Any(p => p.First == DefaultPatchSize && p.Second == DefaultFramePatchSize))
            throw new NotSupportedException($"{path}: all_patch_size [{string.Join(", ", AllPatchSize)}] / all_f_patch_size [{string.Join(", ", AllFPatchSize)}] hold no ({DefaultPatchSize}, {DefaultFramePatchSize}) pair, the patch sizes diffusers' forward() runs by default and the only ones this code runs");
        if (Dim % NHeads != 0)
            throw new FormatException($"{path}: dim {Dim} is not a multiple of n_heads {NHeads}");
        if (NKvHeads != NHeads)
            throw new NotSupportedException($"{path}: n_kv_heads {NKvHeads} differs from n_heads {NHeads}; diffusers builds every head's key and value (expected n_kv_heads = n_heads)");
        if (AxesDims.Length != 3 || AxesDims.Any(a => a <= 0 || a % 2 != 0))
            throw new FormatException($"{path}: axes_dims [{string.Join(", ", AxesDims)}] must hold three positive even widths (frame/caption, height, width)");
        if (AxesLens.Length != AxesDims.Length || AxesLens.Any(l => l <= 0))
            throw new FormatException($"{path}: axes_lens [{string.Join(", ", AxesLens)}] must hold a positive length for each of the {AxesDims.Length} axes_dims");
        if (AxesDims.Sum() != HeadDim)
            throw new FormatException($"{path}: axes_dims [{string.Join(", ", AxesDims)}] sums to {AxesDims.Sum()}, but the head dim dim / n_heads is {HeadDim}");
        if (HeadDim > 512)
            throw new NotSupportedException($"{path}: head dim {HeadDim} is more than the 512 the q/k norm kernels take");
        if (TScale <= 0)
            throw new FormatException($"{path}: t_scale {TScale} must be positive");
    }
}

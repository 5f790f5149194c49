using System.Text.Json;
using XDit.Runtime;

namespace XDit.Models.Vae.Wan;

/// <summary>
/// The keys of a diffusers AutoencoderKLWan config.json, with diffusers' constructor defaults (Wan 2.1's VAE). The
/// decoder reads base_dim / decoder_base_dim, z_dim, dim_mult, num_res_blocks, temperal_downsample (reversed: which
/// up blocks also double the frames) and out_channels; latents_mean / latents_std are the pipeline's (it maps its
/// latents to z = latents·std + mean before <see cref="AutoencoderKLWan.Decode"/>, <see cref="AutoencoderKLWan.LatentsToZ"/>);
/// in_channels and attn_scales shape only the encoder (the decoder has no attention outside its mid block;
/// <see cref="WanVaeEncoder"/> refuses a non-empty attn_scales); dropout is off at inference. Wan 2.2's VAE
/// (is_residual true, patch_size 2; its z_dim 48 alone would run) is refused in one line naming the file and key.
///
/// Qwen-Image's VAE (diffusers' AutoencoderKLQwenImage, _class_name <see cref="QwenImageClassName"/>) is Wan 2.1's
/// model with other config keys, so it loads into this record and runs on the same classes: one input_channels for
/// the video in and out (no in_channels / out_channels), no decoder_base_dim (base_dim), its scale factors follow from
/// the blocks (spatial 2^len(temperal_downsample)), and none of Wan 2.2's keys; Wan's keys in such a file are
/// ignored, as diffusers ignores them.
/// </summary>
public sealed record WanVaeConfig
{
    public const string ClassName = "AutoencoderKLWan";
    /// <summary>Qwen-Image's VAE: the same model (see the remarks above).</summary>
    public const string QwenImageClassName = "AutoencoderKLQwenImage";

    public required string Path { get; init; }
    /// <summary>The file's _class_name: <see cref="ClassName"/> (also when absent) or <see cref="QwenImageClassName"/>.</summary>
    public string Model { get; init; } = ClassName;
    public int BaseDim { get; init; } = 96;
    /// <summary>decoder_base_dim, or base_dim when the file has null (every Wan 2.1 checkpoint).</summary>
    public int DecoderBaseDim { get; init; } = 96;
    public int ZDim { get; init; } = 16;
    public int[] DimMult { get; init; } = [1, 2, 4, 4];
    /// <summary>Each up block holds num_res_blocks + 1 residual blocks.</summary>
    public int NumResBlocks { get; init; } = 2;
    public double[] AttnScales { get; init; } = [];
    /// <summary>Per encoder down block (all but the last): whether it also halves the frames; the decoder's up
    /// block i doubles them when entry len − 1 − i is true.</summary>
    public bool[] TemperalDownsample { get; init; } = [false, true, true];
    public double Dropout { get; init; }
    public int InChannels { get; init; } = 3;
    public int OutChannels { get; init; } = 3;
    /// <summary>Per latent channel: the pipeline's z = latents · latents_std + latents_mean (diffusers' WanPipeline
    /// divides by 1/std); the decoder never reads them. z_dim entries each, except in a Qwen-Image file (checked
    /// where the scaling reads them, <see cref="RequireLatentStats"/>).</summary>
    public required double[] LatentsMean { get; init; }
    public required double[] LatentsStd { get; init; }
    public int ScaleFactorTemporal { get; init; } = 4;
    public int ScaleFactorSpatial { get; init; } = 8;

    /// <summary>Channels of conv_in and the mid block: decoder_base_dim · dim_mult[−1].</summary>
    public int MidChannels => DecoderBaseDim * DimMult[^1];
    /// <summary>Output channels of up block i: decoder_base_dim · dim_mult[len − 1 − i].</summary>
    public int UpOutChannels(int i) => DecoderBaseDim * DimMult[DimMult.Length - 1 - i];
    /// <summary>Input channels of up block i: the mid block's width for the first, else half the previous block's
    /// output (Wan 2.1's upsamplers halve the channels).</summary>
    public int UpInChannels(int i) => i == 0 ? MidChannels : UpOutChannels(i - 1) / 2;
    /// <summary>Whether up block i (all but the last) also doubles the frames (temperal_downsample reversed).</summary>
    public bool UpsamplesTime(int i) => i < DimMult.Length - 1 && TemperalDownsample[TemperalDownsample.Length - 1 - i];
    /// <summary>Pixels per latent pixel along each axis: 2^(up blocks − 1).</summary>
    public int SpatialFactor => 1 << (DimMult.Length - 1);
    /// <summary>Frames per latent frame after the first: 2^(time-doubling up blocks).</summary>
    public int TemporalFactor => 1 << Enumerable.Range(0, DimMult.Length - 1).Count(UpsamplesTime);

    public static WanVaeConfig Load(string path) => From(JsonConfig.Load(path));

    public static WanVaeConfig From(JsonConfig c)
    {
        if (c.ClassName is { } name && name is not (ClassName or QwenImageClassName))
            throw new NotSupportedException($"{c.Path}: _class_name is '{name}', expected '{ClassName}' or '{QwenImageClassName}'");
        bool qwen = c.ClassName == QwenImageClassName;
        if (!qwen && c.GetBool("is_residual", false))
            throw new NotSupportedException($"{c.Path}: is_residual true (Wan 2.2's VAE) is not supported, expected false");
        if (!qwen && c.Has("patch_size") && c.GetInt("patch_size") != 1)
            throw new NotSupportedException($"{c.Path}: patch_size {c.GetInt("patch_size")} (Wan 2.2's VAE) is not supported, expected null");

        int baseDim = c.GetInt("base_dim", 96, 1, ConfigBounds.Width);
        int decoderBase = !qwen && c.Has("decoder_base_dim") ? c.GetIntIn("decoder_base_dim", 1, ConfigBounds.Width) : baseDim;
        int zDim = c.GetInt("z_dim", 16, 1, ConfigBounds.Width);
        var mult = c.GetIntArrayOrNull("dim_mult") ?? [1, 2, 4, 4];
        if (mult.Length < 1 || mult.Length > 8 || mult.Any(m => m < 1 || (long)m * decoderBase > ConfigBounds.Width))
            throw new FormatException($"{c.Path}: key 'dim_mult' must hold 1 to 8 positive multipliers of decoder_base_dim {decoderBase}, found [{string.Join(", ", mult)}]");
        var down = c.Has("temperal_downsample") ? ReadBools(c, "temperal_downsample") : [false, true, true];
        if (down.Length != mult.Length - 1)
            throw new FormatException($"{c.Path}: key 'temperal_downsample' must have len(dim_mult) − 1 = {mult.Length - 1} entries, found {down.Length}");
        var mean = c.Has("latents_mean") ? c.GetDoubleArray("latents_mean") : DefaultMean;
        var std = c.Has("latents_std") ? c.GetDoubleArray("latents_std") : DefaultStd;
        // AutoencoderKLQwenImage never reads them (only its pipelines do), and diffusers loads a file whose lengths
        // differ from z_dim: such a VAE runs, and the scaling refuses it (LatentsToZ, QwenImageVaeLatents)
        if (!qwen) CheckLatentStats(c.Path, zDim, mean, std);
        if (std.Any(s => !(s > 0) || double.IsInfinity(s)))
            throw new FormatException($"{c.Path}: key 'latents_std' must hold positive finite numbers");
        double dropout = c.GetDouble("dropout", 0.0);
        if (!(dropout >= 0 && dropout < 1))
            throw new FormatException($"{c.Path}: key 'dropout' must be in [0, 1), found {dropout}");

        // Qwen-Image's one key for the video's channels, in and out
        int videoChannels = qwen ? c.GetInt("input_channels", 3, 1, ConfigBounds.Width) : 0;

        var config = new WanVaeConfig
        {
            Path = c.Path,
            Model = qwen ? QwenImageClassName : ClassName,
            BaseDim = baseDim,
            DecoderBaseDim = decoderBase,
            ZDim = zDim,
            DimMult = mult,
            NumResBlocks = c.GetInt("num_res_blocks", 2, 1, ConfigBounds.Layers),
            AttnScales = c.Has("attn_scales") ? c.GetDoubleArray("attn_scales") : [],
            TemperalDownsample = down,
            Dropout = dropout,
            InChannels = qwen ? videoChannels : c.GetInt("in_channels", 3, 1, ConfigBounds.Width),
            OutChannels = qwen ? videoChannels : c.GetInt("out_channels", 3, 1, ConfigBounds.Width),
            LatentsMean = mean,
            LatentsStd = std,
        };
        // null in the file (and always for Qwen-Image, whose diffusers class derives them): what the blocks make
        config = config with
        {
            ScaleFactorTemporal = !qwen && c.Has("scale_factor_temporal") ? c.GetIntIn("scale_factor_temporal", 1, 1 << 10) : config.TemporalFactor,
            ScaleFactorSpatial = !qwen && c.Has("scale_factor_spatial") ? c.GetIntIn("scale_factor_spatial", 1, 1 << 10) : config.SpatialFactor,
        };
        for (int i = 1; i < mult.Length; i++)
            if (config.UpOutChannels(i - 1) / 2 < 1)
                throw new FormatException($"{c.Path}: up block {i} would take {config.UpOutChannels(i - 1)} / 2 = 0 channels (decoder_base_dim · dim_mult too small)");
        // the pipeline sizes its latents by these two; they must be what the decoder makes
        if (config.ScaleFactorSpatial != config.SpatialFactor)
            throw new FormatException($"{c.Path}: key 'scale_factor_spatial' is {config.ScaleFactorSpatial}, but dim_mult's {mult.Length} blocks upsample by {config.SpatialFactor}");
        if (config.ScaleFactorTemporal != config.TemporalFactor)
            throw new FormatException($"{c.Path}: key 'scale_factor_temporal' is {config.ScaleFactorTemporal}, but temperal_downsample doubles the frames by {config.TemporalFactor}");
        return config;
    }

    /// <summary>Refuses latents_mean / latents_std unless both hold z_dim entries: the pipeline's latent scaling
    /// reads one per channel.</summary>
    public void RequireLatentStats() => CheckLatentStats(Path, ZDim, LatentsMean, LatentsStd);

    static void CheckLatentStats(string path, int zDim, double[] mean, double[] std)
    {
        if (mean.Length != zDim || std.Length != zDim)
            throw new FormatException($"{path}: keys 'latents_mean' and 'latents_std' must have z_dim = {zDim} entries, found {mean.Length} and {std.Length}");
    }

    static bool[] ReadBools(JsonConfig c, string key)
    {
        var e = c.Get(key);
        if (e.ValueKind != JsonValueKind.Array || e.EnumerateArray().Any(x => x.ValueKind is not (JsonValueKind.True or JsonValueKind.False)))
            throw new FormatException($"{c.Path}: key '{key}' must be an array of true/false, found {e.GetRawText()}");
        return e.EnumerateArray().Select(x => x.GetBoolean()).ToArray();
    }

    /// <summary>diffusers' defaults (Wan 2.1's statistics).</summary>
    static readonly double[] DefaultMean =
        [-0.7571, -0.7089, -0.9113, 0.1075, -0.1745, 0.9653, -0.1517, 1.5508, 0.4134, -0.0715, 0.5517, -0.3632, -0.1922, -0.9497, 0.2503, -0.2921];
    static readonly double[] DefaultStd =
        [2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743, 3.2687, 2.1526, 2.8652, 1.5579, 1.6382, 1.1253, 2.8251, 1.9160];
}

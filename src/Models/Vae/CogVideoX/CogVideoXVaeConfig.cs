using XDit.Runtime;

namespace XDit.Models.Vae.CogVideoX;

/// <summary>
/// The keys of a diffusers AutoencoderKLCogVideoX config.json that the decoder needs (missing keys take diffusers'
/// constructor defaults, CogVideoX-2b's VAE). What the decoder cannot run (another class, other block types, another
/// activation, a post-quant conv) is refused here with the file and key named. The decoder's norms are all
/// CogVideoXSpatialNorm3D, whose GroupNorm diffusers builds with eps 1e-6 whatever norm_eps says, so norm_eps is
/// not read; the encoder's keys (down_block_types, in_channels) are not either.
/// </summary>
public sealed record CogVideoXVaeConfig
{
    public const string ClassName = "AutoencoderKLCogVideoX";
    /// <summary>The GroupNorm eps of every CogVideoXSpatialNorm3D (fixed in diffusers).</summary>
    public const float NormEps = 1e-6f;

    public required string Path { get; init; }
    public int LatentChannels { get; init; } = 16;
    public int OutChannels { get; init; } = 3;
    /// <summary>Narrowest (image side) first, as the config lists them; the decoder runs them reversed.</summary>
    public required int[] BlockOutChannels { get; init; }
    /// <summary>Each up block holds layers_per_block + 1 resnets; the mid block two.</summary>
    public int LayersPerBlock { get; init; } = 3;
    public int NormNumGroups { get; init; } = 32;
    /// <summary>Frames per latent frame (4): the first log2 of it up blocks also double the frame count.</summary>
    public int TemporalCompressionRatio { get; init; } = 4;
    /// <summary>The pipeline divides its latents by this before <see cref="AutoencoderKLCogVideoX.Decode"/>
    /// (CogVideoX-2b 1.15258426, 5b 0.7); decode itself never reads it.</summary>
    public double ScalingFactor { get; init; } = 1.15258426;
    /// <summary>CogVideoX 1.5's image-to-video pipeline multiplies the image latents by 1/scaling_factor instead of
    /// scaling_factor; the decoder does not read it.</summary>
    public bool InvertScaleLatents { get; init; }
    /// <summary>diffusers' force_upcast (true): a float16 pipeline decodes with this VAE in float32.</summary>
    public bool ForceUpcast { get; init; } = true;

    /// <summary>Pixels per latent pixel along each axis: 2^(number of blocks − 1).</summary>
    public int SpatialFactor => 1 << (BlockOutChannels.Length - 1);
    /// <summary>How many up blocks also double the frames (diffusers' int(log2(temporal_compression_ratio))).</summary>
    public int TimeUpsamplingBlocks => (int)Math.Log2(TemporalCompressionRatio);
    /// <summary>Channels of conv_in, the mid block and the first up block (the widest, last entry).</summary>
    public int MidChannels => BlockOutChannels[^1];

    public static CogVideoXVaeConfig Load(string path) => From(JsonConfig.Load(path));

    public static CogVideoXVaeConfig From(JsonConfig c)
    {
        if (c.ClassName is { } name && name != ClassName)
            throw new NotSupportedException($"{c.Path}: _class_name is '{name}', expected '{ClassName}'");
        var act = c.GetString("act_fn", "silu");
        if (act != "silu")
            throw new NotSupportedException($"{c.Path}: act_fn '{act}' is not supported, expected 'silu'");
        if (c.GetBool("use_post_quant_conv", false))
            throw new NotSupportedException($"{c.Path}: use_post_quant_conv true is not supported (no CogVideoX checkpoint has one)");

        var blocks = c.GetIntArrayOrNull("block_out_channels") ?? [128, 256, 256, 512];
        if (blocks.Length == 0) throw new FormatException($"{c.Path}: key 'block_out_channels' is empty");
        if (c.Has("up_block_types"))
        {
            var types = c.GetStringArray("up_block_types");
            if (types.Length != blocks.Length)
                throw new FormatException($"{c.Path}: 'up_block_types' has {types.Length} entries but 'block_out_channels' has {blocks.Length}");
            foreach (var t in types)
                if (t != "CogVideoXUpBlock3D")
                    throw new NotSupportedException($"{c.Path}: up block type '{t}' is not supported, expected 'CogVideoXUpBlock3D'");
        }
        int groups = c.GetInt("norm_num_groups", 32, 1, ConfigBounds.Width);
        foreach (var ch in blocks)
            if (ch < 1 || ch > ConfigBounds.Width || ch % groups != 0)
                throw new FormatException($"{c.Path}: block_out_channels entry {ch} is not a positive multiple of norm_num_groups {groups}");
        int ratio = c.GetInt("temporal_compression_ratio", 4, 1, 1 << 10);
        if ((ratio & (ratio - 1)) != 0 || (int)Math.Log2(ratio) > blocks.Length - 1)
            throw new FormatException($"{c.Path}: temporal_compression_ratio {ratio} must be a power of two no larger than 2^(blocks − 1) = {1 << (blocks.Length - 1)}");

        return new CogVideoXVaeConfig
        {
            Path = c.Path,
            LatentChannels = c.GetInt("latent_channels", 16, 1, ConfigBounds.Width),
            OutChannels = c.GetInt("out_channels", 3, 1, ConfigBounds.Width),
            BlockOutChannels = blocks,
            LayersPerBlock = c.GetInt("layers_per_block", 3, 1, ConfigBounds.Layers),
            NormNumGroups = groups,
            TemporalCompressionRatio = ratio,
            ScalingFactor = c.GetPositiveDouble("scaling_factor", 1.15258426),
            InvertScaleLatents = c.GetBool("invert_scale_latents", false),
            ForceUpcast = c.GetBool("force_upcast", true),
        };
    }

    /// <summary>Frames the decoder makes from <paramref name="latentFrames"/> latent frames decoded together: the
    /// first frame stays one frame through every time-doubling up block, the others double, so with a ratio of 4 an
    /// odd batch t gives 4(t − 1) + 1 and an even one 4t.</summary>
    public int FramesOfBatch(int latentFrames)
    {
        int t = latentFrames;
        for (int i = 0; i < TimeUpsamplingBlocks; i++) t = Upsampled(t);
        return t;

        static int Upsampled(int t) => t <= 1 ? t : t % 2 == 1 ? 1 + 2 * (t - 1) : 2 * t;
    }
}

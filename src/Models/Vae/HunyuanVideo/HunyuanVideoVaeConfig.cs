using XDit.Runtime;

namespace XDit.Models.Vae.HunyuanVideo;

/// <summary>
/// The keys of a diffusers AutoencoderKLHunyuanVideo config.json that the decoder needs, with diffusers' constructor
/// defaults (HunyuanVideo's VAE). What the decoder cannot run is refused here with the file and key named: another
/// class, another activation (diffusers' get_activation takes "silu" or its alias "swish" for the resnets; the
/// output activation is SiLU whatever the key says), other up block types, and a temporal_compression_ratio other
/// than 4 (diffusers' decoder raises for it too). The encoder's keys (in_channels, down_block_types) are not read.
/// </summary>
public sealed record HunyuanVideoVaeConfig
{
    public const string ClassName = "AutoencoderKLHunyuanVideo";
    public const string UpBlockType = "HunyuanVideoUpBlock3D";
    /// <summary>The eps of every GroupNorm in the decoder (fixed in diffusers).</summary>
    public const float NormEps = 1e-6f;

    public required string Path { get; init; }
    public int LatentChannels { get; init; } = 16;
    public int OutChannels { get; init; } = 3;
    /// <summary>Narrowest (image side) first, as the config lists them; the decoder runs them reversed.</summary>
    public int[] BlockOutChannels { get; init; } = [128, 256, 512, 512];
    /// <summary>Each up block holds layers_per_block + 1 resnets; the mid block two.</summary>
    public int LayersPerBlock { get; init; } = 2;
    public int NormNumGroups { get; init; } = 32;
    /// <summary>The pipelines divide their latents by this before <see cref="AutoencoderKLHunyuanVideo.Decode"/>
    /// (HunyuanVideoPipeline: latents / scaling_factor, no latent mean or std); decode itself never reads it.</summary>
    public double ScalingFactor { get; init; } = 0.476986;
    public int SpatialCompressionRatio { get; init; } = 8;
    public int TemporalCompressionRatio { get; init; } = 4;
    public bool MidBlockAddAttention { get; init; } = true;

    /// <summary>Channels of conv_in, the mid block and the first up block (the last entry).</summary>
    public int MidChannels => BlockOutChannels[^1];
    public int UpBlocks => BlockOutChannels.Length;
    /// <summary>Output channels of up block i (block_out_channels reversed).</summary>
    public int UpOutChannels(int i) => BlockOutChannels[UpBlocks - 1 - i];
    /// <summary>Input channels of up block i: the previous block's output, the mid block's for the first.</summary>
    public int UpInChannels(int i) => i == 0 ? MidChannels : UpOutChannels(i - 1);
    /// <summary>Whether up block i doubles height and width: the first log2(spatial_compression_ratio) blocks.</summary>
    public bool UpsamplesSpace(int i) => i < Log2(SpatialCompressionRatio);
    /// <summary>Whether up block i also doubles the frames (all but the first one): the log2(temporal ratio) blocks
    /// just before the last, as diffusers' decoder places them.</summary>
    public bool UpsamplesTime(int i) => i >= UpBlocks - 1 - Log2(TemporalCompressionRatio) && i != UpBlocks - 1;
    /// <summary>Whether up block i has an upsampler at all.</summary>
    public bool Upsamples(int i) => UpsamplesSpace(i) || UpsamplesTime(i);
    /// <summary>Pixels per latent pixel along each axis: 2 per spatially upsampling block.</summary>
    public int SpatialFactor => 1 << Enumerable.Range(0, UpBlocks).Count(UpsamplesSpace);

    /// <summary>Frames the decoder makes of <paramref name="latentFrames"/>: each time-doubling block keeps the first
    /// frame single and doubles the others, so 4(F − 1) + 1 with the usual blocks.</summary>
    public int OutputFrames(int latentFrames)
    {
        int t = latentFrames;
        for (int i = 0; i < UpBlocks; i++)
            if (UpsamplesTime(i)) t = 1 + 2 * (t - 1);
        return t;
    }

    public static HunyuanVideoVaeConfig Load(string path) => From(JsonConfig.Load(path));

    public static HunyuanVideoVaeConfig From(JsonConfig c)
    {
        if (c.ClassName is { } name && name != ClassName)
            throw new NotSupportedException($"{c.Path}: _class_name is '{name}', expected '{ClassName}'");
        var act = c.GetString("act_fn", "silu");
        if (act is not ("silu" or "swish"))
            throw new NotSupportedException($"{c.Path}: act_fn '{act}' is not supported, expected 'silu'");

        var blocks = c.GetIntArrayOrNull("block_out_channels") ?? [128, 256, 512, 512];
        if (blocks.Length == 0 || blocks.Length > 8)
            throw new FormatException($"{c.Path}: key 'block_out_channels' must hold 1 to 8 entries, found {blocks.Length}");
        int groups = c.GetInt("norm_num_groups", 32, 1, ConfigBounds.Width);
        foreach (var ch in blocks)
            if (ch < 1 || ch > ConfigBounds.Width || ch % groups != 0)
                throw new FormatException($"{c.Path}: block_out_channels entry {ch} is not a positive multiple of norm_num_groups {groups}");
        if (c.Has("up_block_types"))
        {
            var types = c.GetStringArray("up_block_types");
            if (types.Length != blocks.Length)
                throw new FormatException($"{c.Path}: 'up_block_types' has {types.Length} entries but 'block_out_channels' has {blocks.Length}");
            foreach (var t in types)
                if (t != UpBlockType)
                    throw new NotSupportedException($"{c.Path}: up block type '{t}' is not supported, expected '{UpBlockType}'");
        }
        int temporal = c.GetInt("temporal_compression_ratio", 4, 1, 1 << 10);
        if (temporal != 4)
            throw new NotSupportedException($"{c.Path}: temporal_compression_ratio {temporal} is not supported, expected 4 (diffusers' decoder builds no other)");
        int spatial = c.GetInt("spatial_compression_ratio", 8, 1, 1 << 10);
        if ((spatial & (spatial - 1)) != 0 || Log2(spatial) > blocks.Length)
            throw new FormatException($"{c.Path}: spatial_compression_ratio {spatial} must be a power of two no larger than 2^(blocks) = {1 << blocks.Length}");

        return new HunyuanVideoVaeConfig
        {
            Path = c.Path,
            LatentChannels = c.GetInt("latent_channels", 16, 1, ConfigBounds.Width),
            OutChannels = c.GetInt("out_channels", 3, 1, ConfigBounds.Width),
            BlockOutChannels = blocks,
            LayersPerBlock = c.GetInt("layers_per_block", 2, 0, ConfigBounds.Layers),
            NormNumGroups = groups,
            ScalingFactor = c.GetPositiveDouble("scaling_factor", 0.476986),
            SpatialCompressionRatio = spatial,
            TemporalCompressionRatio = temporal,
            MidBlockAddAttention = c.GetBool("mid_block_add_attention", true),
        };
    }

    static int Log2(int v) => (int)Math.Log2(v);
}

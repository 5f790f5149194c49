using XDit.Runtime;

namespace XDit.Models.Vae;

/// <summary>
/// The keys of a diffusers AutoencoderKL config.json that the decoder and the encoder need. Anything the decoder cannot
/// run (another autoencoder class, other block types, another activation) is refused here with the file and key named;
/// what only the encoder needs (down_block_types) is checked when the encoder is loaded
/// (<see cref="ValidateEncoder"/>), so a config the decoder runs keeps loading for decoding.
/// </summary>
public sealed record AutoencoderKLConfig
{
    public required string Path { get; init; }
    public required int LatentChannels { get; init; }
    /// <summary>Image channels the encoder reads (in_channels, 3).</summary>
    public int InChannels { get; init; } = 3;
    /// <summary>down_block_types as written, or null when the config leaves the key out (diffusers' default is one
    /// DownEncoderBlock2D).</summary>
    public string?[]? DownBlockTypes { get; init; }
    public required int OutChannels { get; init; }
    public required int[] BlockOutChannels { get; init; }
    public required int LayersPerBlock { get; init; }
    public required int NormNumGroups { get; init; }
    public required double ScalingFactor { get; init; }
    /// <summary>SD3/Flux add this after dividing by the scaling factor; null for the SD/SDXL VAEs.</summary>
    public double? ShiftFactor { get; init; }
    public required bool UseQuantConv { get; init; }
    public required bool UsePostQuantConv { get; init; }
    public required bool MidBlockAddAttention { get; init; }
    public required int SampleSize { get; init; }
    /// <summary>diffusers' force_upcast (its default true): a pipeline running in float16 decodes with this VAE in
    /// float32, because it overflows in float16 (SDXL's own VAE says true; sdxl-vae-fp16-fix, HunyuanDiT's, false).
    /// SdxlPipeline then loads the VAE with float32 weights and decodes in float32 (AutoencoderKL.Float32); the other
    /// pipelines, as diffusers', ignore it.</summary>
    public bool ForceUpcast { get; init; } = true;

    /// <summary>How many image pixels one latent pixel becomes along each axis: 2^(number of blocks − 1).</summary>
    public int SpatialFactor => 1 << (BlockOutChannels.Length - 1);

    /// <summary>Channels of the mid block (the widest, last entry of block_out_channels).</summary>
    public int MidChannels => BlockOutChannels[^1];
    /// <summary>The widest channel count the decoder holds at the output's resolution: its last up block's input,
    /// upsampled from the block before.</summary>
    public int FullResolutionChannels => BlockOutChannels.Length > 1 ? Math.Max(BlockOutChannels[0], BlockOutChannels[1]) : BlockOutChannels[0];
    /// <summary>The widest channel count the encoder holds at the input's resolution: conv_in's output and the first
    /// down block's (its downsampler halves the size before the channels grow).</summary>
    public int EncoderFullResolutionChannels => BlockOutChannels[0];

    public static AutoencoderKLConfig Load(string path) => From(JsonConfig.Load(path));

    public static AutoencoderKLConfig From(JsonConfig c)
    {
        var cls = c.ClassName;
        if (cls is not null && cls != "AutoencoderKL")
            throw new NotSupportedException($"{c.Path}: _class_name '{cls}' is not supported, expected 'AutoencoderKL'");

        var act = c.GetString("act_fn", "silu");
        if (act != "silu")
            throw new NotSupportedException($"{c.Path}: act_fn '{act}' is not supported, expected 'silu'");

        var blocks = c.GetIntArrayOrNull("block_out_channels") ?? [64];
        if (blocks.Length == 0) throw new FormatException($"{c.Path}: key 'block_out_channels' is empty");

        if (c.Has("up_block_types"))
        {
            var types = c.Get("up_block_types").EnumerateArray().Select(e => e.GetString()).ToArray();
            if (types.Length != blocks.Length)
                throw new FormatException($"{c.Path}: 'up_block_types' has {types.Length} entries but 'block_out_channels' has {blocks.Length}");
            foreach (var t in types)
                if (t != "UpDecoderBlock2D")
                    throw new NotSupportedException($"{c.Path}: up block type '{t}' is not supported, expected 'UpDecoderBlock2D'");
        }

        int groups = c.GetInt("norm_num_groups", 32, 1, ConfigBounds.Width);
        foreach (var ch in blocks)
            if (ch % groups != 0)
                throw new FormatException($"{c.Path}: block_out_channels entry {ch} is not divisible by norm_num_groups {groups}");

        return new AutoencoderKLConfig
        {
            Path = c.Path,
            LatentChannels = c.GetInt("latent_channels", 4, 1, ConfigBounds.Width),
            InChannels = c.GetInt("in_channels", 3, 1, ConfigBounds.Width),
            DownBlockTypes = c.Has("down_block_types") ? c.Get("down_block_types").EnumerateArray().Select(e => e.ValueKind == System.Text.Json.JsonValueKind.String ? e.GetString() : e.ToString()).ToArray() : null,
            OutChannels = c.GetInt("out_channels", 3, 1, ConfigBounds.Width),
            BlockOutChannels = blocks,
            LayersPerBlock = c.GetInt("layers_per_block", 1, 1, ConfigBounds.Layers),
            NormNumGroups = groups,
            ScalingFactor = c.GetPositiveDouble("scaling_factor", 0.18215),
            ShiftFactor = c.Has("shift_factor") ? c.GetFiniteDouble("shift_factor", 0) : null,
            UseQuantConv = c.GetBool("use_quant_conv", true),
            UsePostQuantConv = c.GetBool("use_post_quant_conv", true),
            MidBlockAddAttention = c.GetBool("mid_block_add_attention", true),
            SampleSize = c.GetInt("sample_size", 32, 1, ConfigBounds.SampleSize),
            ForceUpcast = c.GetBool("force_upcast", true),
        };
    }

    /// <summary>Refuses what the encoder cannot run (<see cref="VaeEncoder"/>): a down block other than
    /// DownEncoderBlock2D, or a count that disagrees with block_out_channels. The decoder never calls it.</summary>
    public void ValidateEncoder()
    {
        if (DownBlockTypes is not { } types) return;
        if (types.Length != BlockOutChannels.Length)
            throw new FormatException($"{Path}: 'down_block_types' has {types.Length} entries but 'block_out_channels' has {BlockOutChannels.Length}");
        foreach (var t in types)
            if (t != "DownEncoderBlock2D")
                throw new NotSupportedException($"{Path}: down block type '{t}' is not supported, expected 'DownEncoderBlock2D'");
    }
}

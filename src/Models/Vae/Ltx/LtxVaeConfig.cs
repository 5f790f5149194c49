using System.Text.Json;
using XDit.Runtime;

namespace XDit.Models.Vae.Ltx;

/// <summary>
/// The keys of a diffusers AutoencoderKLLTXVideo config.json, with diffusers' constructor defaults for those a file
/// leaves out (LTX-Video 0.9.0's VAE). The decoder reads latent_channels, out_channels, the decoder_* keys,
/// upsample_residual, upsample_factor, timestep_conditioning, patch_size, patch_size_t and resnet_norm_eps; the
/// encoder's keys (in_channels, block_out_channels, layers_per_block, spatio_temporal_scaling, down_block_types,
/// downsample_type, encoder_causal) and the tiling ratios are read and kept but build nothing, as only the decoder is
/// implemented. The lists run from the image side to the latent side, as the encoder uses them; the decoder runs them
/// reversed (its up block i is entry n − 1 − i). What the decoder cannot run is refused here, the file and key named:
/// noise injection (its per-channel noise scales draw random noise at every decode), a width change inside an up
/// block with timestep conditioning (diffusers' conv_in gets the raw timestep there and fails), and channel counts
/// that do not chain from block to block.
/// </summary>
public sealed record LtxVaeConfig
{
    public const string ClassName = "AutoencoderKLLTXVideo";
    /// <summary>eps of every RMSNorm of the decoder (norm1, norm2, norm_out): fixed in diffusers.</summary>
    public const float RmsEps = 1e-8f;

    public required string Path { get; init; }
    public int InChannels { get; init; } = 3;
    public int OutChannels { get; init; } = 3;
    public int LatentChannels { get; init; } = 128;
    public int[] BlockOutChannels { get; init; } = [128, 256, 512, 512];
    public string[] DownBlockTypes { get; init; } = ["LTXVideoDownBlock3D", "LTXVideoDownBlock3D", "LTXVideoDownBlock3D", "LTXVideoDownBlock3D"];
    public int[] DecoderBlockOutChannels { get; init; } = [128, 256, 512, 512];
    public int[] LayersPerBlock { get; init; } = [4, 3, 3, 3, 4];
    /// <summary>n + 1 entries: the last is the mid block's resnet count, entry n − 1 − i up block i's.</summary>
    public int[] DecoderLayersPerBlock { get; init; } = [4, 3, 3, 3, 4];
    public bool[] SpatioTemporalScaling { get; init; } = [true, true, true, false];
    /// <summary>Whether up block n − 1 − i doubles frames, height and width (a depth-to-space upsampler).</summary>
    public bool[] DecoderSpatioTemporalScaling { get; init; } = [true, true, true, false];
    /// <summary>n + 1 entries, all false (noise injection is refused).</summary>
    public bool[] DecoderInjectNoise { get; init; } = [false, false, false, false, false];
    public string[] DownsampleType { get; init; } = ["conv", "conv", "conv", "conv"];
    public bool[] UpsampleResidual { get; init; } = [false, false, false, false];
    public int[] UpsampleFactor { get; init; } = [1, 1, 1, 1];
    public bool TimestepConditioning { get; init; }
    public int PatchSize { get; init; } = 4;
    public int PatchSizeT { get; init; } = 1;
    public double ResnetNormEps { get; init; } = 1e-6;
    /// <summary>The pipeline's; decode never reads it.</summary>
    public double ScalingFactor { get; init; } = 1.0;
    public bool EncoderCausal { get; init; } = true;
    public bool DecoderCausal { get; init; }
    /// <summary>Only diffusers' tiling reads these (null: derived from the blocks); kept as the file gives them.</summary>
    public int? SpatialCompressionRatio { get; init; }
    public int? TemporalCompressionRatio { get; init; }

    /// <summary>Number of up blocks (decoder_block_out_channels' length).</summary>
    public int UpBlockCount => DecoderBlockOutChannels.Length;
    /// <summary>Entry i of a per-block list in the decoder's order (the lists run from the image side).</summary>
    static int Reversed(int[] list, int i) => list[list.Length - 1 - i];
    /// <summary>Channels of conv_in and the mid block: the last decoder_block_out_channels entry.</summary>
    public int MidChannels => DecoderBlockOutChannels[^1];
    public int MidLayers => DecoderLayersPerBlock[^1];
    public int UpLayers(int i) => DecoderLayersPerBlock[DecoderLayersPerBlock.Length - 2 - i];
    public int UpFactor(int i) => Reversed(UpsampleFactor, i);
    public bool UpResidual(int i) => UpsampleResidual[UpsampleResidual.Length - 1 - i];
    public bool Upsamples(int i) => DecoderSpatioTemporalScaling[DecoderSpatioTemporalScaling.Length - 1 - i];
    /// <summary>The width diffusers builds up block i's resnets at: its decoder_block_out_channels entry over its
    /// upsample factor.</summary>
    public int UpOutChannels(int i) => Reversed(DecoderBlockOutChannels, i) / UpFactor(i);
    /// <summary>The width diffusers builds up block i's input at (its conv_in and time embedder): the previous
    /// block's output (the mid block's width for the first) over this block's upsample factor.</summary>
    public int UpInChannels(int i) => (i == 0 ? MidChannels : UpOutChannels(i - 1)) / UpFactor(i);
    /// <summary>Channels of norm_out and conv_out's input: the last up block's output.</summary>
    public int LastChannels => UpOutChannels(UpBlockCount - 1);
    /// <summary>How many up blocks double frames, height and width.</summary>
    public int UpsamplerCount => Enumerable.Range(0, UpBlockCount).Count(Upsamples);
    /// <summary>Pixels per latent pixel along each axis: 2^upsamplers · patch_size.</summary>
    public int SpatialFactor => (1 << UpsamplerCount) * PatchSize;
    /// <summary>conv_out's channels: out_channels · patch_size² (diffusers leaves patch_size_t out of it).</summary>
    public int ConvOutChannels => OutChannels * PatchSize * PatchSize;
    /// <summary>Channels of the decoded video: conv_out's over p_t · p² (out_channels / patch_size_t).</summary>
    public int VideoChannels => OutChannels / PatchSizeT;

    /// <summary>Video frames from <paramref name="latentFrames"/> latent frames: every upsampler makes 2T − 1 of T
    /// (the first frame of its doubled sequence is dropped), then patch_size_t frames per frame.</summary>
    public int OutputFrames(int latentFrames)
    {
        long t = latentFrames;
        for (int i = 0; i < UpsamplerCount; i++) t = 2 * t - 1;
        return checked((int)(t * PatchSizeT));
    }

    public static LtxVaeConfig Load(string path) => From(JsonConfig.Load(path));

    public static LtxVaeConfig From(JsonConfig c)
    {
        if (c.ClassName is { } name && name != ClassName)
            throw new NotSupportedException($"{c.Path}: _class_name is '{name}', expected '{ClassName}'");

        var decoderBlocks = c.GetIntArrayOrNull("decoder_block_out_channels") ?? [128, 256, 512, 512];
        int n = decoderBlocks.Length;
        if (n < 1 || n > 16 || decoderBlocks.Any(ch => ch < 1 || ch > ConfigBounds.Width))
            throw new FormatException($"{c.Path}: key 'decoder_block_out_channels' must hold 1 to 16 widths from 1 to {ConfigBounds.Width}, found [{string.Join(", ", decoderBlocks)}]");
        var config = new LtxVaeConfig
        {
            Path = c.Path,
            InChannels = c.GetInt("in_channels", 3, 1, ConfigBounds.Width),
            OutChannels = c.GetInt("out_channels", 3, 1, ConfigBounds.Width),
            LatentChannels = c.GetInt("latent_channels", 128, 1, ConfigBounds.Width),
            BlockOutChannels = c.GetIntArrayOrNull("block_out_channels") ?? [128, 256, 512, 512],
            DownBlockTypes = c.Has("down_block_types") ? c.GetStringArray("down_block_types") : Repeat("LTXVideoDownBlock3D", 4),
            DecoderBlockOutChannels = decoderBlocks,
            LayersPerBlock = c.GetIntArrayOrNull("layers_per_block") ?? [4, 3, 3, 3, 4],
            DecoderLayersPerBlock = Counts(c, "decoder_layers_per_block", [4, 3, 3, 3, 4], n + 1, 0),
            SpatioTemporalScaling = c.Has("spatio_temporal_scaling") ? Bools(c, "spatio_temporal_scaling", null) : [true, true, true, false],
            DecoderSpatioTemporalScaling = c.Has("decoder_spatio_temporal_scaling") ? Bools(c, "decoder_spatio_temporal_scaling", n) : Sized(c, "decoder_spatio_temporal_scaling", [true, true, true, false], n),
            DecoderInjectNoise = c.Has("decoder_inject_noise") ? Bools(c, "decoder_inject_noise", n + 1) : Sized(c, "decoder_inject_noise", [false, false, false, false, false], n + 1),
            DownsampleType = c.Has("downsample_type") ? c.GetStringArray("downsample_type") : Repeat("conv", 4),
            UpsampleResidual = c.Has("upsample_residual") ? Bools(c, "upsample_residual", n) : Sized(c, "upsample_residual", [false, false, false, false], n),
            UpsampleFactor = Counts(c, "upsample_factor", [1, 1, 1, 1], n, 1),
            TimestepConditioning = c.GetBool("timestep_conditioning", false),
            PatchSize = c.GetInt("patch_size", 4, 1, ConfigBounds.PatchSize),
            PatchSizeT = c.GetInt("patch_size_t", 1, 1, ConfigBounds.PatchSize),
            ResnetNormEps = c.GetPositiveDouble("resnet_norm_eps", 1e-6),
            ScalingFactor = c.GetPositiveDouble("scaling_factor", 1.0),
            EncoderCausal = c.GetBool("encoder_causal", true),
            DecoderCausal = c.GetBool("decoder_causal", false),
            SpatialCompressionRatio = c.Has("spatial_compression_ratio") ? c.GetIntIn("spatial_compression_ratio", 1, 1 << 16) : null,
            TemporalCompressionRatio = c.Has("temporal_compression_ratio") ? c.GetIntIn("temporal_compression_ratio", 1, 1 << 16) : null,
        };
        config.Validate();
        return config;
    }

    /// <summary>Refuses what the decoder cannot run, naming the file and key.</summary>
    void Validate()
    {
        int noisy = Array.IndexOf(DecoderInjectNoise, true);
        if (noisy >= 0)
            throw new NotSupportedException($"{Path}: decoder_inject_noise entry {noisy} is true: noise injection is not supported (it adds fresh random noise at every decode), expected all false");
        if (OutChannels % PatchSizeT != 0)
            throw new NotSupportedException($"{Path}: patch_size_t {PatchSizeT} does not divide out_channels {OutChannels}: diffusers' unpatchify splits conv_out's out_channels · patch_size² channels into patch_size_t · patch_size² parts");
        if (UpsamplerCount > 12)
            throw new FormatException($"{Path}: key 'decoder_spatio_temporal_scaling' upsamples {UpsamplerCount} times, at most 12 are supported");
        // follow the channels through the blocks as diffusers builds them: each layer must get the width it was built for
        int ch = MidChannels;
        for (int i = 0; i < UpBlockCount; i++)
        {
            int f = UpFactor(i), input = UpInChannels(i), output = UpOutChannels(i), entry = Reversed(DecoderBlockOutChannels, i);
            string which = $"up block {i} (decoder_block_out_channels entry {DecoderBlockOutChannels.Length - 1 - i})";
            if (entry % f != 0 || output < 1)
                throw new FormatException($"{Path}: {which}: upsample_factor {f} does not divide its width {entry}");
            if (input != output)
            {
                if (TimestepConditioning)
                    throw new NotSupportedException($"{Path}: {which} changes the width from {input} to {output} with timestep_conditioning true: diffusers' conv_in of such a block receives the raw timestep and fails, so it is not supported");
                if (ch != input)
                    throw new FormatException($"{Path}: {which} is built for {input} input channels (decoder_block_out_channels / upsample_factor) but receives {ch}");
                ch = output;
            }
            if (Upsamples(i))
            {
                if (ch != output * f)
                    throw new FormatException($"{Path}: {which}: its upsampler is built for {output} · upsample_factor {f} = {output * f} channels but receives {ch}");
                if (UpResidual(i) && (8 % f != 0 || ch % 8 != 0))
                    throw new NotSupportedException($"{Path}: {which}: upsample_residual needs its {ch} input channels divisible by 8 and upsample_factor {f} dividing 8");
                ch = output;
            }
            else if (ch != output)
                throw new FormatException($"{Path}: {which} has no upsampler (decoder_spatio_temporal_scaling false) but its resnets are built for {output} channels and receive {ch} (upsample_factor {f})");
        }
    }

    static string[] Repeat(string s, int n) => Enumerable.Repeat(s, n).ToArray();

    static int[] Counts(JsonConfig c, string key, int[] fallback, int length, int min)
    {
        var v = c.GetIntArrayOrNull(key) ?? fallback;
        if (v.Length != length)
            throw new FormatException($"{c.Path}: key '{key}' must have {length} entries to match decoder_block_out_channels, found {v.Length}{(c.Has(key) ? "" : " (the default)")}");
        if (v.Any(x => x < min || x > ConfigBounds.Layers))
            throw new FormatException($"{c.Path}: key '{key}' entries must be from {min} to {ConfigBounds.Layers}, found [{string.Join(", ", v)}]");
        return v;
    }

    static bool[] Sized(JsonConfig c, string key, bool[] fallback, int length)
    {
        if (fallback.Length != length)
            throw new FormatException($"{c.Path}: key '{key}' is not in the file and its default has {fallback.Length} entries, but decoder_block_out_channels needs {length}");
        return fallback;
    }

    static bool[] Bools(JsonConfig c, string key, int? length)
    {
        var e = c.Get(key);
        if (e.ValueKind != JsonValueKind.Array || e.EnumerateArray().Any(x => x.ValueKind is not (JsonValueKind.True or JsonValueKind.False)))
            throw new FormatException($"{c.Path}: key '{key}' must be an array of true/false, found {e.GetRawText()}");
        var v = e.EnumerateArray().Select(x => x.GetBoolean()).ToArray();
        if (length is { } n && v.Length != n)
            throw new FormatException($"{c.Path}: key '{key}' must have {n} entries to match decoder_block_out_channels, found {v.Length}");
        return v;
    }
}

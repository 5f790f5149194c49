using System.Text.Json;
using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Vae.Dc;

/// <summary>The two block kinds of a DC-AE stage (diffusers' block type names).</summary>
public enum DcBlockType { ResBlock, EfficientViTBlock }

/// <summary>
/// The decoder keys of a diffusers AutoencoderDC config.json (SANA's DC-AE). Missing keys take diffusers'
/// constructor defaults. What the decoder cannot run (batch-norm stages, an empty stage, channel counts the
/// shortcuts cannot repeat into) is refused here with the file and key named.
/// </summary>
public sealed record AutoencoderDCConfig
{
    public const string ClassName = "AutoencoderDC";

    public required string Path { get; init; }
    /// <summary>Image channels (the decoder's output).</summary>
    public int InChannels { get; init; } = 3;
    public int LatentChannels { get; init; } = 32;
    public int AttentionHeadDim { get; init; } = 32;
    /// <summary>Per stage, narrowest (image side) first, as the config lists them.</summary>
    public required DcBlockType[] BlockTypes { get; init; }
    public required int[] BlockOutChannels { get; init; }
    public required int[] LayersPerBlock { get; init; }
    /// <summary>Per stage, the kernel sizes of the attention's multi-scale Q/K/V aggregation (empty: none).</summary>
    public required int[][] QkvMultiscales { get; init; }
    /// <summary>Per stage, the ResBlocks' activation between their two convolutions.</summary>
    public required Activation[] ActFns { get; init; }
    /// <summary>upsample_block_type "interpolate": nearest 2× then a conv; "pixel_shuffle": a conv to 4× the
    /// channels then pixel shuffle.</summary>
    public bool Interpolate { get; init; }
    public bool InShortcut { get; init; } = true;
    public Activation ConvActFn { get; init; } = Activation.Relu;
    public double ScalingFactor { get; init; } = 1.0;

    public int NumStages => BlockOutChannels.Length;
    /// <summary>Pixels per latent pixel along each axis: one 2× up block between each pair of stages.</summary>
    public int SpatialFactor => 1 << (NumStages - 1);
    /// <summary>Channels of the deepest stage, where conv_in writes.</summary>
    public int DeepestChannels => BlockOutChannels[^1];

    public static AutoencoderDCConfig Load(string path) => From(JsonConfig.Load(path));

    public static AutoencoderDCConfig From(JsonConfig c)
    {
        if (c.ClassName is { } name && name != ClassName)
            throw new NotSupportedException($"{c.Path}: _class_name is '{name}', expected '{ClassName}'");

        var channels = c.GetIntArrayOrNull("decoder_block_out_channels") ?? [128, 256, 512, 512, 1024, 1024];
        int n = channels.Length;
        if (n == 0) throw new FormatException($"{c.Path}: key 'decoder_block_out_channels' is empty");
        var layers = c.GetIntArrayOrNull("decoder_layers_per_block") ?? [3, 3, 3, 3, 3, 3];
        var types = PerStage(c, "decoder_block_types", "ResBlock", n).Select(t => t switch
        {
            "ResBlock" => DcBlockType.ResBlock,
            "EfficientViTBlock" => DcBlockType.EfficientViTBlock,
            _ => throw new NotSupportedException($"{c.Path}: decoder_block_types entry '{t}' is not supported, expected 'ResBlock' or 'EfficientViTBlock'"),
        }).ToArray();
        foreach (var norm in PerStage(c, "decoder_norm_types", "rms_norm", n))
            if (norm != "rms_norm")
                throw new NotSupportedException($"{c.Path}: decoder_norm_types entry '{norm}' is not supported, expected 'rms_norm'");
        var acts = PerStage(c, "decoder_act_fns", "silu", n).Select(a => Act(c.Path, "decoder_act_fns", a)).ToArray();
        var upsample = c.GetString("upsample_block_type", "pixel_shuffle")!;
        if (upsample != "interpolate" && upsample != "pixel_shuffle")
            throw new NotSupportedException($"{c.Path}: upsample_block_type '{upsample}' is not supported, expected 'interpolate' or 'pixel_shuffle'");

        var cfg = new AutoencoderDCConfig
        {
            Path = c.Path,
            InChannels = c.GetInt("in_channels", 3, 1, ConfigBounds.Width),
            LatentChannels = c.GetInt("latent_channels", 32, 1, ConfigBounds.Width),
            AttentionHeadDim = c.GetInt("attention_head_dim", 32, 1, ConfigBounds.HeadDim),
            BlockTypes = types,
            BlockOutChannels = channels,
            LayersPerBlock = layers,
            QkvMultiscales = Multiscales(c, n),
            ActFns = acts,
            Interpolate = upsample == "interpolate",
            InShortcut = c.GetBool("decoder_in_shortcut", true),
            ConvActFn = Act(c.Path, "decoder_conv_act_fn", c.GetString("decoder_conv_act_fn", "relu")!),
            ScalingFactor = c.GetPositiveDouble("scaling_factor", 1.0),
        };
        cfg.Validate();
        return cfg;
    }

    void Validate()
    {
        int n = NumStages;
        if (LayersPerBlock.Length != n)
            throw new FormatException($"{Path}: 'decoder_layers_per_block' has {LayersPerBlock.Length} entries but 'decoder_block_out_channels' has {n}");
        for (int i = 0; i < n; i++)
        {
            if (BlockOutChannels[i] < 1 || BlockOutChannels[i] > ConfigBounds.Width)
                throw new FormatException($"{Path}: decoder_block_out_channels entry {i} must be from 1 to {ConfigBounds.Width}, found {BlockOutChannels[i]}");
            // diffusers then leaves out the stage's up block (and with stage 0 turns conv_out into one): not supported
            if (LayersPerBlock[i] < 1 || LayersPerBlock[i] > ConfigBounds.Layers)
                throw new NotSupportedException($"{Path}: decoder_layers_per_block entry {i} must be from 1 to {ConfigBounds.Layers}, found {LayersPerBlock[i]}");
            if (BlockTypes[i] == DcBlockType.EfficientViTBlock && BlockOutChannels[i] < AttentionHeadDim)
                throw new FormatException($"{Path}: stage {i} has {BlockOutChannels[i]} channels, fewer than attention_head_dim {AttentionHeadDim}: its attention would have no head");
            foreach (var k in QkvMultiscales[i])
                if (k < 1 || k % 2 == 0 || k > 63)
                    throw new FormatException($"{Path}: decoder_qkv_multiscales entry {i} holds kernel size {k}; expected an odd size from 1 to 63");
        }
        // each up block's shortcut repeats its input channels, then pixel-shuffles them into the narrower stage
        for (int i = 0; i < n - 1; i++)
            if (4 * BlockOutChannels[i] % BlockOutChannels[i + 1] != 0)
                throw new FormatException($"{Path}: decoder_block_out_channels {BlockOutChannels[i + 1]} → {BlockOutChannels[i]}: 4 × {BlockOutChannels[i]} is not a multiple of {BlockOutChannels[i + 1]}, so the up block's shortcut cannot repeat the channels");
        if (InShortcut && DeepestChannels % LatentChannels != 0)
            throw new FormatException($"{Path}: decoder_in_shortcut repeats latent_channels {LatentChannels} into {DeepestChannels} channels, which is not a multiple of it");
    }

    /// <summary>A key that is either one string for every stage or a list of one per stage.</summary>
    static string[] PerStage(JsonConfig c, string key, string fallback, int n)
    {
        if (!c.Has(key)) return Enumerable.Repeat(fallback, n).ToArray();
        if (c.Get(key).ValueKind == JsonValueKind.String) return Enumerable.Repeat(c.GetString(key), n).ToArray();
        var list = c.GetStringArray(key);
        if (list.Length != n)
            throw new FormatException($"{c.Path}: '{key}' has {list.Length} entries but 'decoder_block_out_channels' has {n}");
        return list;
    }

    static int[][] Multiscales(JsonConfig c, int n)
    {
        const string key = "decoder_qkv_multiscales";
        if (!c.Has(key))
            return Enumerable.Range(0, n).Select(i => i < n - 3 ? Array.Empty<int>() : [5]).ToArray();
        var e = c.Get(key);
        if (e.ValueKind != JsonValueKind.Array || e.GetArrayLength() != n)
            throw new FormatException($"{c.Path}: '{key}' must be a list of {n} lists of kernel sizes (one per stage)");
        try { return e.EnumerateArray().Select(s => s.EnumerateArray().Select(k => k.GetInt32()).ToArray()).ToArray(); }
        catch (Exception ex) when (ex is InvalidOperationException or FormatException)
        {
            throw new FormatException($"{c.Path}: '{key}' must be a list of {n} lists of integer kernel sizes");
        }
    }

    static Activation Act(string path, string key, string name) => name switch
    {
        "silu" or "swish" => Activation.Silu,
        "relu" => Activation.Relu,
        "gelu" => Activation.Gelu,
        _ => throw new NotSupportedException($"{path}: {key} '{name}' is not supported, expected 'silu', 'swish', 'relu' or 'gelu'"),
    };
}

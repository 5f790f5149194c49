using System.Text.Json;
using XDit.Runtime;

namespace XDit.Models.Sdxl;

/// <summary>
/// The keys of a diffusers UNet2DConditionModel config.json as SDXL configures it (stable-diffusion-xl-base-1.0:
/// block_out_channels 320/640/1280, DownBlock2D then two CrossAttnDownBlock2D, transformer_layers_per_block 1/2/10,
/// linear projections, GEGLU feed-forwards, the "text_time" added conditioning). Missing keys take diffusers'
/// constructor defaults; what this UNet cannot run (other block types, class embeddings, another time embedding)
/// is refused here with the file and key named.
/// </summary>
public sealed record SdxlUNetConfig
{
    public const string ClassName = "UNet2DConditionModel";
    public const string DownBlock = "DownBlock2D";
    public const string CrossAttnDownBlock = "CrossAttnDownBlock2D";
    public const string UpBlock = "UpBlock2D";
    public const string CrossAttnUpBlock = "CrossAttnUpBlock2D";
    public const string MidBlock = "UNetMidBlock2DCrossAttn";

    public required string Path { get; init; }
    public required int InChannels { get; init; }
    public required int OutChannels { get; init; }
    public required int[] BlockOutChannels { get; init; }
    public required string[] DownBlockTypes { get; init; }
    public required string[] UpBlockTypes { get; init; }
    public required int LayersPerBlock { get; init; }
    public required int NormNumGroups { get; init; }
    public required float NormEps { get; init; }
    public required int CrossAttentionDim { get; init; }
    /// <summary>Heads per down block (diffusers' attention_head_dim key, which this class reads as the head count:
    /// the head width is the block's channels over it).</summary>
    public required int[] NumAttentionHeads { get; init; }
    /// <summary>BasicTransformerBlocks in each down block's Transformer2DModels; the up blocks take them reversed
    /// and the mid block the last entry.</summary>
    public required int[] TransformerLayersPerBlock { get; init; }
    public required bool FlipSinToCos { get; init; }
    public required float FreqShift { get; init; }
    /// <summary>"text_time" (SDXL: pooled text embeds and the micro-conditioning time ids) or null (none).</summary>
    public required string? AdditionEmbedType { get; init; }
    /// <summary>Sinusoid width of each time id.</summary>
    public required int AdditionTimeEmbedDim { get; init; }
    /// <summary>Width of cat[text_embeds, sinusoids of the time ids] that add_embedding takes.</summary>
    public required int ProjectionClassEmbeddingsInputDim { get; init; }
    public required int ConvInKernel { get; init; }
    public required int ConvOutKernel { get; init; }
    public required int SampleSize { get; init; }

    /// <summary>Width of the timestep embedding (4 × block_out_channels[0]).</summary>
    public int TimeEmbedDim => 4 * BlockOutChannels[0];
    public int NumBlocks => BlockOutChannels.Length;
    /// <summary>How many times the down path halves H and W (every down block but the last).</summary>
    public int Downsamplings => NumBlocks - 1;
    public bool HasTextTimeEmbedding => AdditionEmbedType == "text_time";
    public bool IsCrossAttnDown(int block) => DownBlockTypes[block] == CrossAttnDownBlock;
    public bool IsCrossAttnUp(int block) => UpBlockTypes[block] == CrossAttnUpBlock;

    public static SdxlUNetConfig Load(string path) => From(JsonConfig.Load(path));

    public static SdxlUNetConfig From(JsonConfig c)
    {
        if (c.ClassName is { } name && name != ClassName)
            throw new NotSupportedException($"{c.Path}: _class_name is '{name}', expected '{ClassName}'");
        var blocks = c.GetIntArrayOrNull("block_out_channels") ?? [320, 640, 1280, 1280];
        if (blocks.Length == 0) throw new FormatException($"{c.Path}: key 'block_out_channels' is empty");
        int n = blocks.Length;
        var cfg = new SdxlUNetConfig
        {
            Path = c.Path,
            InChannels = c.GetInt("in_channels", 4, 1, ConfigBounds.Width),
            OutChannels = c.GetInt("out_channels", 4, 1, ConfigBounds.Width),
            BlockOutChannels = blocks,
            DownBlockTypes = c.Has("down_block_types") ? c.GetStringArray("down_block_types")
                : [CrossAttnDownBlock, CrossAttnDownBlock, CrossAttnDownBlock, DownBlock],
            UpBlockTypes = c.Has("up_block_types") ? c.GetStringArray("up_block_types")
                : [UpBlock, CrossAttnUpBlock, CrossAttnUpBlock, CrossAttnUpBlock],
            LayersPerBlock = c.GetInt("layers_per_block", 2, 1, ConfigBounds.Layers),
            NormNumGroups = c.GetInt("norm_num_groups", 32, 1, ConfigBounds.Width),
            NormEps = (float)c.GetPositiveDouble("norm_eps", 1e-5),
            CrossAttentionDim = IntKey(c, "cross_attention_dim", 1280, ConfigBounds.Width),
            NumAttentionHeads = PerBlock(c, "attention_head_dim", 8, n, ConfigBounds.Heads),
            TransformerLayersPerBlock = PerBlock(c, "transformer_layers_per_block", 1, n, ConfigBounds.Layers),
            FlipSinToCos = c.GetBool("flip_sin_to_cos", true),
            FreqShift = (float)c.GetFiniteDouble("freq_shift", 0),
            AdditionEmbedType = c.GetString("addition_embed_type", null),
            AdditionTimeEmbedDim = c.Has("addition_time_embed_dim") ? c.GetIntIn("addition_time_embed_dim", 2, ConfigBounds.Width) : 0,
            ProjectionClassEmbeddingsInputDim = c.Has("projection_class_embeddings_input_dim")
                ? c.GetIntIn("projection_class_embeddings_input_dim", 1, ConfigBounds.Width) : 0,
            ConvInKernel = c.GetInt("conv_in_kernel", 3, 1, 31),
            ConvOutKernel = c.GetInt("conv_out_kernel", 3, 1, 31),
            SampleSize = c.GetInt("sample_size", 64, 1, ConfigBounds.SampleSize),
        };
        cfg.Validate(c);
        return cfg;
    }

    void Validate(JsonConfig c)
    {
        string path = c.Path;
        int n = NumBlocks;
        if (DownBlockTypes.Length != n)
            throw new FormatException($"{path}: 'down_block_types' has {DownBlockTypes.Length} entries but 'block_out_channels' has {n}");
        if (UpBlockTypes.Length != n)
            throw new FormatException($"{path}: 'up_block_types' has {UpBlockTypes.Length} entries but 'block_out_channels' has {n}");
        foreach (var t in DownBlockTypes)
            if (t is not (DownBlock or CrossAttnDownBlock))
                throw new NotSupportedException($"{path}: down block type '{t}' is not supported (only {DownBlock} and {CrossAttnDownBlock})");
        foreach (var t in UpBlockTypes)
            if (t is not (UpBlock or CrossAttnUpBlock))
                throw new NotSupportedException($"{path}: up block type '{t}' is not supported (only {UpBlock} and {CrossAttnUpBlock})");
        var mid = c.GetString("mid_block_type", MidBlock);
        if (mid != MidBlock)
            throw new NotSupportedException($"{path}: mid_block_type '{mid}' is not supported (only {MidBlock})");
        foreach (var ch in BlockOutChannels)
        {
            if (ch < 1 || ch > ConfigBounds.Width) throw new FormatException($"{path}: block_out_channels entry {ch} must be from 1 to {ConfigBounds.Width}");
            if (ch % NormNumGroups != 0)
                throw new FormatException($"{path}: block_out_channels entry {ch} is not divisible by norm_num_groups {NormNumGroups}");
        }
        for (int i = 0; i < n; i++)
            if (BlockOutChannels[i] % NumAttentionHeads[i] != 0)
                throw new FormatException($"{path}: block_out_channels[{i}] = {BlockOutChannels[i]} is not divisible by attention_head_dim[{i}] = {NumAttentionHeads[i]} (this class reads attention_head_dim as the number of heads)");
        if (c.Has("num_attention_heads"))
            throw new NotSupportedException($"{path}: key 'num_attention_heads' must be null: diffusers' UNet2DConditionModel takes the head count from attention_head_dim");
        if (ConvInKernel % 2 == 0 || ConvOutKernel % 2 == 0)
            throw new FormatException($"{path}: conv_in_kernel and conv_out_kernel must be odd, found {ConvInKernel} and {ConvOutKernel}");

        if (AdditionEmbedType is not (null or "text_time"))
            throw new NotSupportedException($"{path}: addition_embed_type '{AdditionEmbedType}' is not supported (only \"text_time\" or null)");
        if (HasTextTimeEmbedding && (AdditionTimeEmbedDim == 0 || ProjectionClassEmbeddingsInputDim == 0))
            throw new FormatException($"{path}: addition_embed_type \"text_time\" needs 'addition_time_embed_dim' and 'projection_class_embeddings_input_dim'");

        // settings SDXL leaves at their defaults, refused where they would change the result
        Require(c, "act_fn", "silu");
        Require(c, "time_embedding_type", "positional");
        Require(c, "resnet_time_scale_shift", "default");
        Require(c, "attention_type", "default");
        RequireNull(c, "class_embed_type");
        RequireNull(c, "num_class_embeds");
        RequireNull(c, "encoder_hid_dim_type");
        RequireNull(c, "time_cond_proj_dim");
        RequireNull(c, "timestep_post_act");
        RequireNull(c, "time_embedding_act_fn");
        RequireNull(c, "time_embedding_dim");
        RequireNull(c, "cross_attention_norm");
        RequireNull(c, "reverse_transformer_layers_per_block");
        RequireFalse(c, "center_input_sample");
        RequireFalse(c, "dual_cross_attention");
        RequireFalse(c, "only_cross_attention");
        RequireFalse(c, "mid_block_only_cross_attention");
        RequireFalse(c, "resnet_skip_time_act");
        RequireFalse(c, "class_embeddings_concat");
        if (!c.GetBool("use_linear_projection", false))
            throw new NotSupportedException($"{path}: use_linear_projection false (1×1 convolution projections) is not supported; SDXL uses true");
        if (c.GetInt("downsample_padding", 1) != 1)
            throw new NotSupportedException($"{path}: downsample_padding {c.GetInt("downsample_padding")} is not supported (only 1)");
        if (c.GetFiniteDouble("resnet_out_scale_factor", 1.0) != 1.0 || c.GetFiniteDouble("mid_block_scale_factor", 1.0) != 1.0)
            throw new NotSupportedException($"{path}: resnet_out_scale_factor and mid_block_scale_factor must be 1");
    }

    /// <summary>A key that is an integer (diffusers also allows per-block lists here; SDXL gives one number).</summary>
    static int IntKey(JsonConfig c, string key, int fallback, int max)
    {
        if (c.Has(key) && c.Get(key).ValueKind != JsonValueKind.Number)
            throw new NotSupportedException($"{c.Path}: key '{key}' must be one integer (per-block values are not supported), found {c.Get(key).GetRawText()}");
        return c.GetInt(key, fallback, 1, max);
    }

    /// <summary>A key given as one integer for every block or as a list with one entry per block.</summary>
    static int[] PerBlock(JsonConfig c, string key, int fallback, int blocks, int max)
    {
        if (!c.Has(key)) return Enumerable.Repeat(fallback, blocks).ToArray();
        if (c.Get(key).ValueKind == JsonValueKind.Number) return Enumerable.Repeat(c.GetIntIn(key, 1, max), blocks).ToArray();
        var v = c.GetIntArray(key);
        if (v.Length != blocks)
            throw new FormatException($"{c.Path}: key '{key}' has {v.Length} entries, expected one per block ({blocks})");
        foreach (var x in v)
            if (x < 1 || x > max) throw new FormatException($"{c.Path}: key '{key}' entries must be integers from 1 to {max}, found {x}");
        return v;
    }

    static void Require(JsonConfig c, string key, string value)
    {
        var v = c.GetString(key, value);
        if (v != value) throw new NotSupportedException($"{c.Path}: {key} '{v}' is not supported (only '{value}')");
    }

    static void RequireNull(JsonConfig c, string key)
    {
        if (c.Has(key)) throw new NotSupportedException($"{c.Path}: key '{key}' must be null, found {c.Get(key).GetRawText()}");
    }

    static void RequireFalse(JsonConfig c, string key)
    {
        if (c.Has(key) && c.GetBool(key)) throw new NotSupportedException($"{c.Path}: key '{key}' must be false");
    }
}

using XDit.Models.PixArt;
using XDit.Runtime;

namespace XDit.Engine.Bench;

/// <summary>
/// Transformers at their published sizes, with made-up weights (<see cref="RandomCheckpoint"/>), for timing one
/// forward pass against the numbers other runtimes publish (../shared/gpu/README.md has diffusers' on an H100:
/// PixArt-XL-2 at 1024 px, batch 2, 120 text tokens, 60.2 ms eager, 33.9 ms compiled). The configs are those of
/// the hub's config.json files.
/// </summary>
public static class RealSizeModels
{
    /// <summary>PixArt-alpha/PixArt-XL-2-1024-MS's transformer: 28 blocks of 16 heads × 72, T5-XXL captions.</summary>
    public static PixArtConfig PixArtXl2_1024 { get; } = new()
    {
        NumAttentionHeads = 16, AttentionHeadDim = 72, InChannels = 4, OutChannels = 8, NumLayers = 28, CrossAttentionDim = 1152,
        AttentionBias = true, SampleSize = 128, PatchSize = 2, ActivationFn = "gelu-approximate", NormEps = 1e-6,
        InterpolationScale = 2, UseAdditionalConditions = true, CaptionChannels = 4096,
    };

    /// <summary>The same architecture at toy size: what the tests run on the CPU.</summary>
    public static PixArtConfig PixArtTiny { get; } = PixArtXl2_1024 with { NumAttentionHeads = 2, AttentionHeadDim = 24, NumLayers = 2, CrossAttentionDim = 48, SampleSize = 8, CaptionChannels = 40 };

    public static IReadOnlyList<string> Names { get; } = ["pixart-xl-2-1024", "pixart-tiny"];

    /// <summary>The workload of <paramref name="name"/> with random <paramref name="weights"/>: a square latent of
    /// the model's trained size unless <paramref name="latentSize"/> says otherwise.</summary>
    public static PixArtStepWorkload Workload(string name, DType weights, int? latentSize = null, int textTokens = 120, int rows = 2)
    {
        var config = name switch
        {
            "pixart-xl-2-1024" => PixArtXl2_1024,
            "pixart-tiny" => PixArtTiny,
            _ => throw new ArgumentException($"unknown real-size model '{name}' (known: {string.Join(", ", Names)})"),
        };
        string source = $"{name} with random {weights.ToString().ToLowerInvariant()} weights";
        return new PixArtStepWorkload(config, source, ops => PixArtTransformer.Load(config, new RandomCheckpoint(name, weights), ops),
            latentSize ?? config.SampleSize, textTokens, rows);
    }
}

using XDit.Models.PixArt;
using XDit.Models.SD3;
using XDit.Runtime;

namespace XDit.Engine.Bench;

/// <summary>
/// Transformers at their published sizes, with made-up weights (<see cref="RandomCheckpoint"/>), for timing one
/// forward pass against the numbers other runtimes publish (../shared/gpu/README.md has diffusers' on an H100:
/// PixArt-XL-2 at 1024 px, batch 2, 120 text tokens, 60.2 ms eager, 33.9 ms compiled; SD3-medium at 1024 px, batch
/// 2, 333 text tokens, 56.4 ms and 43.3 ms). The configs are those of the hub's config.json files.
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

    /// <summary>stabilityai/stable-diffusion-3-medium's transformer: 24 joint blocks of 24 heads × 64, no qk-norm.</summary>
    public static SD3Config SD3Medium { get; } = new()
    {
        SampleSize = 128, PatchSize = 2, InChannels = 16, OutChannels = 16, NumLayers = 24, AttentionHeadDim = 64, NumAttentionHeads = 24,
        JointAttentionDim = 4096, CaptionProjectionDim = 1536, PooledProjectionDim = 2048, PosEmbedMaxSize = 192,
    };

    /// <summary>SD3's architecture at toy size.</summary>
    public static SD3Config SD3Tiny { get; } = SD3Medium with
    {
        SampleSize = 8, NumLayers = 2, AttentionHeadDim = 16, NumAttentionHeads = 2, JointAttentionDim = 24, CaptionProjectionDim = 32,
        PooledProjectionDim = 20, PosEmbedMaxSize = 8,
    };

    public static IReadOnlyList<string> Names { get; } = ["pixart-xl-2-1024", "sd3-medium", "pixart-tiny", "sd3-tiny"];

    /// <summary>The workload of <paramref name="name"/> with random <paramref name="weights"/>: a square latent of
    /// the model's trained size unless <paramref name="latentSize"/> says otherwise, and the text tokens of the
    /// published timings (PixArt's 120, SD3's 333) unless <paramref name="textTokens"/> does.</summary>
    public static IStepWorkload Workload(string name, DType weights, int? latentSize = null, int? textTokens = null, int rows = 2)
    {
        string source = $"{name} with random {weights.ToString().ToLowerInvariant()} weights";
        switch (name)
        {
            case "pixart-xl-2-1024" or "pixart-tiny":
            {
                var config = name == "pixart-tiny" ? PixArtTiny : PixArtXl2_1024;
                return new PixArtStepWorkload(config, source, ops => PixArtTransformer.Load(config, new RandomCheckpoint(name, weights), ops),
                    latentSize ?? config.SampleSize, textTokens ?? 120, rows);
            }
            case "sd3-medium" or "sd3-tiny":
            {
                var config = name == "sd3-tiny" ? SD3Tiny : SD3Medium;
                // no qk-norm weights, as in SD3-medium's checkpoint (the loader probes for them)
                var checkpoint = new RandomCheckpoint(name, weights, contains: n => !n.Contains(".norm_q.") && !n.Contains(".norm_k.")
                    && !n.Contains(".norm_added_q.") && !n.Contains(".norm_added_k."));
                return new SD3StepWorkload(config, source, ops => SD3Transformer.Load(config, checkpoint, ops), latentSize ?? config.SampleSize,
                    textTokens ?? 333, rows);
            }
            default: throw new ArgumentException($"unknown real-size model '{name}' (known: {string.Join(", ", Names)})");
        }
    }
}

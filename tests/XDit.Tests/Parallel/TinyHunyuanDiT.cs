using XDit.Kernels;
using XDit.Models;
using XDit.Models.HunyuanDiT;
using XDit.Runtime;

namespace XDit.Tests.Parallel;

/// <summary>
/// A HunyuanDiT the tests make up: 6 blocks (long skips 0 → 5 and 1 → 4) of 4 heads × 8, seeded random weights
/// (<see cref="RandomCheckpoint"/>, ±0.3 so that attention is far from uniform), on a 16×8 latent = an 8×4 token
/// grid, with two different rows of random BERT/mT5 states (row 1 pads its last tokens). Where the fixture's 3 heads
/// and 4 token rows stop (ulysses 2 and 4, PipeFusion bands split over sequence parallelism, 3 stages), this runs.
/// </summary>
static class TinyHunyuanDiT
{
    public const string Name = "hunyuandit_tiny";

    public static HunyuanDiTConfig Config { get; } = new()
    {
        NumAttentionHeads = 4, AttentionHeadDim = 8, InChannels = 4, PatchSize = 2, LearnSigma = true, MlpRatio = 4.0, NumLayers = 6,
        CrossAttentionDim = 16, CrossAttentionDimT5 = 16, PooledProjectionDim = 8, TextLen = 4, TextLenT5 = 6,
        UseStyleCondAndImageMetaSize = true,
    };

    const int LatentH = 16, LatentW = 8;

    public static DiffusionTransformer Load(IOps ops) =>
        HunyuanDiTTransformer.Load(Config, new RandomCheckpoint(Name, DType.F32, scale: 0.3f, contains: Config.Holds), ops);

    public static FixtureInputs Inputs()
    {
        var c = Config;
        int gh = LatentH / c.PatchSize, gw = LatentW / c.PatchSize;
        var (cos, sin) = HunyuanDiTRotaryTable.Build(c.AttentionHeadDim, gh, gw);
        float[] Mask(int len, int keptInRow1) => Enumerable.Range(0, 2 * len).Select(i => i < len || i - len < keptInRow1 ? 1f : 0f).ToArray();
        var tensors = new Dictionary<string, (float[] Data, int[] Shape)>
        {
            ["hidden_states"] = (Numerics.Random(2 * c.InChannels * LatentH * LatentW, 11), [2, c.InChannels, LatentH, LatentW]),
            ["encoder_hidden_states"] = (Numerics.Random(2 * c.TextLen * c.CrossAttentionDim, 12), [2, c.TextLen, c.CrossAttentionDim]),
            ["text_embedding_mask"] = (Mask(c.TextLen, 2), [2, c.TextLen]),
            ["encoder_hidden_states_t5"] = (Numerics.Random(2 * c.TextLenT5 * c.CrossAttentionDimT5, 13), [2, c.TextLenT5, c.CrossAttentionDimT5]),
            ["text_embedding_mask_t5"] = (Mask(c.TextLenT5, 4), [2, c.TextLenT5]),
            ["image_meta_size"] = ([128, 64, 128, 64, 0, 0, 128, 64, 128, 64, 0, 0], [2, HunyuanDiTConfig.ImageMetaValues]),
            ["image_rotary_emb_cos"] = (cos, [gh * gw, c.AttentionHeadDim]),
            ["image_rotary_emb_sin"] = (sin, [gh * gw, c.AttentionHeadDim]),
        };
        return new FixtureInputs { Name = Name, Tensors = tensors, Timestep = [700f, 300f], Style = [0, 0] };
    }
}

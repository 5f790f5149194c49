using XDit.Kernels;
using XDit.Models;
using XDit.Models.Sana;
using XDit.Runtime;
using XDit.Tests.Parallel;

namespace XDit.Tests.PipeFusion;

/// <summary>
/// A SANA the tests make up: 8 blocks (so 2, 3 and 4 stages all get blocks) of 4 heads × 8, seeded random weights
/// (<see cref="RandomCheckpoint"/>, ±0.3), on an 8×6 latent with patch size 1 = an 8×6 token grid, with two
/// different rows of random caption states (row 1 pads its last 2 tokens). Where the sana fixture's 2 blocks, 2
/// heads and 6 token rows stop (3 and 4 stages, ulysses 2 × ring 2 inside a stage), this runs.
/// </summary>
static class TinySana
{
    public const string Name = "sana_tiny";

    public static SanaConfig Config { get; } = new()
    {
        InChannels = 4, OutChannels = 4, NumAttentionHeads = 4, AttentionHeadDim = 8, NumLayers = 8,
        NumCrossAttentionHeads = 4, CrossAttentionHeadDim = 8, CrossAttentionDim = 32, CaptionChannels = 16,
        MlpRatio = 2.5, AttentionBias = false, SampleSize = 8, PatchSize = 1, NormEps = 1e-6,
    };

    public const int LatentH = 8, LatentW = 6, TextLen = 5;

    public static DiffusionTransformer Load(IOps ops) =>
        SanaTransformer.Load(Config, new RandomCheckpoint(Name, DType.F32, scale: 0.3f), ops);

    public static FixtureInputs Inputs()
    {
        var c = Config;
        var tensors = new Dictionary<string, (float[] Data, int[] Shape)>
        {
            ["hidden_states"] = (Numerics.Random(2 * c.InChannels * LatentH * LatentW, 21), [2, c.InChannels, LatentH, LatentW]),
            ["encoder_hidden_states"] = (Numerics.Random(2 * TextLen * c.CaptionChannels, 22), [2, TextLen, c.CaptionChannels]),
            ["encoder_attention_mask"] = (Enumerable.Range(0, 2 * TextLen).Select(i => i < TextLen + 3 ? 1f : 0f).ToArray(), [2, TextLen]),
        };
        return new FixtureInputs { Name = Name, Tensors = tensors, Timestep = [700f, 300f] };
    }
}

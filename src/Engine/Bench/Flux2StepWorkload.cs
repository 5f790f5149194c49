using XDit.Kernels;
using XDit.Models;
using XDit.Models.Flux2;
using XDit.Runtime;

namespace XDit.Engine.Bench;

/// <summary>
/// A Flux 2 transformer (from a config and a made-up checkpoint, <see cref="RealSizeModels"/>) on a square latent of
/// <paramref name="latentSize"/>², 2×2 patches as Flux2Pipeline packs them into (side / 2)² tokens of in_channels,
/// with <paramref name="textTokens"/> text tokens and <paramref name="rows"/> rows; ids (t, h, w, l) as the pipeline
/// makes them (image (0, i, j, 0), text (0, 0, 0, l)), no reference image; seeded random inputs, guidance 4.
/// </summary>
public sealed class Flux2StepWorkload(Flux2Config config, string source, Func<IOps, DiffusionTransformer> load, int latentSize, int textTokens, int rows)
    : StepWorkload(source, load, latentSize, 2, textTokens, rows)
{
    public override int Heads => config.NumAttentionHeads;
    protected override string Architecture => $"{config.NumLayers} + {config.NumSingleLayers} layers, {Heads} heads × {config.AttentionHeadDim}";

    public override DitInputs Inputs(IOps ops, List<Tensor> owned)
    {
        int n = ImageTokens, axes = config.AxesDimsRope.Length, side = LatentSize / 2;
        var img = new float[n * axes];
        for (int i = 0; i < n; i++) { img[i * axes + 1] = i / side; img[i * axes + 2] = i % side; }
        var txt = new float[TextTokens * axes];
        for (int l = 0; l < TextTokens; l++) txt[l * axes + axes - 1] = l;
        Tensor Ids(float[] ids, int count)
        {
            using var host = Tensor.FromArray(ids, count, axes);
            return Own(owned, ops.Upload(host));   // float32, exact positions
        }
        return new DitInputs
        {
            HiddenStates = Own(owned, ops.FromHost(StepInputs.Random(Rows * n * config.InChannels, 1), Rows, n, config.InChannels)),
            EncoderHiddenStates = Own(owned, ops.FromHost(StepInputs.Random(Rows * TextTokens * config.JointAttentionDim, 2), Rows, TextTokens, config.JointAttentionDim)),
            Timestep = Enumerable.Repeat(0.5f, Rows).ToArray(),
            Guidance = config.GuidanceEmbeds ? Enumerable.Repeat(4f, Rows).ToArray() : null,
            ImgIds = Ids(img, n),
            TxtIds = Ids(txt, TextTokens),
        };
    }
}

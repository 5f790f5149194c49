using XDit.Kernels;
using XDit.Models.Embeddings;
using XDit.Models.Layers;
using XDit.Runtime;

namespace XDit.Models.Flux2;

/// <summary>
/// Flux 2's conditioning: temb = timestep_embedder(t) [+ guidance_embedder(g)] (time_guidance_embed, bias-free), and
/// every modulation the model takes from SiLU(temb). Flux 2 has no per-block adaptive norms: one modulation serves the
/// image stream of all double blocks (double_stream_modulation_img, 6 parts), one their text stream
/// (double_stream_modulation_txt, 6), one all single blocks (single_stream_modulation, 3), and norm_out's linear (2:
/// scale then shift) reads the same SiLU(temb). Their four weights are stacked into one GEMM run once per forward; its
/// output [B, 17·D] is what <see cref="DitState.Conditioning"/> holds, and the blocks read their parts as views of it.
/// </summary>
sealed class Flux2Conditioning
{
    /// <summary>Chunks of D in the conditioning row: double image 0–5, double text 6–11, single 12–14, norm_out 15–16.</summary>
    public const int Chunks = 17;
    const int DoubleImage = 0, DoubleText = 6, Single = 12, NormOut = 15;

    readonly TimestepEmbedding _timestep;
    readonly TimestepEmbedding? _guidance;
    readonly Linear _modulations;

    public Flux2Conditioning(WeightScope root, Flux2Config c)
    {
        int d = c.InnerDim, ch = c.TimestepGuidanceChannels;
        var te = root.Pp("time_guidance_embed");
        _timestep = Embedder(te.Pp("timestep_embedder"), ch, d);
        _guidance = c.GuidanceEmbeds ? Embedder(te.Pp("guidance_embedder"), ch, d) : null;
        _modulations = root.Stack(
            root.Linear("double_stream_modulation_img.linear", d, 6 * d, bias: false),
            root.Linear("double_stream_modulation_txt.linear", d, 6 * d, bias: false),
            root.Linear("single_stream_modulation.linear", d, 3 * d, bias: false),
            root.Linear("norm_out.linear", d, 2 * d, bias: false)).Stacked;
    }

    static TimestepEmbedding Embedder(WeightScope w, int channels, int dim)
        => new(w.Linear("linear_1", channels, dim, bias: false), w.Linear("linear_2", dim, dim, bias: false));

    public bool HasGuidance => _guidance is not null;

    /// <summary>The conditioning row [B, 17·D] for timesteps and guidance already scaled as the model feeds them to
    /// the sinusoid (guidance empty: none, as diffusers skips the guidance embedder when it gets none).</summary>
    public Tensor Compute(IOps ops, ReadOnlySpan<float> timesteps, ReadOnlySpan<float> guidance)
    {
        var temb = _timestep.Embed(ops, timesteps);
        if (_guidance is not null && guidance.Length > 0)
        {
            using var g = _guidance.Embed(ops, guidance);
            using var t = temb;
            temb = ops.Add(t, g);
        }
        using (temb)
        using (var silu = ops.Activate(temb, Activation.Silu))
            return _modulations.Apply(ops, silu);
    }

    /// <summary>The double blocks' image-stream parts (shift, scale, gate of attention, then of the MLP).</summary>
    public static AdaLnZeroParts DoubleImageParts(Tensor cond, int d) => new(Modulation.View(cond, DoubleImage, 6, d));
    /// <summary>The double blocks' text-stream parts.</summary>
    public static AdaLnZeroParts DoubleTextParts(Tensor cond, int d) => new(Modulation.View(cond, DoubleText, 6, d));
    /// <summary>The single blocks' shift, scale and gate.</summary>
    public static AdaLnSingleParts SingleParts(Tensor cond, int d) => new(Modulation.View(cond, Single, 3, d));
    /// <summary>norm_out's scale and shift (AdaLayerNormContinuous' order).</summary>
    public static ContinuousNormParts NormOutParts(Tensor cond, int d) => new(Modulation.View(cond, NormOut, 2, d));
}

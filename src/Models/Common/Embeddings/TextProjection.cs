using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Embeddings;

/// <summary>
/// diffusers PixArtAlphaTextProjection: linear_1 [hidden, in] + b → act → linear_2 [out, hidden] + b.
/// GELU-tanh for PixArt's caption projection, SiLU for the SD3/Flux pooled-text embedder.
/// </summary>
public sealed class TextProjection
{
    readonly Linear _linear1, _linear2;
    readonly Activation _act;

    public TextProjection(Linear linear1, Linear linear2, Activation act) { _linear1 = linear1; _linear2 = linear2; _act = act; }

    public static TextProjection Load(WeightScope w, int inDim, int hidden, Activation act, int? outDim = null)
        => new(w.Linear("linear_1", inDim, hidden), w.Linear("linear_2", hidden, outDim ?? hidden), act);

    public Tensor Apply(IOps ops, Tensor x)
    {
        using var h = _linear1.Apply(ops, x, _act);
        return _linear2.Apply(ops, h);
    }
}

using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Mochi;

/// <summary>
/// diffusers FeedForward(dim, inner_dim, activation_fn="swiglu", bias=False): net.0.proj [2F, D] (hidden rows, then
/// gate rows), hidden·SiLU(gate), net.2 [D, F]; no biases.
/// </summary>
sealed class MochiFeedForward
{
    readonly Linear _proj, _out;
    readonly int _inner;

    MochiFeedForward(Linear proj, Linear @out, int inner) { _proj = proj; _out = @out; _inner = inner; }

    /// <summary>Loads net.0.proj and net.2 of the scope (ff or ff_context).</summary>
    public static MochiFeedForward Load(WeightScope w, int dim, int inner)
        => new(w.Linear("net.0.proj", dim, 2 * inner, bias: false), w.Linear("net.2", inner, dim, bias: false), inner);

    /// <summary>x [B, N, D] → [B, N, D].</summary>
    public Tensor Apply(IOps ops, Tensor x)
    {
        using var h = _proj.Apply(ops, x);
        using var gate = ops.Activate(h.Slice(2, _inner, _inner), Activation.Silu);
        using var m = ops.Mul(h.Slice(2, 0, _inner), gate);
        return _out.Apply(ops, m);
    }
}

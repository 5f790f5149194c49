using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Mochi;

/// <summary>
/// diffusers FeedForward(dim, inner_dim, activation_fn="swiglu", bias=False): net.0.proj [2F, D] (hidden rows, then
/// gate rows), hidden·SiLU(gate), net.2 [D, F]; no biases. The two halves of net.0.proj run as two GEMMs over views
/// of its rows, so that each result is dense and the gate product reads them in place (a slice of one [.., 2F]
/// result would be copied before each op).
/// </summary>
sealed class MochiFeedForward
{
    readonly Linear _hidden, _gate, _out;

    MochiFeedForward(Linear hidden, Linear gate, Linear @out) { _hidden = hidden; _gate = gate; _out = @out; }

    /// <summary>Loads net.0.proj and net.2 of the scope (ff or ff_context).</summary>
    public static MochiFeedForward Load(WeightScope w, int dim, int inner)
    {
        var proj = w.Linear("net.0.proj", dim, 2 * inner, bias: false).Weight;
        return new(new Linear(proj.Slice(0, 0, inner), null), new Linear(proj.Slice(0, inner, inner), null),
            w.Linear("net.2", inner, dim, bias: false));
    }

    /// <summary>x [B, N, D] → [B, N, D].</summary>
    public Tensor Apply(IOps ops, Tensor x)
    {
        using var gate = _gate.Apply(ops, x, Activation.Silu);
        using var hidden = _hidden.Apply(ops, x);
        using var m = ops.Mul(hidden, gate);
        return _out.Apply(ops, m);
    }
}

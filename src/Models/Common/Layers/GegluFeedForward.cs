using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Layers;

/// <summary>
/// diffusers FeedForward(dim, activation "geglu", mult 4), as the SD/SDXL UNets' BasicTransformerBlock uses it:
/// net.0.proj [2F, D] + b gives [hidden, gate] (the first F outputs, then the last F), the block's value is
/// hidden · GELU(gate) (erf GELU), and net.2 [D, F] + b projects it back.
/// </summary>
public sealed class GegluFeedForward
{
    readonly Linear _hidden, _gate, _out;

    GegluFeedForward(Linear hidden, Linear gate, Linear @out) { _hidden = hidden; _gate = gate; _out = @out; }

    /// <summary>Loads net.0.proj and net.2; the projection's two halves are kept as row views of its one weight, so
    /// the gate's GELU runs in its GEMM's epilogue.</summary>
    public static GegluFeedForward Load(WeightScope w, int dim, int hidden)
    {
        var proj = w.Linear("net.0.proj", dim, 2 * hidden);
        var h = new Linear(proj.Weight.Slice(0, 0, hidden), proj.Bias?.Slice(0, 0, hidden));
        var g = new Linear(proj.Weight.Slice(0, hidden, hidden), proj.Bias?.Slice(0, hidden, hidden));
        return new(h, g, w.Linear("net.2", hidden, dim));
    }

    public Tensor Apply(IOps ops, Tensor x)
    {
        using var gate = _gate.Apply(ops, x, Activation.Gelu);
        using var hidden = _hidden.Apply(ops, x);
        using var product = ops.Mul(hidden, gate);
        return _out.Apply(ops, product);
    }
}

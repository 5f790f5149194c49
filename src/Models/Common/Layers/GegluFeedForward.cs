using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Layers;

/// <summary>
/// diffusers FeedForward(dim, activation "geglu", mult 4), as the SD/SDXL UNets' BasicTransformerBlock uses it:
/// net.0.proj [2F, D] + b gives [hidden, gate] (the first F outputs, then the last F), the block's value is
/// hidden · GELU(gate) (erf GELU), and net.2 [D, F] + b projects it back. The projection is one GEMM and the
/// product one pass over it (<see cref="IOps.Geglu"/>): neither half nor the GELU is written out on its own.
/// </summary>
public sealed class GegluFeedForward
{
    readonly Linear _proj, _out;

    GegluFeedForward(Linear proj, Linear @out) { _proj = proj; _out = @out; }

    /// <summary>Loads net.0.proj [2F, D] and net.2 [D, F].</summary>
    public static GegluFeedForward Load(WeightScope w, int dim, int hidden)
        => new(w.Linear("net.0.proj", dim, 2 * hidden), w.Linear("net.2", hidden, dim));

    public Tensor Apply(IOps ops, Tensor x)
    {
        using var product = Product(ops, x);
        return _out.Apply(ops, product);
    }

    /// <summary>residual ← residual + ff(x) in place, the sum in net.2's GEMM epilogue
    /// (<see cref="IOps.LinearGatedResidualInto"/> with no gate): the block's last residual is no pass of its own.</summary>
    public void ApplyResidualInto(IOps ops, Tensor residual, Tensor x)
    {
        using var product = Product(ops, x);
        ops.LinearGatedResidualInto(residual, product, _out.Weight, _out.Bias, gate: null);
    }

    Tensor Product(IOps ops, Tensor x)
    {
        using var projected = _proj.Apply(ops, x);
        return ops.Geglu(projected);
    }
}

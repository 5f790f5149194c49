using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Flux2;

/// <summary>
/// diffusers Flux2FeedForward: linear_in [2F, D] (bias-free) whose first F outputs are the gate and last F the value,
/// SwiGLU SiLU(gate)·value in one pass over the projection (<see cref="IOps.Swiglu"/>: neither half nor the SiLU is
/// written out on its own), linear_out [D, F]. The single block's fused projection ends in the same two halves.
/// </summary>
sealed class Flux2FeedForward
{
    readonly Linear _in, _out;

    Flux2FeedForward(Linear @in, Linear @out) { _in = @in; _out = @out; }

    /// <summary>Loads linear_in [2·hidden, dim] and linear_out [dim, hidden] of the scope (ff or ff_context).</summary>
    public static Flux2FeedForward Load(WeightScope w, int dim, int hidden)
        => new(w.Linear("linear_in", dim, 2 * hidden, bias: false), w.Linear("linear_out", hidden, dim, bias: false));

    /// <summary>A layer of rows [start, start + count) of <paramref name="layer"/>'s weight: a view, no copy.</summary>
    public static Linear Rows(Linear layer, int start, int count)
        => new(layer.Weight.Slice(0, start, count), layer.Bias?.Slice(0, start, count));

    /// <summary>SwiGLU of x through <paramref name="proj"/>, whose rows are the gate then the value: [.., F].</summary>
    public static Tensor Swiglu(IOps ops, Tensor x, Linear proj)
    {
        using var h = proj.Apply(ops, x);
        return ops.Swiglu(h);
    }

    /// <summary>residual ← residual + gate·FF(x), linear_out adding into the residual in its epilogue.</summary>
    public void ApplyGatedResidualInto(IOps ops, Tensor residual, Tensor x, Tensor gate)
    {
        using var h = Swiglu(ops, x, _in);
        _out.ApplyGatedResidualInto(ops, residual, h, gate);
    }
}

using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Flux2;

/// <summary>
/// diffusers Flux2FeedForward: linear_in [2F, D] (bias-free) whose first F outputs are the gate and last F the value,
/// SwiGLU SiLU(gate)·value, linear_out [D, F]. The gate and value come from the two row halves of linear_in as two
/// GEMMs (views of the one weight), the SiLU in the gate GEMM's epilogue, so neither half is cut out of a [.., 2F]
/// product. The single block's fused projection has the same two halves after its q/k/v rows (<see cref="Swiglu"/>).
/// </summary>
sealed class Flux2FeedForward
{
    readonly Linear _gate, _value, _out;

    Flux2FeedForward(Linear gate, Linear value, Linear @out) { _gate = gate; _value = value; _out = @out; }

    /// <summary>Loads linear_in [2·hidden, dim] and linear_out [dim, hidden] of the scope (ff or ff_context).</summary>
    public static Flux2FeedForward Load(WeightScope w, int dim, int hidden)
    {
        var linearIn = w.Linear("linear_in", dim, 2 * hidden, bias: false);
        return new(Rows(linearIn, 0, hidden), Rows(linearIn, hidden, hidden), w.Linear("linear_out", hidden, dim, bias: false));
    }

    /// <summary>A layer of rows [start, start + count) of <paramref name="layer"/>'s weight: a view, no copy.</summary>
    public static Linear Rows(Linear layer, int start, int count)
        => new(layer.Weight.Slice(0, start, count), layer.Bias?.Slice(0, start, count));

    /// <summary>SiLU(x·Wgᵀ)·(x·Wvᵀ) [.., F]: Flux2SwiGLU of the projection whose gate rows are <paramref name="gate"/>
    /// and value rows <paramref name="value"/>.</summary>
    public static Tensor Swiglu(IOps ops, Tensor x, Linear gate, Linear value)
    {
        using var g = gate.Apply(ops, x, Activation.Silu);
        using var v = value.Apply(ops, x);
        return ops.Mul(g, v);
    }

    /// <summary>residual ← residual + gate·FF(x), linear_out adding into the residual in its epilogue.</summary>
    public void ApplyGatedResidualInto(IOps ops, Tensor residual, Tensor x, Tensor gate)
    {
        using var h = Swiglu(ops, x, _gate, _value);
        _out.ApplyGatedResidualInto(ops, residual, h, gate);
    }

    public Tensor Apply(IOps ops, Tensor x)
    {
        using var h = Swiglu(ops, x, _gate, _value);
        return _out.Apply(ops, h);
    }
}

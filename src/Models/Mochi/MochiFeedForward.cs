using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Mochi;

/// <summary>
/// diffusers FeedForward(dim, inner_dim, activation_fn="swiglu", bias=False): net.0.proj [2F, D] (hidden rows, then
/// gate rows), hidden·SiLU(gate), net.2 [D, F]; no biases. net.0.proj's halves are swapped once at load so that one
/// GEMM writes [.., 2F] gate-first and <see cref="IOps.Swiglu"/> takes the gate product in one pass (neither half nor
/// the SiLU is written out on its own).
/// </summary>
sealed class MochiFeedForward
{
    readonly Linear _in, _out;

    MochiFeedForward(Linear @in, Linear @out) { _in = @in; _out = @out; }

    /// <summary>Loads net.0.proj and net.2 of the scope (ff or ff_context).</summary>
    public static MochiFeedForward Load(WeightScope w, int dim, int inner)
        => new(w.SwapRowHalves(w.Linear("net.0.proj", dim, 2 * inner, bias: false)), w.Linear("net.2", inner, dim, bias: false));

    /// <summary>x [B, N, D] → [B, N, D].</summary>
    public Tensor Apply(IOps ops, Tensor x)
    {
        using var h = _in.Apply(ops, x);
        using var m = ops.Swiglu(h);
        return _out.Apply(ops, m);
    }
}

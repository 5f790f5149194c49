using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Layers;

/// <summary>diffusers FeedForward(dim, activation "gelu-approximate", mult 4): net.0.proj [F, D] + b → GELU-tanh
/// → net.2 [D, F] + b.</summary>
public sealed class FeedForward
{
    readonly Linear _proj, _out;

    public FeedForward(Linear proj, Linear @out) { _proj = proj; _out = @out; }

    public static FeedForward Load(WeightScope w, int dim, int hidden)
        => new(w.Linear("net.0.proj", dim, hidden), w.Linear("net.2", hidden, dim));

    /// <summary>The second GEMM's bias: what a gated epilogue multiplies by the gate (<see cref="IOps.PrepareGatedEpilogues"/>).</summary>
    public Tensor? OutBias => _out.Bias;

    public Tensor Apply(IOps ops, Tensor x)
    {
        using var h = _proj.Apply(ops, x, Activation.GeluTanh);
        return _out.Apply(ops, h);
    }

    /// <summary>residual ← residual + gate·Apply(x): the second GEMM adds its gated output into the residual in its
    /// epilogue (<see cref="IOps.LinearGatedResidualInto"/>), so the block's output is not written and read back.</summary>
    public void ApplyGatedResidualInto(IOps ops, Tensor residual, Tensor x, Tensor gate)
    {
        using var h = _proj.Apply(ops, x, Activation.GeluTanh);
        _out.ApplyGatedResidualInto(ops, residual, h, gate);
    }
}

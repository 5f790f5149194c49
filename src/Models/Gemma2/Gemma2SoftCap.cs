using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Gemma2;

/// <summary>
/// Gemma 2's logit soft-capping cap·tanh(s/cap), composed from the shared ops (there is no tanh op):
/// tanh(y) = 2·σ(2y) − 1, and σ(z) is the second entry of softmax([0, z]), so
/// cap·tanh(s/cap) = 2cap·softmax([0, 2s/cap])₁ − cap. Run it in float32: the result is a difference of two numbers
/// of size cap.
/// </summary>
public static class Gemma2SoftCap
{
    /// <summary>cap·tanh(s/cap) of every element of <paramref name="scores"/> (any shape), a new tensor.</summary>
    public static Tensor Apply(IOps ops, Tensor scores, float cap)
    {
        using var z = ops.Scale(scores, 2f / cap);
        using var zero = ops.Zeros(z.DType, z.Dims);
        using var pair = ops.Concat(z.Rank, zero.Unsqueeze(-1), z.Unsqueeze(-1));   // [..., 2]
        using var p = ops.Softmax(pair);
        return ops.Scale(p.Select(-1, 1), 2f * cap, -cap);
    }
}

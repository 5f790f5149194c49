using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Gemma2;

/// <summary>Gemma's RMSNorm scales by (1 + w), not w: the weight is stored as an offset from 1. The shared RmsNorm op
/// multiplies by its weight, so the model keeps 1 + w, computed once in float32 (as transformers computes
/// <c>1.0 + weight.float()</c>) and uploaded in float32.</summary>
public static class Gemma2Norm
{
    /// <summary>1 + the tensor <paramref name="leaf"/> [<paramref name="dim"/>] of scope <paramref name="w"/>, on the
    /// backend. The caller owns the result.</summary>
    public static Tensor OnePlusWeight(WeightScope w, string leaf, int dim)
    {
        float[] values = w.HostF32(leaf, dim);
        for (int i = 0; i < values.Length; i++) values[i] += 1f;
        using var host = Tensor.FromArray(values, dim);
        return w.Ops.Upload(host);
    }
}

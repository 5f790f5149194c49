using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Engine.Caches;

/// <summary>
/// The change metric of the step caches and the redundancy analysis: mean|cur − prev| / mean|prev| over all
/// elements (a scalar). Computed on the host in double: IOps has no reductions, and the tensors compared are one
/// block's activations, small next to the block's own work.
/// </summary>
public static class RelativeL1
{
    public static double Of(ReadOnlySpan<float> current, ReadOnlySpan<float> previous)
    {
        if (current.Length != previous.Length)
            throw new ArgumentException($"relative L1 needs equal sizes, got {current.Length} and {previous.Length} values");
        double diff = 0, norm = 0;
        for (int i = 0; i < current.Length; i++)
        {
            diff += Math.Abs((double)current[i] - previous[i]);
            norm += Math.Abs((double)previous[i]);
        }
        // Both sums over the same count: the means' ratio is the sums' ratio. A zero reference with a zero
        // difference is "no change"; a zero reference with a change is an infinite one.
        if (norm == 0) return diff == 0 ? 0 : double.PositiveInfinity;
        return diff / norm;
    }

    public static double Of(IOps ops, Tensor current, float[] previous) => Of(ops.ToHost(current), previous);
}

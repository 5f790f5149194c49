using XDit.Runtime;

namespace XDit.Kernels.Cuda;

/// <summary>
/// Whether a bandwidth-bound kernel may move its elements 16 bytes at a time (common.cuh's ld8/st8: one 16-byte
/// access per 8 F16/BF16 elements, two per 8 F32): every operand of a float dtype at a 16-byte aligned address,
/// and every row length and stride in elements a multiple of 8, so that each step of 8 starts aligned. Otherwise the
/// kernels take the scalar path, element by element, with the same results.
/// </summary>
static class KernelVector
{
    public const int Width = 8;

    public static bool Float(DType dt) => dt is DType.F32 or DType.F16 or DType.BF16;

    /// <summary>1 when the operands (address, dtype) and the lengths/strides allow 16-byte steps, else 0 (the
    /// kernels' <c>vec</c> flag).</summary>
    public static int Flag(ReadOnlySpan<long> lengths, params ReadOnlySpan<(ulong Ptr, DType DType)> operands)
    {
        foreach (var l in lengths)
            if (l % Width != 0) return 0;
        foreach (var (p, dt) in operands)
            if (p % 16 != 0 || !Float(dt)) return 0;
        return 1;
    }

    /// <summary>Throws where a row kernel's 32-bit step index would overflow: <paramref name="rows"/> rows of
    /// ceil(<paramref name="rowLength"/>/8) steps must stay under 2^31.</summary>
    public static long RowSteps(string op, long rows, long rowLength)
    {
        long steps = rows * ((rowLength + Width - 1) / Width);
        if (steps >= int.MaxValue)
            throw new NotSupportedException($"{op}: {rows} rows of {rowLength} elements exceed the kernel's 32-bit step index");
        return steps;
    }
}

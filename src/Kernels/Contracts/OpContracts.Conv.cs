using XDit.Runtime;

namespace XDit.Kernels;

public static partial class OpContracts
{
    /// <summary>Conv2d: x [B, C, H, W], w [O, C, kh, kw], bias [O]; stride ≥ 1, padding ≥ 0, and the kernel fits
    /// the padded input.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    public static void Conv2d(Tensor x, Tensor w, Tensor? bias, int stride, int padding)
    {
        Rank(x, 4, "[B, C, H, W]", "Conv2d", "x");
        Rank(w, 4, "[O, C, kh, kw]", "Conv2d", "w");
        if (w.Dim(1) != x.Dim(1)) throw Mismatch("Conv2d", "input channels differ", x, "x", w, "w");
        Vector(w, "w", bias, w.Dim(0), "Conv2d", "bias");
        if (stride <= 0 || padding < 0) throw new ArgumentException($"Conv2d: bad stride {stride} or padding {padding}");
        if (x.Dim(2) + 2 * padding < w.Dim(2) || x.Dim(3) + 2 * padding < w.Dim(3))
            throw Mismatch("Conv2d", $"kernel larger than padded input (padding {padding})", x, "x", w, "w");
    }

    /// <summary>Upsample2x: x [B, C, H, W].</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    public static void Upsample2x(Tensor x) => Rank(x, 4, "[B, C, H, W]", "Upsample2x", "x");
}

using XDit.Runtime;

namespace XDit.Kernels;

public static partial class OpContracts
{
    /// <summary>Conv2d: x [B, C, H, W], w [O, C, kh, kw], bias [O]; stride ≥ 1, padding ≥ 0, and the kernel fits
    /// the padded input; residual [B, O, oh, ow] (the output's shape) or [B, O, 1, 1].</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    public static void Conv2d(Tensor x, Tensor w, Tensor? bias, int stride, int padding, Tensor? residual = null)
    {
        Conv2dShapes(x, w, bias, stride, padding);
        if (residual is null) return;
        int oh = (x.Dim(2) + 2 * padding - w.Dim(2)) / stride + 1, ow = (x.Dim(3) + 2 * padding - w.Dim(3)) / stride + 1;
        bool plane = residual.Rank == 4 && residual.Dim(0) == x.Dim(0) && residual.Dim(1) == w.Dim(0);
        if (!plane || !(residual.Dim(2) == oh && residual.Dim(3) == ow || residual.Dim(2) == 1 && residual.Dim(3) == 1))
            throw new ArgumentException($"Conv2d: residual {Format(residual.ShapeSpan)} fits neither the output [{x.Dim(0)}, {w.Dim(0)}, {oh}, {ow}] nor [{x.Dim(0)}, {w.Dim(0)}, 1, 1]");
    }

    static void Conv2dShapes(Tensor x, Tensor w, Tensor? bias, int stride, int padding)
    {
        Rank(x, 4, "[B, C, H, W]", "Conv2d", "x");
        Rank(w, 4, "[O, C, kh, kw]", "Conv2d", "w");
        if (w.Dim(1) != x.Dim(1)) throw Mismatch("Conv2d", "input channels differ", x, "x", w, "w");
        Vector(w, "w", bias, w.Dim(0), "Conv2d", "bias");
        if (stride <= 0 || padding < 0) throw new ArgumentException($"Conv2d: bad stride {stride} or padding {padding}");
        if (x.Dim(2) + 2 * padding < w.Dim(2) || x.Dim(3) + 2 * padding < w.Dim(3))
            throw Mismatch("Conv2d", $"kernel larger than padded input (padding {padding})", x, "x", w, "w");
    }

    /// <summary>GroupedConv2d: x [B, C, H, W], w [O, C/groups, kh, kw], bias [O]; groups ≥ 1 dividing C and O,
    /// padding ≥ 0, and the kernel fits the padded input.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    public static void GroupedConv2d(Tensor x, Tensor w, Tensor? bias, int groups, int padding)
    {
        const string op = "GroupedConv2d";
        Rank(x, 4, "[B, C, H, W]", op, "x");
        Rank(w, 4, "[O, C/groups, kh, kw]", op, "w");
        int C = x.Dim(1), O = w.Dim(0);
        if (groups <= 0 || C % groups != 0 || O % groups != 0)
            throw Mismatch(op, $"groups {groups} must divide the input and output channels", x, "x", w, "w");
        if (w.Dim(1) != C / groups) throw Mismatch(op, $"w must have C/groups = {C / groups} input channels", x, "x", w, "w");
        Vector(w, "w", bias, O, op, "bias");
        if (padding < 0) throw new ArgumentException($"{op}: bad padding {padding}");
        if (x.Dim(2) + 2 * padding < w.Dim(2) || x.Dim(3) + 2 * padding < w.Dim(3))
            throw Mismatch(op, $"kernel larger than padded input (padding {padding})", x, "x", w, "w");
    }

    /// <summary>Upsample2x: x [B, C, H, W].</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    public static void Upsample2x(Tensor x) => Rank(x, 4, "[B, C, H, W]", "Upsample2x", "x");

    /// <summary>UpsampleNearest: x [B, C, H, W]; the output size positive.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    public static void UpsampleNearest(Tensor x, int height, int width)
    {
        Rank(x, 4, "[B, C, H, W]", "UpsampleNearest", "x");
        if (height < 1 || width < 1)
            throw new ArgumentException($"UpsampleNearest: output size must be positive, got {height}x{width} for x {Format(x.ShapeSpan)}");
    }
}

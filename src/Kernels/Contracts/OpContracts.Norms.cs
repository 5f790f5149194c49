using XDit.Runtime;

namespace XDit.Kernels;

public static partial class OpContracts
{
    /// <summary>LayerNorm: x [..., D]; weight and bias [D].</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    public static void LayerNorm(Tensor x, Tensor? weight, Tensor? bias)
    {
        RankAtLeast(x, 1, "[..., D]", "LayerNorm", "x");
        Vector(x, "x", weight, x.Dim(-1), "LayerNorm", "weight");
        Vector(x, "x", bias, x.Dim(-1), "LayerNorm", "bias");
    }

    /// <summary>RmsNorm: x [..., D]; weight [D].</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    public static void RmsNorm(Tensor x, Tensor? weight)
    {
        RankAtLeast(x, 1, "[..., D]", "RmsNorm", "x");
        Vector(x, "x", weight, x.Dim(-1), "RmsNorm", "weight");
    }

    /// <summary>GroupNorm: x [B, C, ...]; C a multiple of groups (≥ 1); weight and bias [C].</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    public static void GroupNorm(Tensor x, int groups, Tensor? weight, Tensor? bias)
    {
        RankAtLeast(x, 2, "[B, C, ...]", "GroupNorm", "x");
        int C = x.Dim(1);
        if (groups <= 0 || C % groups != 0)
            throw new ArgumentException($"GroupNorm: {C} channels of x {Format(x.ShapeSpan)} do not split into {groups} groups");
        Vector(x, "x", weight, C, "GroupNorm", "weight");
        Vector(x, "x", bias, C, "GroupNorm", "bias");
    }

    /// <summary>ChannelRmsNorm: x [B, C, ...]; weight [C].</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    public static void ChannelRmsNorm(Tensor x, Tensor? weight)
    {
        RankAtLeast(x, 2, "[B, C, ...]", "ChannelRmsNorm", "x");
        Vector(x, "x", weight, x.Dim(1), "ChannelRmsNorm", "weight");
    }

    /// <summary>Softmax: x [..., D].</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    public static void Softmax(Tensor x) => RankAtLeast(x, 1, "[..., D]", "Softmax", "x");

    /// <summary>LayerNormModulate: x [B, N, D]; shift and scale per batch (as <see cref="Modulate"/>). With x2
    /// [B, N, D2] of x's dtype, the row is their concatenation and shift and scale are per batch of width D + D2.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    public static void LayerNormModulate(Tensor x, Tensor shift, Tensor scale, Tensor? x2 = null)
    {
        const string op = "LayerNormModulate";
        Rank(x, 3, "[B, N, D]", op, "x");
        int width = x.Dim(2);
        if (x2 is not null)
        {
            Rank(x2, 3, "[B, N, D2]", op, "x2");
            if (x2.Dim(0) != x.Dim(0) || x2.Dim(1) != x.Dim(1)) throw Mismatch(op, "x2 must have x's batch and tokens", x, "x", x2, "x2");
            if (x2.DType != x.DType) throw new ArgumentException($"{op}: x2 is {x2.DType}, x is {x.DType}");
            width += x2.Dim(2);
        }
        PerBatch(x, shift, op, "shift", width);
        PerBatch(x, scale, op, "scale", width);
    }

    /// <summary>RmsNormModulate: x [B, N, D]; weight [D] (optional); shift (optional) and scale per batch (as
    /// <see cref="Modulate"/>).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    public static void RmsNormModulate(Tensor x, Tensor? weight, Tensor? shift, Tensor scale)
    {
        const string op = "RmsNormModulate";
        Rank(x, 3, "[B, N, D]", op, "x");
        Vector(x, "x", weight, x.Dim(2), op, "weight");
        if (shift is not null) PerBatch(x, shift, op, "shift");
        PerBatch(x, scale, op, "scale");
    }

    /// <summary>ResidualLayerNormModulate: x and y [B, N, D] of one shape; gate (optional), shift and scale per batch.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    public static void ResidualLayerNormModulate(Tensor x, Tensor? gate, Tensor y, Tensor shift, Tensor scale)
    {
        const string op = "ResidualLayerNormModulate";
        Rank(x, 3, "[B, N, D]", op, "x");
        NotNull(y, op, "y");
        if (!XDit.Runtime.Shape.Equal(x.ShapeSpan, y.ShapeSpan)) throw Mismatch(op, "x and y differ", x, "x", y, "y");
        if (gate is not null) PerBatch(x, gate, op, "gate");
        PerBatch(x, shift, op, "shift");
        PerBatch(x, scale, op, "scale");
    }
}

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

    /// <summary>Softmax: x [..., D].</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    public static void Softmax(Tensor x) => RankAtLeast(x, 1, "[..., D]", "Softmax", "x");

    /// <summary>LayerNormModulate: x [B, N, D]; shift and scale per batch (as <see cref="Modulate"/>).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    public static void LayerNormModulate(Tensor x, Tensor shift, Tensor scale)
    {
        Rank(x, 3, "[B, N, D]", "LayerNormModulate", "x");
        PerBatch(x, shift, "LayerNormModulate", "shift");
        PerBatch(x, scale, "LayerNormModulate", "scale");
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

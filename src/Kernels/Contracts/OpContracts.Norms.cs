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
}

using XDit.Runtime;

namespace XDit.Kernels;

public static partial class OpContracts
{
    /// <summary>Linear: x [..., K], w [N, K], bias [N].</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    public static void Linear(Tensor x, Tensor w, Tensor? bias)
    {
        RankAtLeast(x, 1, "[..., K]", "Linear", "x");
        Rank(w, 2, "[N, K]", "Linear", "w");
        if (x.Dim(-1) != w.Dim(1)) throw Mismatch("Linear", "x's last axis must equal w's second", x, "x", w, "w");
        Vector(w, "w", bias, w.Dim(0), "Linear", "bias");
    }

    /// <summary>LinearInto: x [..., K], w [N, K], bias [N]; y [..., N] with x's leading axes and dtype.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    public static void LinearInto(Tensor y, Tensor x, Tensor w, Tensor? bias)
    {
        const string op = "LinearInto";
        RankAtLeast(x, 1, "[..., K]", op, "x");
        Rank(w, 2, "[N, K]", op, "w");
        NotNull(y, op, "y");
        if (x.Dim(-1) != w.Dim(1)) throw Mismatch(op, "x's last axis must equal w's second", x, "x", w, "w");
        Vector(w, "w", bias, w.Dim(0), op, "bias");
        if (y.Rank != x.Rank || y.Dim(-1) != w.Dim(0) || !y.ShapeSpan[..^1].SequenceEqual(x.ShapeSpan[..^1]))
            throw Mismatch(op, "y must be x's leading axes by w's N", y, "y", x, "x");
        if (y.DType != x.DType) throw new ArgumentException($"{op}: y is {y.DType}, x is {x.DType}: the product is written in x's dtype");
    }

    /// <summary>LinearRmsNormRopeInto: x [B, N, K]; w [H·d, K]; bias [H·d]; y [B, N, H, d] of x's dtype with dense
    /// heads (strides d and 1 on its last two axes); d even and at most 512; weight [d], or [G, d] with G dividing H;
    /// cos and sin [N, d] (every head's angles) or [N, (H/G)·d] (each head of a group its own: Mochi), or both null.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    public static void LinearRmsNormRopeInto(Tensor y, Tensor x, Tensor w, Tensor? bias, Tensor? weight, Tensor? cos, Tensor? sin)
        => LinearHeadNormRope("LinearRmsNormRopeInto", y, x, w, bias, weight, null, cos, sin, perHeadTables: true);

    /// <summary>LinearLayerNormRopeInto: as <see cref="LinearRmsNormRopeInto"/>, with the norm's bias beside its
    /// weight (each [d] or [G, d], of one shape when both are given) and tables [N, d] only.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    public static void LinearLayerNormRopeInto(Tensor y, Tensor x, Tensor w, Tensor? bias, Tensor? weight, Tensor? normBias, Tensor? cos, Tensor? sin)
        => LinearHeadNormRope("LinearLayerNormRopeInto", y, x, w, bias, weight, normBias, cos, sin, perHeadTables: false);

    static void LinearHeadNormRope(string op, Tensor y, Tensor x, Tensor w, Tensor? bias, Tensor? weight, Tensor? normBias, Tensor? cos, Tensor? sin, bool perHeadTables)
    {
        Rank(x, 3, "[B, N, K]", op, "x");
        Rank(w, 2, "[H·d, K]", op, "w");
        Rank(y, 4, "[B, N, H, d]", op, "y");
        if (x.Dim(2) != w.Dim(1)) throw Mismatch(op, "x's last axis must equal w's second", x, "x", w, "w");
        Vector(w, "w", bias, w.Dim(0), op, "bias");
        int h = y.Dim(2), d = y.Dim(3);
        if (y.Dim(0) != x.Dim(0) || y.Dim(1) != x.Dim(1) || (long)h * d != w.Dim(0))
            throw Mismatch(op, "y must be [B, N] of x by H·d = w's N", y, "y", w, "w");
        if (y.DType != x.DType) throw new ArgumentException($"{op}: y is {y.DType}, x is {x.DType}: the product is written in x's dtype");
        if (d % 2 != 0 || d > 512) throw new ArgumentException($"{op}: head dim must be even and at most 512, y is {Format(y.ShapeSpan)}");
        if ((y.Strides[3] != 1 && d > 1) || (y.Strides[2] != d && h > 1))
            throw new ArgumentException($"{op}: y's heads must be dense (strides {d} and 1 on its last two axes), y has strides [{string.Join(", ", y.Strides.ToArray())}]");
        foreach (var (v, name) in new[] { (weight, "weight"), (normBias, "norm bias") })
            if (v is not null && !(v.Rank == 1 ? v.Dim(0) == d : v.Rank == 2 && v.Dim(1) == d && v.Dim(0) > 0 && h % v.Dim(0) == 0))
                throw Mismatch(op, $"{name} must be [{d}] or [G, {d}] with G dividing the {h} heads", y, "y", v, name);
        if (weight is not null && normBias is not null && !XDit.Runtime.Shape.Equal(weight.ShapeSpan, normBias.ShapeSpan))
            throw Mismatch(op, "weight and norm bias differ", weight, "weight", normBias, "norm bias");
        if ((cos is null) != (sin is null)) throw new ArgumentException($"{op}: cos is {(cos is null ? "null" : "given")}, sin is {(sin is null ? "null" : "given")}: give both tables or neither");
        if (cos is null || sin is null) return;
        int groupHeads = h / ((weight ?? normBias) is { Rank: 2 } rows ? rows.Dim(0) : 1);
        bool widthOk = cos.Dim(1) == d || (perHeadTables && cos.Dim(1) == (long)groupHeads * d);
        if (cos.Rank != 2 || cos.Dim(0) != y.Dim(1) || !widthOk)
            throw Mismatch(op, perHeadTables ? $"cos must be [N, {d}] or [N, {groupHeads}·{d}] (a row per head of a norm group)" : $"cos must be [N, {d}]", y, "y", cos, "cos");
        if (!XDit.Runtime.Shape.Equal(cos.ShapeSpan, sin.ShapeSpan)) throw Mismatch(op, "cos and sin differ", cos, "cos", sin, "sin");
    }

    /// <summary>LinearGatedResidualInto: x [B, N, D] (written in place), y [B, N, K] of x's dtype, w [D, K],
    /// bias [D]; gate (optional: null is 1) per batch of x as GatedResidual takes it; output (optional) x's shape and
    /// dtype, contiguous, and not x itself.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    public static void LinearGatedResidualInto(Tensor x, Tensor y, Tensor w, Tensor? bias, Tensor? gate, Tensor? output = null)
    {
        const string op = "LinearGatedResidualInto";
        Rank(x, 3, "[B, N, D]", op, "x");
        Rank(y, 3, "[B, N, K]", op, "y");
        Rank(w, 2, "[D, K]", op, "w");
        if (y.Dim(0) != x.Dim(0) || y.Dim(1) != x.Dim(1)) throw Mismatch(op, "x and y must share [B, N]", x, "x", y, "y");
        if (y.Dim(2) != w.Dim(1)) throw Mismatch(op, "y's last axis must equal w's second", y, "y", w, "w");
        if (x.Dim(2) != w.Dim(0)) throw Mismatch(op, "x's last axis must equal w's first", x, "x", w, "w");
        Vector(w, "w", bias, w.Dim(0), op, "bias");
        if (y.DType != x.DType) throw new ArgumentException($"{op}: y is {y.DType}, x is {x.DType}: the product is accumulated in x's dtype");
        if (gate is not null) PerBatch(x, gate, op, "gate");
        if (output is null) return;
        if (!output.ShapeSpan.SequenceEqual(x.ShapeSpan)) throw Mismatch(op, "output must have x's shape", output, "output", x, "x");
        if (output.DType != x.DType) throw new ArgumentException($"{op}: output is {output.DType}, x is {x.DType}: the sum is written in x's dtype");
        if (!output.IsContiguous) throw new ArgumentException($"{op}: output [{string.Join(", ", output.ShapeSpan.ToArray())}] must be contiguous");
        if (ReferenceEquals(output, x)) throw new ArgumentException($"{op}: output is x itself: leave output out to accumulate in place");
    }

    /// <summary>PrepareGatedEpilogues: each gate [D] or [B, D] as GatedResidual takes it, its bias (optional) [D].</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    public static void PrepareGatedEpilogues((Tensor Gate, Tensor? Bias)[] epilogues)
    {
        const string op = "PrepareGatedEpilogues";
        ArgumentNullException.ThrowIfNull(epilogues);
        for (int i = 0; i < epilogues.Length; i++)
        {
            var (gate, bias) = epilogues[i];
            if (gate.Rank is not (1 or 2)) throw new ArgumentException($"{op}: gate {i} must be [D] or [B, D], got [{string.Join(", ", gate.ShapeSpan.ToArray())}]");
            if (bias is not null && (bias.Rank != 1 || bias.Dim(0) != gate.Dim(-1)))
                throw new ArgumentException($"{op}: bias {i} must be [{gate.Dim(-1)}] (gate {i}'s width), got [{string.Join(", ", bias.ShapeSpan.ToArray())}]");
        }
    }

    /// <summary>MatMul: a [..., M, K]; b [..., K, N] or, transposed, [..., N, K]; b's leading axes equal a's, or b is 2-D.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    public static void MatMul(Tensor a, Tensor b, bool transposeB)
    {
        RankAtLeast(a, 2, "[..., M, K]", "MatMul", "a");
        RankAtLeast(b, 2, transposeB ? "[..., N, K]" : "[..., K, N]", "MatMul", "b");
        int bK = transposeB ? b.Dim(-1) : b.Dim(-2);
        if (bK != a.Dim(-1))
            throw Mismatch("MatMul", transposeB ? "a's last axis must equal b's last (transposeB)" : "a's last axis must equal b's second to last", a, "a", b, "b");
        if (b.Rank != 2 && !a.ShapeSpan[..^2].SequenceEqual(b.ShapeSpan[..^2]))
            throw Mismatch("MatMul", "b must be 2-D or have a's leading axes", a, "a", b, "b");
    }
}

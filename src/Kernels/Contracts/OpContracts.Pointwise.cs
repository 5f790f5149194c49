using XDit.Runtime;

namespace XDit.Kernels;

public static partial class OpContracts
{
    /// <summary>Add and Mul: b broadcasts to a's shape (NumPy rules, b's rank ≤ a's; each axis of b equals a's or is 1).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    public static void Broadcast(string op, Tensor a, Tensor b)
    {
        NotNull(a, op, "a");
        NotNull(b, op, "b");
        if (b.Rank > a.Rank) throw Mismatch(op, "b has a higher rank than a", a, "a", b, "b");
        int lead = a.Rank - b.Rank;
        for (int i = 0; i < b.Rank; i++)
            if (b.Dim(i) != 1 && b.Dim(i) != a.Dim(lead + i)) throw Mismatch(op, "b does not broadcast to a", a, "a", b, "b");
    }

    /// <summary>Modulate: x [B, N, D]; shift and scale per batch (see <see cref="BatchStride"/>).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    public static void Modulate(Tensor x, Tensor shift, Tensor scale)
    {
        Rank(x, 3, "[B, N, D]", "Modulate", "x");
        PerBatch(x, shift, "Modulate", "shift");
        PerBatch(x, scale, "Modulate", "scale");
    }

    /// <summary>GatedResidual: x, y (and y2) [B, N, D]; gate per batch (see <see cref="BatchStride"/>).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    public static void GatedResidual(Tensor x, Tensor gate, Tensor y, Tensor? y2 = null)
    {
        Rank(x, 3, "[B, N, D]", "GatedResidual", "x");
        NotNull(y, "GatedResidual", "y");
        if (!XDit.Runtime.Shape.Equal(x.ShapeSpan, y.ShapeSpan)) throw Mismatch("GatedResidual", "x and y differ", x, "x", y, "y");
        if (y2 is not null && !XDit.Runtime.Shape.Equal(x.ShapeSpan, y2.ShapeSpan)) throw Mismatch("GatedResidual", "x and y2 differ", x, "x", y2, "y2");
        PerBatch(x, gate, "GatedResidual", "gate");
    }

    /// <summary>RmsNormGatedResidual: x and y [B, N, D] of one shape; gate (optional: null is 1) per batch of x as
    /// GatedResidual takes it; weight [D].</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    public static void RmsNormGatedResidual(Tensor x, Tensor? gate, Tensor y, Tensor? weight)
    {
        const string op = "RmsNormGatedResidual";
        Rank(x, 3, "[B, N, D]", op, "x");
        NotNull(y, op, "y");
        if (!XDit.Runtime.Shape.Equal(x.ShapeSpan, y.ShapeSpan)) throw Mismatch(op, "x and y differ", x, "x", y, "y");
        if (gate is not null) PerBatch(x, gate, op, "gate");
        Vector(x, "x", weight, x.Dim(2), op, "weight");
    }

    /// <summary>Geglu: x [..., 2F], the last axis even (hidden and gate halves of one width).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    public static void Geglu(Tensor x)
    {
        RankAtLeast(x, 1, "[..., 2F]", "Geglu", "x");
        if (x.Dim(-1) % 2 != 0)
            throw new ArgumentException($"Geglu: x {Format(x.ShapeSpan)} has an odd last axis; expected [..., 2F] (hidden and gate halves)");
    }

    /// <summary>Swiglu: x [..., 2F], the last axis even (gate and value halves of one width).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    public static void Swiglu(Tensor x)
    {
        RankAtLeast(x, 1, "[..., 2F]", "Swiglu", "x");
        if (x.Dim(-1) % 2 != 0)
            throw new ArgumentException($"Swiglu: x {Format(x.ShapeSpan)} has an odd last axis; expected [..., 2F] (gate and value halves)");
    }

    /// <summary>A per-batch vector of x [B, N, D] that the contract accepted: [B, D], [1, D], [D], [B, 1, D] or
    /// [1, 1, D]. Returns its stride between batches once dense: D, or 0 when every batch shares it.</summary>
    public static int BatchStride(Tensor x, Tensor v) => v.Rank == 1 || v.Dim(0) == 1 ? 0 : x.Dim(2);

    static void PerBatch(Tensor x, Tensor v, string op, string name, int? width = null)
    {
        NotNull(v, op, name);
        int B = x.Dim(0), D = width ?? x.Dim(2);
        var s = v.ShapeSpan;
        bool ok = v.Rank switch
        {
            1 => s[0] == D,
            2 => (s[0] == B || s[0] == 1) && s[1] == D,
            3 => (s[0] == B || s[0] == 1) && s[1] == 1 && s[2] == D,
            _ => false,
        };
        if (!ok) throw Mismatch(op, $"{name} must be [B, D], [1, D], [D] or [B, 1, D]", x, "x", v, name);
    }

    /// <summary>Rope: x [B, N, H, d] with d even; cos and sin [N, d].</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    public static void Rope(Tensor x, Tensor cos, Tensor sin)
    {
        Rank(x, 4, "[B, N, H, d]", "Rope", "x");
        NotNull(cos, "Rope", "cos");
        NotNull(sin, "Rope", "sin");
        if (x.Dim(3) % 2 != 0) throw new ArgumentException($"Rope: head dim must be even, x is {Format(x.ShapeSpan)}");
        if (cos.Rank != 2 || cos.Dim(0) != x.Dim(1) || cos.Dim(1) != x.Dim(3)) throw Mismatch("Rope", "cos must be [N, d]", x, "x", cos, "cos");
        if (!XDit.Runtime.Shape.Equal(cos.ShapeSpan, sin.ShapeSpan)) throw Mismatch("Rope", "cos and sin differ", cos, "cos", sin, "sin");
    }

    /// <summary>RmsNormRope: x and y [B, N, H, d] of one shape and dtype, dense last axes, d even and ≤ 512; weight
    /// [d]; cos and sin [N, d], or both null (no rotation).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    public static void RmsNormRope(Tensor y, Tensor x, Tensor? weight, Tensor? cos, Tensor? sin) => HeadNormRope("RmsNormRope", y, x, weight, cos, sin);

    /// <summary>LayerNormRope: as <see cref="RmsNormRope"/>; weight and bias (each optional) [d], or [G, d] with G
    /// dividing H (a row for each group of H/G heads), of one shape when both are given.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    public static void LayerNormRope(Tensor y, Tensor x, Tensor? weight, Tensor? bias, Tensor? cos, Tensor? sin)
    {
        const string op = "LayerNormRope";
        HeadNormRope(op, y, x, null, cos, sin);
        int d = x.Dim(3), h = x.Dim(2);
        foreach (var (v, name) in new[] { (weight, "weight"), (bias, "bias") })
        {
            if (v is null) continue;
            bool ok = v.Rank == 1 ? v.Dim(0) == d : v.Rank == 2 && v.Dim(1) == d && v.Dim(0) > 0 && h % v.Dim(0) == 0;
            if (!ok) throw Mismatch(op, $"{name} must be [{d}] or [G, {d}] with G dividing the {h} heads", x, "x", v, name);
        }
        if (weight is not null && bias is not null && !XDit.Runtime.Shape.Equal(weight.ShapeSpan, bias.ShapeSpan))
            throw Mismatch(op, "weight and bias differ", weight, "weight", bias, "bias");
    }

    /// <summary>RmsNormAcrossHeadsRope: x and y [B, N, H, d] of one shape and dtype with dense heads (strides d and 1
    /// on the last two axes), d even; weight [H·d]; cos and sin [N, d], or both null.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    public static void RmsNormAcrossHeadsRope(Tensor y, Tensor x, Tensor? weight, Tensor? cos, Tensor? sin)
    {
        const string op = "RmsNormAcrossHeadsRope";
        Rank(x, 4, "[B, N, H, d]", op, "x");
        NotNull(y, op, "y");
        if ((cos is null) != (sin is null)) throw new ArgumentException($"{op}: cos is {(cos is null ? "null" : "given")}, sin is {(sin is null ? "null" : "given")}: give both tables or neither");
        if (!XDit.Runtime.Shape.Equal(x.ShapeSpan, y.ShapeSpan)) throw Mismatch(op, "x and y differ", x, "x", y, "y");
        if (y.DType != x.DType) throw new ArgumentException($"{op}: y is {y.DType}, x is {x.DType}");
        int h = x.Dim(2), d = x.Dim(3);
        if (d % 2 != 0) throw new ArgumentException($"{op}: head dim must be even, x is {Format(x.ShapeSpan)}");
        foreach (var (t, name) in new[] { (x, "x"), (y, "y") })
            if ((t.Strides[3] != 1 && d > 1) || (t.Strides[2] != d && h > 1))
                throw new ArgumentException($"{op}: the heads of {name} {Format(t.ShapeSpan)} must be dense (strides [.., .., {d}, 1]), got strides [{string.Join(", ", t.Strides.ToArray())}]");
        Vector(x, "x", weight, h * d, op, "weight");
        if (cos is null || sin is null) return;
        if (cos.Rank != 2 || cos.Dim(0) != x.Dim(1) || cos.Dim(1) != d) throw Mismatch(op, "cos must be [N, d]", x, "x", cos, "cos");
        if (!XDit.Runtime.Shape.Equal(cos.ShapeSpan, sin.ShapeSpan)) throw Mismatch(op, "cos and sin differ", cos, "cos", sin, "sin");
    }

    static void HeadNormRope(string op, Tensor y, Tensor x, Tensor? weight, Tensor? cos, Tensor? sin)
    {
        Rank(x, 4, "[B, N, H, d]", op, "x");
        NotNull(y, op, "y");
        if ((cos is null) != (sin is null)) throw new ArgumentException($"{op}: cos is {(cos is null ? "null" : "given")}, sin is {(sin is null ? "null" : "given")}: give both tables or neither");
        if (!XDit.Runtime.Shape.Equal(x.ShapeSpan, y.ShapeSpan)) throw Mismatch(op, "x and y differ", x, "x", y, "y");
        if (y.DType != x.DType) throw new ArgumentException($"{op}: y is {y.DType}, x is {x.DType}");
        int d = x.Dim(3);
        if (d % 2 != 0 || d > 512) throw new ArgumentException($"{op}: head dim must be even and at most 512, x is {Format(x.ShapeSpan)}");
        if ((x.Strides[3] != 1 && d > 1) || (y.Strides[3] != 1 && d > 1)) throw new ArgumentException($"{op}: the head dim of x and y must be dense");
        Vector(x, "x", weight, d, op, "weight");
        if (cos is null || sin is null) return;
        if (cos.Rank != 2 || cos.Dim(0) != x.Dim(1) || cos.Dim(1) != d) throw Mismatch(op, "cos must be [N, d]", x, "x", cos, "cos");
        if (!XDit.Runtime.Shape.Equal(cos.ShapeSpan, sin.ShapeSpan)) throw Mismatch(op, "cos and sin differ", cos, "cos", sin, "sin");
    }
}

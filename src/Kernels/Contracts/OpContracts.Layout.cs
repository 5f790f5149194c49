using XDit.Runtime;

namespace XDit.Kernels;

public static partial class OpContracts
{
    /// <summary>Copy: dst and src of one shape (dtypes may differ).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    public static void Copy(Tensor dst, Tensor src)
    {
        NotNull(dst, "Copy", "dst");
        NotNull(src, "Copy", "src");
        if (!XDit.Runtime.Shape.Equal(dst.ShapeSpan, src.ShapeSpan)) throw Mismatch("Copy", "shapes differ", dst, "dst", src, "src");
    }

    /// <summary>Concat: at least one tensor, one rank, axis within it, all other axes equal.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    public static void Concat(int axis, Tensor[] xs)
    {
        if (xs is null || xs.Length == 0) throw new ArgumentException("Concat: no tensors given");
        var first = xs[0];
        NotNull(first, "Concat", "xs[0]");
        if (axis < -first.Rank || axis >= first.Rank)
            throw new ArgumentException($"Concat: axis {axis} is out of range for xs[0] {Format(first.ShapeSpan)}");
        int a = axis < 0 ? axis + first.Rank : axis;
        for (int i = 1; i < xs.Length; i++)
        {
            NotNull(xs[i], "Concat", $"xs[{i}]");
            if (xs[i].Rank != first.Rank) throw Mismatch("Concat", "ranks differ", first, "xs[0]", xs[i], $"xs[{i}]");
            for (int d = 0; d < first.Rank; d++)
                if (d != a && xs[i].Dim(d) != first.Dim(d))
                    throw Mismatch("Concat", $"dimensions other than axis {axis} must be equal", first, "xs[0]", xs[i], $"xs[{i}]");
        }
    }

    /// <summary>Patchify: x [B, C, H, W] with H and W multiples of p ≥ 1.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    public static void Patchify(Tensor x, int p)
    {
        Rank(x, 4, "[B, C, H, W]", "Patchify", "x");
        if (p <= 0 || x.Dim(2) % p != 0 || x.Dim(3) % p != 0)
            throw new ArgumentException($"Patchify: x {Format(x.ShapeSpan)} is not divisible into {p}x{p} patches");
    }

    /// <summary>Unpatchify: x [B, gridH·gridW, channels·p·p], p ≥ 1.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    public static void Unpatchify(Tensor x, int p, int channels, int gridH, int gridW)
    {
        Rank(x, 3, "[B, gridH·gridW, C·p·p]", "Unpatchify", "x");
        if (p <= 0 || channels <= 0 || gridH < 0 || gridW < 0 || x.Dim(1) != (long)gridH * gridW || x.Dim(2) != (long)channels * p * p)
            throw new ArgumentException($"Unpatchify: x {Format(x.ShapeSpan)} does not match expected [{x.Dim(0)}, {(long)gridH * gridW}, {(long)channels * p * p}] (grid {gridH}x{gridW}, {channels} channels, patch {p})");
    }

    /// <summary>Embedding: table [V, D]; every id in [0, V).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    public static void Embedding(Tensor table, ReadOnlySpan<long> ids)
    {
        Rank(table, 2, "[V, D]", "Embedding", "table");
        int V = table.Dim(0);
        for (int i = 0; i < ids.Length; i++)
            if (ids[i] < 0 || ids[i] >= V)
                throw new ArgumentOutOfRangeException(nameof(ids), $"Embedding: id {ids[i]} at position {i} is outside table {Format(table.ShapeSpan)}");
    }
}

using XDit.Runtime;

namespace XDit.Models.Vae.Ltx;

/// <summary>Views the decoder's depth-to-space steps write through: splitting one axis of any strided view into two
/// (torch's unflatten) never needs a copy, which Tensor.Reshape (contiguous only) does not cover.</summary>
static class LtxLayout
{
    /// <summary><paramref name="t"/> with axis <paramref name="axis"/> of size outer·inner split into
    /// [outer, inner] (the inner index varying fastest), on the same storage.</summary>
    public static Tensor Unflatten(Tensor t, int axis, int outer, int inner)
    {
        int a = t.NormAxis(axis);
        if ((long)outer * inner != t.Dim(a))
            throw new ArgumentException($"cannot split axis {a} of {Shape.Format(t.ShapeSpan)} into {outer} × {inner}");
        var shape = new List<int>(t.ShapeSpan.ToArray());
        var strides = new List<long>(t.Strides.ToArray());
        long stride = strides[a];
        shape[a] = outer;
        strides[a] = stride * inner;
        shape.Insert(a + 1, inner);
        strides.Insert(a + 1, stride);
        return new Tensor(t.Storage, t.DType, shape.ToArray(), strides.ToArray(), t.Offset);
    }

    /// <summary>[..., T·st, H·s, W·s] (the last three axes) as [..., T, st, H, s, W, s].</summary>
    public static Tensor SplitVoxels(Tensor t, int st, int s)
    {
        int r = t.Rank;
        var v = Unflatten(t, r - 1, t.Dim(r - 1) / s, s);
        v = Unflatten(v, r - 2, t.Dim(r - 2) / s, s);
        return Unflatten(v, r - 3, t.Dim(r - 3) / st, st);
    }
}

using XDit.Runtime;

namespace XDit.Engine.Parallel;

/// <summary>View helpers the Tensor class lacks.</summary>
static class TensorViews
{
    /// <summary>The view at <paramref name="index"/> of <paramref name="axis"/>, with that axis dropped (no copy).</summary>
    public static Tensor Select(Tensor t, int axis, int index)
    {
        int a = t.NormAxis(axis);
        if (index < 0 || index >= t.Dim(a))
            throw new ArgumentOutOfRangeException(nameof(index), $"index {index} of axis {a} with size {t.Dim(a)}");
        var shape = t.Dims.Where((_, i) => i != a).ToArray();
        var strides = t.Strides.ToArray().Where((_, i) => i != a).ToArray();
        return new Tensor(t.Storage, t.DType, shape, strides, t.Offset + index * t.Strides[a]);
    }
}

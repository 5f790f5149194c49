namespace XDit.Kernels.Cuda;

/// <summary>Two views of one shape (a copy's destination and source) with their axes merged wherever both are
/// dense across the boundary, and axes of size 1 dropped: the fewest axes that describe the same elements, so a
/// copy kernel divides less per element, and a copy of rows (a concat part, a slice of tokens, a chunk of a
/// packed tensor) is seen as rows.</summary>
public static class StridedViews
{
    public static (long[] Shape, long[] DstStrides, long[] SrcStrides) Merge(ReadOnlySpan<int> shape, ReadOnlySpan<long> dst, ReadOnlySpan<long> src)
    {
        var sh = new List<long>(shape.Length);
        var ds = new List<long>(shape.Length);
        var ss = new List<long>(shape.Length);
        for (int i = 0; i < shape.Length; i++)
        {
            if (shape[i] == 1) continue;
            int last = sh.Count - 1;
            // axis i continues the previous kept axis when stepping that one equals stepping i shape[i] times
            if (last >= 0 && ds[last] == dst[i] * shape[i] && ss[last] == src[i] * shape[i])
            {
                sh[last] *= shape[i];
                ds[last] = dst[i];
                ss[last] = src[i];
                continue;
            }
            sh.Add(shape[i]); ds.Add(dst[i]); ss.Add(src[i]);
        }
        if (sh.Count == 0) { sh.Add(1); ds.Add(1); ss.Add(1); }
        return (sh.ToArray(), ds.ToArray(), ss.ToArray());
    }
}

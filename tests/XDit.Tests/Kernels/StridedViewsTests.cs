using XDit.Kernels.Cuda;

namespace XDit.Tests.Kernels;

/// <summary>The axes a copy kernel sees after merging (<see cref="StridedViews.Merge"/>): views that are dense
/// across an axis boundary in both destination and source lose that boundary, so a copy of whole rows is rows.</summary>
public class StridedViewsTests
{
    [Fact]
    public void ContiguousViewsMergeIntoOneAxis()
    {
        var (shape, d, s) = StridedViews.Merge([2, 3, 4], [12, 4, 1], [12, 4, 1]);
        Assert.Equal(new long[] { 24 }, shape);
        Assert.Equal(new long[] { 1 }, d);
        Assert.Equal(new long[] { 1 }, s);
    }

    [Fact]
    public void ASliceOfTokensIsRowsAtTheSourcesStride()
    {
        // x [2, 9, 8] sliced to tokens 2..6 of each batch: 2 runs of 5·8 elements, 72 apart, into a dense [2, 5, 8]
        var (shape, d, s) = StridedViews.Merge([2, 5, 8], [40, 8, 1], [72, 8, 1]);
        Assert.Equal(new long[] { 2, 40 }, shape);
        Assert.Equal(new long[] { 40, 1 }, d);
        Assert.Equal(new long[] { 72, 1 }, s);
    }

    [Fact]
    public void UnitAxesDropAndTransposesStay()
    {
        var (shape, d, s) = StridedViews.Merge([1, 3, 1, 4], [12, 4, 4, 1], [99, 1, 7, 3]);
        Assert.Equal(new long[] { 3, 4 }, shape);
        Assert.Equal(new long[] { 4, 1 }, d);
        Assert.Equal(new long[] { 1, 3 }, s);
        var (one, _, _) = StridedViews.Merge([1, 1], [5, 1], [5, 1]);
        Assert.Equal(new long[] { 1 }, one);
    }
}

using XDit.Engine.PipeFusion;
using Xunit;

namespace XDit.Tests.PipeFusion;

public class PatchGeometryTests
{
    [Fact]
    public void DemoLatentIn4PatchesGives2RowsEach()
    {
        var g = PatchGeometry.Create(8, 8, 1, 4, 1);
        Assert.Equal([(0, 2, 0, 16), (2, 2, 16, 16), (4, 2, 32, 16), (6, 2, 48, 16)],
            g.Bands.Select(b => (b.GridRowStart, b.GridRows, b.TokenStart, b.TokenCount)));
        Assert.Null(g.Warning);
    }

    [Fact]
    public void UnevenBandsRoundingAndSequenceParallelStripsFollowXDiT()
    {
        // ceil(8/3) = 3 rows, last band takes the remaining 2
        Assert.Equal([3, 3, 2], PatchGeometry.Create(8, 8, 1, 3, 1).Bands.Select(b => b.GridRows));
        // with sp 2 the 3 rows round up to 4: only 2 patches (warned, not padded)
        var g = PatchGeometry.Create(8, 8, 1, 3, 2);
        Assert.Equal([4, 4], g.Bands.Select(b => b.GridRows));
        Assert.Contains("became 2", g.Warning);
        Assert.Equal((16, 16), g.SubBand(g.Bands[0], 1));        // sp rank 1 holds rows 2-3 of band 0
        // patch size 2 (latent rows 16): ceil(16/4) = 4 latent rows = 2 token rows per band
        Assert.Equal([2, 2, 2, 2], PatchGeometry.Create(8, 8, 2, 4, 1).Bands.Select(b => b.GridRows));
        Assert.Throws<ArgumentException>(() => PatchGeometry.Create(9, 8, 1, 2, 2));   // 9 rows do not split into sp 2 strips
        Assert.Throws<ArgumentException>(() => PatchGeometry.Create(8, 8, 1, 9, 1));   // more patches than rows
    }

    [Theory]
    [InlineData(8, 2, new[] { 4, 4 })]
    [InlineData(8, 3, new[] { 3, 3, 2 })]
    [InlineData(57, 4, new[] { 15, 15, 15, 12 })]   // Flux: 19 double + 38 single blocks as one list
    public void StagesGetCeilLOverNBlocks(int blocks, int stages, int[] counts)
        => Assert.Equal(counts, Enumerable.Range(0, stages).Select(s => PatchGeometry.StageBlocks(blocks, stages, s).Count));
}

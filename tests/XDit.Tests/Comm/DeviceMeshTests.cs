using XDit.Comm;

namespace XDit.Tests.Comm;

public class DeviceMeshTests
{
    [Fact]
    public void FourRankExampleFromTheReference()
    {
        // tp 1, sp 2, pp 1, cfg 2, dp 1: sp groups [0,1],[2,3]; cfg groups [0,2],[1,3].
        var mesh = new DeviceMesh(4, cfg: 2, ulysses: 2);
        Assert.Equal(new[] { new[] { 0, 1 }, new[] { 2, 3 } }, mesh.Groups(MeshAxis.Sp));
        Assert.Equal(new[] { new[] { 0, 2 }, new[] { 1, 3 } }, mesh.Groups(MeshAxis.Cfg));
        Assert.Equal(new[] { 2, 3 }, mesh.Group(MeshAxis.Ulysses, 3));
        Assert.Equal(new[] { 3 }, mesh.Group(MeshAxis.Ring, 3));
        Assert.Equal(new MeshCoord(0, 1, 0, 1, 0, 1, 0), mesh.CoordOf(3));
    }

    [Fact]
    public void EightRanksCfg2Ulysses2Ring2ByHand()
    {
        // rank = sp + 4·cfg, sp = ulysses + 2·ring.
        var mesh = new DeviceMesh(8, cfg: 2, ulysses: 2, ring: 2);
        Assert.Equal("world 8 = dp 1 × cfg 2 × pp 1 × ulysses 2 × ring 2", mesh.ToString());
        Assert.Equal(new[] { new[] { 0, 1, 2, 3 }, new[] { 4, 5, 6, 7 } }, mesh.Groups(MeshAxis.Sp));
        Assert.Equal(new[] { new[] { 0, 1 }, new[] { 2, 3 }, new[] { 4, 5 }, new[] { 6, 7 } }, mesh.Groups(MeshAxis.Ulysses));
        Assert.Equal(new[] { new[] { 0, 2 }, new[] { 1, 3 }, new[] { 4, 6 }, new[] { 5, 7 } }, mesh.Groups(MeshAxis.Ring));
        Assert.Equal(new[] { new[] { 0, 4 }, new[] { 1, 5 }, new[] { 2, 6 }, new[] { 3, 7 } }, mesh.Groups(MeshAxis.Cfg));
        Assert.Equal(new[] { 6 }, mesh.Group(MeshAxis.Data, 6));
        Assert.Equal(new[] { 6 }, mesh.Group(MeshAxis.Pipe, 6));
        // rank 6 = cfg 1, sp 2 = ulysses 0 + 2·ring 1
        Assert.Equal(new MeshCoord(0, 0, 1, 2, 0, 1, 0), mesh.CoordOf(6));
        Assert.Equal(new[] { 4, 5, 6, 7 }, mesh.Group(MeshAxis.Sp, 6));
        Assert.Equal(new[] { 6, 7 }, mesh.Group(MeshAxis.Ulysses, 6));
        Assert.Equal(new[] { 4, 6 }, mesh.Group(MeshAxis.Ring, 6));
        Assert.Equal(new[] { 2, 6 }, mesh.Group(MeshAxis.Cfg, 6));
    }

    [Fact]
    public void XDitSixteenRankExample()
    {
        // xdit.md §1.3: 16 GPUs sp=4 pp=2 dp=2: SP [0-3]..., PP [0,4][1,5]..., DP [0,8]...[7,15].
        var mesh = new DeviceMesh(16, data: 2, pipefusion: 2, ulysses: 4);
        Assert.Equal(new[] { 0, 1, 2, 3 }, mesh.Group(MeshAxis.Sp, 2));
        Assert.Equal(new[] { 1, 5 }, mesh.Group(MeshAxis.Pipe, 5));
        Assert.Equal(new[] { 11, 15 }, mesh.Group(MeshAxis.Pipe, 15));
        Assert.Equal(new[] { 7, 15 }, mesh.Group(MeshAxis.Data, 15));
    }

    [Fact]
    public void EveryRankRoundTripsAndGroupsPartitionTheWorld()
    {
        var mesh = new DeviceMesh(24, data: 3, cfg: 2, ulysses: 2, ring: 2);
        for (int r = 0; r < 24; r++) Assert.Equal(r, mesh.RankOf(mesh.CoordOf(r)));
        foreach (var axis in Enum.GetValues<MeshAxis>())
        {
            var groups = mesh.Groups(axis);
            Assert.Equal(24, groups.Sum(g => g.Length));
            Assert.Equal(Enumerable.Range(0, 24), groups.SelectMany(g => g).Order());
            foreach (var g in groups)
                for (int i = 0; i < g.Length; i++) Assert.Equal(i, mesh.CoordOf(g[i])[axis]);
        }
    }

    [Fact]
    public void SequenceShardFollowsTheSpRank()
    {
        var mesh = new DeviceMesh(8, cfg: 2, ulysses: 2, ring: 2);
        Assert.Equal((0, 6), mesh.SequenceShard(4, 24));
        Assert.Equal((6, 6), mesh.SequenceShard(5, 24));  // ulysses 1, ring 0
        Assert.Equal((12, 6), mesh.SequenceShard(6, 24)); // ulysses 0, ring 1
        var e = Assert.Throws<ArgumentException>(() => mesh.SequenceShard(0, 10));
        Assert.Contains("degree 4", e.Message);
    }

    [Fact]
    public void WrongProductNamesEveryDegreeAndTheWorld()
    {
        var e = Assert.Throws<ArgumentException>(() => new DeviceMesh(8, cfg: 2, ulysses: 3));
        foreach (var s in new[] { "data 1", "cfg 2", "pipefusion 1", "ulysses 3", "ring 1", "6", "8 ranks" })
            Assert.Contains(s, e.Message);
        var z = Assert.Throws<ArgumentException>(() => new DeviceMesh(4, ring: 0, ulysses: 4));
        Assert.Contains("ring 0", z.Message);
        Assert.Throws<ArgumentException>(() => new DeviceMesh(2, data: -2, cfg: -1));
    }
}

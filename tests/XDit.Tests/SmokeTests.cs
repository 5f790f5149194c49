using XDit.Runtime;

namespace XDit.Tests;

public class SmokeTests
{
    [Fact]
    public void FixturesAndDemoModelAreInTheRepository()
    {
        Assert.True(Directory.Exists(TestPaths.Fixture("pixart_sigma")), TestPaths.Fixture("pixart_sigma"));
        Assert.True(File.Exists(Path.Combine(TestPaths.DemoModel, "model_index.json")));
    }

    [Fact]
    public void ReshapeKeepsElementsAndRejectsWrongCounts()
    {
        using var t = Tensor.FromArray(new float[] { 1, 2, 3, 4, 5, 6 }, 2, 3);
        var r = t.Reshape(3, -1);
        Assert.Equal(new[] { 3, 2 }, r.Dims);
        Assert.Throws<ArgumentException>(() => t.Reshape(4, 2));
        Assert.Equal(new float[] { 1, 4, 2, 5, 3, 6 }, t.Permute(1, 0).ToFloatArray());
    }
}

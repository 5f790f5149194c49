using XDit.Engine.Analysis;

namespace XDit.Tests.Analysis;

/// <summary>The metrics against the numpy/torch formulas worked by hand on a small case, and the statistics over
/// prompts against np.mean / np.sqrt(np.var) (population) / their ratio.</summary>
public class ChangeMetricsTests
{
    [Fact]
    public void TheMetricsEqualTheHandFormulas()
    {
        float[] prev = [2f, -2f, 4f, 0f];
        float[] cur = [1f, -3f, 2f, 1f];
        var v = ChangeMetrics.Compute(cur, prev);
        // d = cur − prev = [−1, −1, −2, 1]; |d| = [1, 1, 2, 1]
        Assert.Equal(5 / 4.0, v.MeanAbs, 12);                                        // np.mean(np.abs(d))
        double m = 1.25;
        double var = (3 * (1 - m) * (1 - m) + (2 - m) * (2 - m)) / 3;                 // torch.var(|d|), n − 1
        Assert.Equal(var, v.VarAbs, 12);
        Assert.Equal(0.25, v.VarAbs, 12);
        Assert.Equal(5 / 8.0, v.RelativeL1, 12);                                      // Σ|d| / Σ|prev|
        double dot = 2 + 6 + 8 + 0, nc = Math.Sqrt(1 + 9 + 4 + 1), np = Math.Sqrt(4 + 4 + 16);
        Assert.Equal(1 - dot / (nc * np), v.Cosine, 12);
        Assert.Throws<ArgumentException>(() => ChangeMetrics.Compute([1f], [1f, 2f]));
    }

    [Fact]
    public void NoChangeIsZeroEverywhere()
    {
        float[] x = [0.5f, -1.5f, 3f];
        var v = ChangeMetrics.Compute(x, x);
        Assert.Equal(new ChangeValues(0, 0, 0, 0), v);
        Assert.Equal(new ChangeValues(0, 0, 0, 0), ChangeMetrics.Compute([0f, 0f], [0f, 0f]));
    }

    [Fact]
    public void MomentsArePopulationStatisticsOverPrompts()
    {
        double[][] rows = [[1, 4], [3, 4], [5, 4]];
        var (mean, std, cv) = RedundancyStatistics.Moments(rows, 2);
        Assert.Equal([3.0, 4.0], mean);
        Assert.Equal(Math.Sqrt(8 / 3.0), std[0], 12);  // np.sqrt(np.var([1, 3, 5]))
        Assert.Equal(0, std[1]);
        Assert.Equal(Math.Sqrt(8 / 3.0) / 3, cv[0], 12);
        Assert.Equal(0, cv[1]);
    }

    [Fact]
    public void ListsParseAndUnknownNamesAreRefusedByName()
    {
        Assert.Equal([ChangeMetric.MeanAbs, ChangeMetric.Cosine], ChangeMetrics.ParseList("mean_abs, cosine"));
        Assert.Equal(ChangeMetrics.All, ChangeMetrics.ParseList("all"));
        Assert.Contains("'l2'", Assert.Throws<ArgumentException>(() => ChangeMetrics.ParseList("mean_abs,l2")).Message);
        Assert.Equal([RecordingTarget.K, RecordingTarget.A], RecordingTarget.ParseList("k,a"));
        Assert.Contains("'q'", Assert.Throws<ArgumentException>(() => RecordingTarget.ParseList("q")).Message);
    }
}

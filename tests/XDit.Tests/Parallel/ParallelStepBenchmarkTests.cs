using XDit.Engine.Bench;

namespace XDit.Tests.Parallel;

/// <summary>The step benchmark on the pixart_sigma fixture (2 heads, 8×8 latent → 16 tokens): the bytes it reports
/// are the ones the methods must send, impossible methods are skipped with the reason.</summary>
public class ParallelStepBenchmarkTests
{
    [Fact]
    public void ReportsEveryMethodWithItsBytesPerRankAndSkipsTheImpossibleOnes()
    {
        var workload = new PixArtStepWorkload(TestPaths.Fixture("pixart_sigma"), latentSize: 8, textTokens: 6, rows: 2);
        var rows = ParallelStepBenchmark.Run([1, 2, 4], workload, steps: 1, warmup: 0);

        Assert.Equal(new[] { "single", "ulysses 2", "ring 2", "cfg 2", "ulysses 4", "ring 4", "ulysses 2 × ring 2", "cfg 2 × ulysses 2", "cfg 2 × ring 2" },
                     rows.Select(r => r.Method));
        var byName = rows.ToDictionary(r => r.Method);
        Assert.Equal(0, byName["single"].BytesSentPerRankPerStep);
        // cfg 2: one all-gather of this rank's row of the output [1, 8, 8, 8] float32.
        Assert.Equal(8 * 8 * 8 * 4, byName["cfg 2"].BytesSentPerRankPerStep);
        Assert.Contains("2 heads do not divide by ulysses 4", byName["ulysses 4"].Skipped);
        Assert.True(double.IsNaN(byName["ulysses 4"].MsPerStep));
        foreach (var r in rows.Where(r => r.Skipped is null))
        {
            Assert.True(r.MsPerStep > 0, $"{r.Method}: {r.MsPerStep} ms");
            if (r.WorldSize > 1) Assert.True(r.BytesSentPerRankPerStep > 0, $"{r.Method} sent nothing");
        }
        // A ring rank passes K/V of N/R tokens R − 1 times per layer: 2·(R−1)/R of the tokens, more for R = 4 than 2.
        Assert.True(byName["ring 4"].BytesSentPerRankPerStep > byName["ring 2"].BytesSentPerRankPerStep);
        var table = ParallelStepBenchmark.Format(rows);
        Assert.Contains("| cfg 2 | 2 |", table);
        Assert.Contains("skipped: 2 heads", table);
    }
}

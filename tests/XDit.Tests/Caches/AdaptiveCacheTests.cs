using XDit.Engine.Analysis;
using XDit.Engine.Caches;
using XDit.Engine.Execution;
using XDit.Kernels.Cpu;
using XDit.Models;
using XDit.Runtime;
using XDit.Tests.Parallel;

namespace XDit.Tests.Caches;

/// <summary>
/// The adaptive cache: at budget 1 it is the plain forward bit for bit; with repeated inputs the reused blocks give
/// the plain output; its policy keeps to the budget, always runs block 0 and step 0, and spends where the seed's
/// profile says the change is; the simulator replays FBCache and TeaCache as their rules say.
/// </summary>
public class AdaptiveCacheTests
{
    [Theory]
    [InlineData("pixart_alpha")]
    [InlineData("flux")]
    [InlineData("sd3")]
    [InlineData("hunyuandit")]
    [InlineData(TinyHunyuanDiT.Name)]
    public void AtBudgetOneEveryStepEqualsThePlainForwardExactly(string fixture)
    {
        var f = FixtureInputs.Load(fixture);
        using var ops = new CpuOps();
        using var model = f.LoadModel(ops);
        const int steps = 3;
        using var cache = new AdaptiveCacheExecutor(1, steps);
        for (int t = 0; t < steps; t++)
        {
            var inputs = f.Scaled(1f - 0.2f * t, 1f - 0.1f * t);
            Assert.Equal(inputs.Predict(ops, model, SingleRankExecutor.Instance, t), inputs.Predict(ops, model, cache, t));
        }
        Assert.Equal(steps * model.NumBlocks, cache.Stats.BlocksComputed);
        Assert.All(cache.Plans, p => Assert.All(p, Assert.True));
    }

    [Theory]
    [InlineData("pixart_alpha")]
    [InlineData("sd3")]
    [InlineData("hunyuandit")]
    [InlineData(TinyHunyuanDiT.Name)]
    public void RepeatedInputsReuseTheBlocksAndGiveThePlainOutput(string fixture)
    {
        var f = FixtureInputs.Load(fixture);
        var b = f.Scaled(-1.3f, 0.4f);
        FixtureInputs[] sequence = [f, f, b, b, b];
        using var ops = new CpuOps();
        using var model = f.LoadModel(ops);
        int n = model.NumBlocks;
        // room for two whole steps besides block 0 of every step; the seed says the change comes at step 2
        double budget = (2 * n + 3) / (5.0 * n);
        var seed = new AdaptiveCacheSeed(5, [0, 0, 1, 0, 0], Enumerable.Repeat(1.0, n).ToArray());
        using var cache = new AdaptiveCacheExecutor(budget, sequence.Length, seed);
        for (int t = 0; t < sequence.Length; t++)
        {
            var plain = sequence[t].Predict(ops, model, SingleRankExecutor.Instance, t);
            var got = sequence[t].Predict(ops, model, cache, t);
            double err = Numerics.RelativeError(got, plain);
            Assert.True(err < 1e-5, $"{fixture} step {t}: relative error {err:E2} against the plain forward");
        }
        Assert.All(cache.Plans[0], Assert.True);
        Assert.Equal([true, .. Enumerable.Repeat(false, n - 1)], cache.Plans[1]);
        Assert.All(cache.Plans[2], Assert.True);
        Assert.Equal([true, .. Enumerable.Repeat(false, n - 1)], cache.Plans[3]);
        Assert.True(cache.Stats.BlocksComputed <= 2 * n + 3, $"{cache.Stats.BlocksComputed} block evaluations, budget {2 * n + 3}");
        Assert.Equal([1, 3, 4], cache.Stats.SkippedSteps);
    }

    [Fact]
    public void ThePolicyKeepsToItsBudgetAndRunsBlockZeroAndStepZero()
    {
        var random = new Random(7);
        foreach (var budget in new[] { 0.3, 0.5, 0.8 })
        {
            var policy = new AdaptiveBlockPolicy(budget, 20, 6);
            int spent = 0;
            for (int t = 0; t < 20; t++)
            {
                var plan = policy.Plan(t, 0.05 + random.NextDouble() * 0.2);
                Assert.True(plan[0]);
                if (t == 0) Assert.All(plan, Assert.True);
                for (int i = 0; i < 6; i++) if (plan[i]) policy.Ran(i, 1 + i, random.NextDouble());
                spent += plan.Count(x => x);
            }
            Assert.Equal(spent, policy.Spent);
            Assert.True(spent <= budget * 120 + 1e-9, $"budget {budget}: {spent} of 120 block evaluations");
            Assert.True(spent >= budget * 120 - 6, $"budget {budget}: only {spent} of the {budget * 120} allowed were spent");
        }
        Assert.Contains("[0.208, 1] for 6 blocks and 20 steps", Assert.Throws<ArgumentException>(() => new AdaptiveBlockPolicy(0.1, 20, 6)).Message);
    }

    [Fact]
    public void TheSeedsProfileSendsTheWorkWhereTheChangeIs()
    {
        // the change grows tenfold over the run: the first half should get far less of the work than the second
        const int steps = 20, blocks = 4;
        var profile = Enumerable.Range(0, steps).Select(t => 0.01 * (1 + 9.0 * t / (steps - 1))).ToArray();
        var policy = new AdaptiveBlockPolicy(0.5, steps, blocks, new AdaptiveCacheSeed(steps, profile, [1, 1, 1, 1]));
        int early = 0, late = 0;
        for (int t = 0; t < steps; t++)
        {
            var plan = policy.Plan(t, profile[t]);
            int ran = plan.Count(x => x);
            for (int i = 0; i < blocks; i++) if (plan[i]) policy.Ran(i, 1, double.NaN);
            if (t is > 0 and < steps / 2) early += ran; else if (t >= steps / 2) late += ran;
        }
        Assert.True(late > early + 6, $"first half {early}, second half {late} block evaluations");
    }

    [Fact]
    public void TheSimulatorReplaysFbCacheAndTeaCacheByTheirRules()
    {
        // 5 steps, 2 blocks; block 0's residual changes 0.05, 0.05, 0.3, 0.05 into steps 1..4
        double[][] rel = [[0.05, 0.05, 0.3, 0.05], [0.1, 0.1, 0.1, 0.1]];
        double[][] abs = [[1, 1, 1, 1], [2, 3, 4, 5]];
        var series = new ReplaySeries(5, rel, abs, [0.05, 0.05, 0.3, 0.05]);
        var fb = CacheSimulator.Simulate(new CachePolicy("fbcache", 0.12), series, TeaCacheCoefficients.Identity);
        // accumulated 0.05 (skip), 0.10 (skip), 0.40 (run), 0.05 (skip)
        Assert.Equal([true, false, false, true, false], fb.Runs.Select(r => r[1]));
        Assert.All(fb.Runs, r => Assert.True(r[0]));
        Assert.Equal(1 - 7 / 10.0, fb.ComputeSaved, 12);
        // stale block 1: step 1 adds abs[1][0] = 2, step 2 adds 2 + 3, step 4 adds abs[1][3] = 5
        Assert.Equal((2 + 5 + 5) / 5.0, fb.PredictedError, 12);
        var tea = CacheSimulator.Simulate(new CachePolicy("teacache", 0.12), series, TeaCacheCoefficients.Identity);
        // first and last always run; 0.05 (skip), 0.10 (skip), 0.40 (run)
        Assert.Equal([true, false, false, true, true], tea.Runs.Select(r => r[0]));
        Assert.Equal(1 - 6 / 10.0, tea.ComputeSaved, 12);
        Assert.Contains("'lru:1'", Assert.Throws<ArgumentException>(() => CachePolicy.ParseList("fbcache:0.1,lru:1")).Message);
        Assert.Throws<ArgumentException>(() => CachePolicy.ParseList("adaptive:1.5"));
    }
}

using XDit.Engine.Execution;
using XDit.Engine.Pipelines;
using XDit.Kernels;

namespace XDit.Engine.Caches;

/// <summary>
/// The standard step-by-step loop with a step cache as its executor, made fresh for each generation from the
/// number of steps the scheduler set (TeaCache always computes the last one), and freed when the loop ends so that
/// no cached residual outlives the generation. <see cref="Last"/> keeps the finished cache for its counters.
/// </summary>
public sealed class StepCacheLoop(Func<int, IStepCache> create) : IDenoiseLoop
{
    public IStepCache? Last { get; private set; }

    public static StepCacheLoop TeaCache(double threshold) => new(steps => new TeaCacheExecutor(threshold, steps));
    public static StepCacheLoop FirstBlockCache(double threshold) => new(_ => new FirstBlockCacheExecutor(threshold));
    public static StepCacheLoop Adaptive(double budget, AdaptiveCacheSeed? seed = null) => new(steps => new AdaptiveCacheExecutor(budget, steps, seed));
    /// <summary>The adaptive cache seeded by a saved `xdit analyze` report (read once the steps are known), or unseeded.</summary>
    public static StepCacheLoop Adaptive(double budget, string? reportPath) => reportPath is null ? Adaptive(budget)
        : new(steps => new AdaptiveCacheExecutor(budget, steps, AdaptiveCacheSeed.FromReport(reportPath, steps)));

    public void Run(IOps ops, DenoiseJob job, IProgress<PipelineProgress>? progress)
    {
        var cache = create(job.Scheduler.Timesteps.Length);
        Last = cache;
        try { new StandardDenoiseLoop(cache).Run(ops, job, progress); }
        finally { cache.Dispose(); }
    }
}

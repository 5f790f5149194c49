using XDit.Engine.Execution;

namespace XDit.Tests.Models;

/// <summary>How a model's tests check its forward under <see cref="CudaGraphExecutor"/>.</summary>
internal static class CudaGraphChecks
{
    /// <summary>Three steps, each predicted from the same inputs eagerly (<see cref="SingleRankExecutor"/>) and by one
    /// graph executor: equal, the first step captured, the other two replayed, no fallback.
    /// <paramref name="predict"/>(executor, step) makes that step's inputs, predicts with the executor and returns the
    /// output on the host.</summary>
    public static void StepsReplayAsTheyRunEagerly(Func<IDenoiseExecutor, int, float[]> predict)
    {
        using var executor = new CudaGraphExecutor();
        for (int step = 0; step < 3; step++)
            Assert.Equal(predict(SingleRankExecutor.Instance, step), predict(executor, step));
        Assert.Null(executor.FallbackReason);
        Assert.Equal((1, 2), (executor.Captures, executor.Replays));
    }
}

using XDit.Kernels;

namespace XDit.Engine.Execution;

/// <summary>The standard step-by-step loop with the blocks replayed from CUDA graphs (<see cref="CudaGraphExecutor"/>,
/// one per run, so each generation's graphs and their memory go with it). `--use-cuda-graph` on the command line.</summary>
public sealed class CudaGraphLoop : IDenoiseLoop
{
    /// <summary>Graphs recorded in the last run.</summary>
    public int Captures { get; private set; }
    /// <summary>Steps of the last run computed by a graph replay.</summary>
    public int Replays { get; private set; }
    /// <summary>Why the last run's blocks ran eagerly after all, or null.</summary>
    public string? FallbackReason { get; private set; }

    public void Run(IOps ops, DenoiseJob job, IProgress<Pipelines.PipelineProgress>? progress)
    {
        using var executor = new CudaGraphExecutor();
        try { new StandardDenoiseLoop(executor).Run(ops, job, progress); }
        finally
        {
            Captures = executor.Captures;
            Replays = executor.Replays;
            FallbackReason = executor.FallbackReason;
        }
    }
}

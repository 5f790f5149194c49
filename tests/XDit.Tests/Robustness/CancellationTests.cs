using XDit.Engine.Execution;
using XDit.Engine.Pipelines;

namespace XDit.Tests.Robustness;

/// <summary>A request's token ends a run between denoising steps, on one rank and on in-process ranks (issue 22, item 2).</summary>
public class CancellationTests
{
    [Fact]
    public void ATokenFiredDuringAStepEndsTheRunAfterThatStep()
    {
        using var pipeline = PipelineLoader.Load(TestPaths.DemoModel);
        using var cts = new CancellationTokenSource();
        int steps = 0;
        pipeline.Progress += (_, p) => { if (p.Stage == "denoise") { steps++; cts.Cancel(); } };
        var request = new GenerationRequest { Prompts = ["a red circle"], NumInferenceSteps = 5 };
        Assert.ThrowsAny<OperationCanceledException>(() => pipeline.Generate(request, cts.Token));
        Assert.Equal(1, steps);
        // the pipeline is still usable
        Assert.Single(pipeline.Generate(request with { NumInferenceSteps = 1 }).Images);
    }

    [Fact]
    public void AnAlreadyFiredTokenRunsNoStep()
    {
        using var pipeline = PipelineLoader.Load(TestPaths.DemoModel);
        int steps = 0;
        pipeline.Progress += (_, _) => steps++;
        var request = new GenerationRequest { Prompts = ["a red circle"], NumInferenceSteps = 3 };
        Assert.ThrowsAny<OperationCanceledException>(() => pipeline.Generate(request, new CancellationToken(canceled: true)));
        Assert.Equal(0, steps);
    }

    [Fact]
    public void ATokenFiredDuringAParallelRunEndsEveryRank()
    {
        using var cts = new CancellationTokenSource();
        int steps = 0;
        var request = new GenerationRequest { Prompts = ["a red circle"], NumInferenceSteps = 6 };
        Assert.ThrowsAny<OperationCanceledException>(() => ParallelGeneration.Run(TestPaths.DemoModel,
            new ParallelConfig { WorldSize = 2, UseCfgParallel = true }, request,
            onRankPipeline: (p, rank) => { if (rank == 0) p.Progress += (_, p) => { if (p.Stage == "denoise") { steps++; cts.Cancel(); } }; },
            cancel: cts.Token));
        Assert.InRange(steps, 1, 2); // rank 1 may finish one more step before it sees the token
    }
}

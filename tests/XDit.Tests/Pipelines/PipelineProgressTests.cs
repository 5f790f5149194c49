using XDit.Engine.Pipelines;

namespace XDit.Tests.Pipelines;

/// <summary>The library reports every stage of a generation and stops when asked.</summary>
public class PipelineProgressTests
{
    [Fact]
    public void EncodeEachDenoisingStepAndDecodeAreReportedInOrder()
    {
        using var pipeline = PipelineLoader.Load(TestPaths.DemoModel);
        var seen = new List<string>();
        pipeline.Progress += (_, p) => seen.Add($"{p.Stage} {p.Step}/{p.TotalSteps}");
        pipeline.Generate(new GenerationRequest { Prompts = ["a red circle on a blue background"], NumInferenceSteps = 2 });
        Assert.Equal(["encode 1/1", "denoise 1/2", "denoise 2/2", "decode 1/1"], seen);
    }

    [Fact]
    public void ACancelledTokenStopsTheGenerationAfterTheStepWhereItWasCancelled()
    {
        using var pipeline = PipelineLoader.Load(TestPaths.DemoModel);
        using var cancel = new CancellationTokenSource();
        var seen = new List<string>();
        pipeline.Progress += (_, p) =>
        {
            seen.Add($"{p.Stage} {p.Step}");
            if (p.Stage == "denoise" && p.Step == 1) cancel.Cancel();
        };
        Assert.ThrowsAny<OperationCanceledException>(() => pipeline.Generate(new GenerationRequest { Prompts = ["a red circle"], NumInferenceSteps = 5 }, cancel.Token));
        Assert.Equal(["encode 1", "denoise 1"], seen);
        Assert.ThrowsAny<OperationCanceledException>(() => pipeline.Generate(GenerationRequest.For("a red circle"), cancel.Token));
    }
}

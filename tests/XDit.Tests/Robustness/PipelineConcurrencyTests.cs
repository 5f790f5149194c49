using XDit.Engine.Pipelines;

namespace XDit.Tests.Robustness;

/// <summary>A pipeline used from two threads refuses the second request instead of corrupting both; two pipelines in
/// one process run side by side (issue 22, "Done when").</summary>
public class PipelineConcurrencyTests
{
    static GenerationRequest Req(ulong seed) => new() { Prompts = ["a red circle on a blue background"], NumInferenceSteps = 2, Seed = seed };

    [Fact]
    public void ASecondRequestWhileOneRunsIsRefusedAndTheFirstFinishes()
    {
        using var pipeline = PipelineLoader.Load(TestPaths.DemoModel);
        Exception? second = null;
        pipeline.Progress += (_, p) =>
        {
            if (p.Stage != "denoise" || p.Step != 1) return;
            // another thread asks while this run is between its steps
            second = Record.Exception(() => Task.Run(() => pipeline.Generate(Req(2))).GetAwaiter().GetResult());
        };
        var first = pipeline.Generate(Req(1));
        Assert.Single(first.Images);
        Assert.Contains("one request at a time", Assert.IsType<InvalidOperationException>(second).Message);
        Assert.Single(pipeline.Generate(Req(3)).Images); // free again afterwards
    }

    [Fact]
    public async Task TwoPipelinesInOneProcessRunTogetherAndDrawWhatEachDrawsAlone()
    {
        float[] Draw(ulong seed)
        {
            using var p = PipelineLoader.Load(TestPaths.DemoModel);
            return p.Generate(Req(seed)).Images[0].Pixels.ToArray();
        }
        var together = await Task.WhenAll(Task.Run(() => Draw(5)), Task.Run(() => Draw(6)));
        Assert.Equal(Draw(5), together[0]);
        Assert.Equal(Draw(6), together[1]);
        Assert.NotEqual(together[0], together[1]);
    }
}

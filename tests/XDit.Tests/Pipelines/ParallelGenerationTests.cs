using XDit.Engine.Execution;
using XDit.Engine.Pipelines;

namespace XDit.Tests.Pipelines;

/// <summary>In-process multi-rank generation against one rank, on the demo model.</summary>
public class ParallelGenerationTests
{
    static readonly string[] Prompts = { "a red circle on a blue background", "a yellow square on a black background" };

    static float[] SingleRank(GenerationRequest request)
    {
        using var pipeline = PipelineLoader.Load(TestPaths.DemoModel);
        return pipeline.Generate(request).Images.SelectMany(i => i.Pixels).ToArray();
    }

    [Fact]
    public void DataParallelDrawsWhatOneRankDrawsFromTheSameSeed()
    {
        var request = new GenerationRequest { Prompts = Prompts, NumInferenceSteps = 4, Seed = 11 };
        var outcome = ParallelGeneration.Run(TestPaths.DemoModel, new ParallelConfig { WorldSize = 2, DataParallelDegree = 2 }, request);
        var parallel = outcome.Result.Images.SelectMany(i => i.Pixels).ToArray();
        var serial = SingleRank(request);
        Assert.Equal(2, outcome.Result.Images.Count);
        Assert.True(Numerics.RelativeError(parallel, serial) < 1e-6, $"relative error {Numerics.RelativeError(parallel, serial):G3}");
        Assert.All(outcome.BytesSentPerRank, b => Assert.Equal(0, b)); // replicas never talk
    }

    [Fact]
    public void DegreesThatDoNotMultiplyToTheWorldSizeAreRefusedBeforeAnyWork()
    {
        var e = Assert.ThrowsAny<Exception>(() => ParallelGeneration.Run(TestPaths.DemoModel,
            new ParallelConfig { WorldSize = 3, UlyssesDegree = 2 }, new GenerationRequest { Prompts = Prompts }));
        Assert.Contains("3", e.Message);
        Assert.Contains("ulysses 2", e.Message);
    }

    [Fact]
    public void PromptsThatDoNotSplitAcrossReplicasAreRefused()
    {
        var e = Assert.Throws<ArgumentException>(() => ParallelGeneration.Run(TestPaths.DemoModel,
            new ParallelConfig { WorldSize = 2, DataParallelDegree = 2 }, GenerationRequest.For("a red circle")));
        Assert.Contains("divisible by 2", e.Message);
    }
}

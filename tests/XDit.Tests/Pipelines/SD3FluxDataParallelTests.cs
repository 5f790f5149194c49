using XDit.Engine.Execution;
using XDit.Engine.Pipelines;

namespace XDit.Tests.Pipelines;

/// <summary>Data parallelism on the SD3 and Flux pipelines: two in-process replicas draw what one rank draws from the
/// same seed (the noise rows continue at each replica's first image; Flux packs them after drawing).</summary>
public class SD3FluxDataParallelTests
{
    [Theory]
    [InlineData("sd3")]
    [InlineData("flux")]
    public void TwoReplicasDrawWhatOneRankDraws(string kind)
    {
        var dir = kind == "sd3" ? SD3FluxTestFolders.SD3() : SD3FluxTestFolders.Flux();
        var request = new GenerationRequest { Prompts = ["a red cat", "blue dog"], NumInferenceSteps = 2, Height = 12, Width = 16, MaxSequenceLength = 8, Seed = 3 };
        var outcome = ParallelGeneration.Run(dir, new ParallelConfig { WorldSize = 2, DataParallelDegree = 2 }, request);
        float[] serial;
        using (var pipeline = PipelineLoader.Load(dir))
            serial = pipeline.Generate(request).Images.SelectMany(i => i.Pixels).ToArray();
        var parallel = outcome.Result.Images.SelectMany(i => i.Pixels).ToArray();
        Assert.True(Numerics.RelativeError(parallel, serial) < 1e-6, $"relative error {Numerics.RelativeError(parallel, serial):G3}");
    }
}

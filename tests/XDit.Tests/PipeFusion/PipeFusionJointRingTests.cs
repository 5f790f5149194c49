using XDit.Engine.Execution;
using XDit.Engine.Pipelines;
using XDit.Tests.Pipelines;
using Xunit;

namespace XDit.Tests.PipeFusion;

/// <summary>Ring inside PipeFusion stages on the joint-attention pipelines (SD3: text after the image, Flux: text
/// first, packed latents), on the tiny synthetic folders: with warmup on every step it equals one rank, so the joint
/// text K/V is counted exactly once across the ring.</summary>
public class PipeFusionJointRingTests(ITestOutputHelper output)
{
    public static TheoryData<string, int> Cases => new() { { "sd3", 1 }, { "sd3", 2 }, { "flux", 1 }, { "flux", 2 } };

    [Theory]
    [MemberData(nameof(Cases))]
    public void PipeFusion2TimesRing2WithWarmupOnEveryStepEqualsOneRank(string model, int ulysses)
    {
        string folder = model == "sd3" ? SD3FluxTestFolders.SD3() : SD3FluxTestFolders.Flux();
        const int steps = 3;
        var request = new GenerationRequest { Prompts = new[] { "red cat" }, NumInferenceSteps = steps, Seed = 5, Height = 32, Width = 32 };
        float[] serial;
        using (var pipeline = PipelineLoader.Load(folder)) serial = Pixels(pipeline.Generate(request));
        var config = new ParallelConfig
        {
            WorldSize = 4 * ulysses, PipeFusionParallelDegree = 2, RingDegree = 2, UlyssesDegree = ulysses,
            NumPipelinePatch = 2, WarmupSteps = steps,
        };
        var parallel = Pixels(ParallelGeneration.Run(folder, config, request).Result);
        double err = Numerics.RelativeError(parallel, serial);
        output.WriteLine($"{model} {config.Mesh()}: relative error {err:G3} against one rank");
        Assert.True(err < 1e-5, $"{model} {config.Mesh()}: relative error {err:G3} against one rank");
    }

}

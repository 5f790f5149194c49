using XDit.Engine.Execution;
using XDit.Engine.Pipelines;

namespace XDit.Tests.Pipelines;

/// <summary>
/// The parallel paths on the joint-attention pipelines (SD3 image-then-text, Flux text-then-image with packed
/// latents), on tiny synthetic folders: exact methods and PipeFusion with warmup on every step equal one rank.
/// </summary>
public class JointModelParallelTests
{
    static void AssertMatchesSingleRank(string folder, ParallelConfig config, int steps)
    {
        var request = new GenerationRequest { Prompts = new[] { "red cat" }, NumInferenceSteps = steps, Seed = 5, Height = 32, Width = 32 };
        float[] serial;
        using (var pipeline = PipelineLoader.Load(folder)) serial = Pixels(pipeline.Generate(request));
        var parallel = Pixels(ParallelGeneration.Run(folder, config, request).Result);
        double err = Numerics.RelativeError(parallel, serial);
        Assert.True(err < 1e-5, $"{config}: relative error {err:G3} against one rank");
    }

    public static TheoryData<string> Meshes => new() { "cfg2", "ulysses2", "ring2", "cfg2-ring2", "pp2" };
    // Flux-dev takes guidance through its embedding, with no CFG rows to split.
    public static TheoryData<string> FluxMeshes => new() { "ulysses2", "ring2", "pp2" };

    static ParallelConfig Config(string mesh, int steps) => mesh switch
    {
        "cfg2" => new() { WorldSize = 2, UseCfgParallel = true },
        "ulysses2" => new() { WorldSize = 2, UlyssesDegree = 2 },
        "ring2" => new() { WorldSize = 2, RingDegree = 2 },
        "cfg2-ring2" => new() { WorldSize = 4, UseCfgParallel = true, RingDegree = 2 },
        "pp2" => new() { WorldSize = 2, PipeFusionParallelDegree = 2, NumPipelinePatch = 2, WarmupSteps = steps },
        _ => throw new ArgumentException(mesh),
    };

    [Theory]
    [MemberData(nameof(Meshes))]
    public void SD3OnSeveralRanksEqualsOneRank(string mesh) => AssertMatchesSingleRank(SD3FluxTestFolders.SD3(), Config(mesh, 3), 3);

    [Theory]
    [MemberData(nameof(FluxMeshes))]
    public void FluxOnSeveralRanksEqualsOneRank(string mesh) => AssertMatchesSingleRank(SD3FluxTestFolders.Flux(), Config(mesh, 3), 3);

    [Fact]
    public void PipeFusionWithStaleKvRunsTheJointModels()
    {
        // Warmup 1 of 3 steps: patches stream with stale K/V; the images stay finite and near the serial ones.
        foreach (var folder in new[] { SD3FluxTestFolders.SD3(), SD3FluxTestFolders.Flux() })
        {
            var request = new GenerationRequest { Prompts = new[] { "red cat" }, NumInferenceSteps = 3, Seed = 5, Height = 32, Width = 32 };
            var config = new ParallelConfig { WorldSize = 2, PipeFusionParallelDegree = 2, NumPipelinePatch = 2, WarmupSteps = 1 };
            var images = ParallelGeneration.Run(folder, config, request).Result.Images;
            Assert.Single(images);
            Assert.All(images[0].Pixels, p => Assert.InRange(p, 0f, 1f));
        }
    }
}

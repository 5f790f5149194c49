using XDit.Engine.Execution;
using XDit.Engine.Pipelines;

namespace XDit.Tests.Pipelines.Options;

/// <summary>
/// The options on the parallel methods: CFG parallelism splits the [negative; positive] rows of SD3's guided pass
/// (the skip-layer pass then runs on each rank over the whole latent) and of Flux's true CFG, and the latents stay
/// diffusers'; PipeFusion, which steps patches, refuses skip-layer guidance before any work.
/// </summary>
public sealed class OptionsUnderParallelismTests
{
    [Theory]
    [InlineData("pipe_sd3", "sd3_slg_window", "in.latents")]
    [InlineData("pipe_flux", "flux_true_cfg", "in.latents_unpacked")]
    public void CfgParallelKeepsDiffusersLatents(string fixture, string name, string latents)
    {
        var request = OptionCases.Request(OptionCases.Case(name), OptionCases.FirstRow(fixture, latents));
        var trace = new PipelineTrace();
        ParallelGeneration.Run(TestPaths.Fixture(fixture), new ParallelConfig { WorldSize = 2, UseCfgParallel = true }, request,
            onRankPipeline: (pipeline, rank) => { if (rank == 0) pipeline.Trace = trace; });
        double err = Numerics.RelativeError(trace.Find("latents")!.Values, OptionCases.Tensor($"{name}.latents"));
        Assert.True(err < 1e-4, $"{name} under CFG parallelism: {err:E2} relative from diffusers");
    }

    [Fact]
    public void PipeFusionRefusesSkipLayerGuidance()
    {
        var request = OptionCases.Request(OptionCases.Case("sd3_slg_window"), OptionCases.FirstRow("pipe_sd3", "in.latents"));
        var e = Assert.ThrowsAny<Exception>(() => ParallelGeneration.Run(TestPaths.Fixture("pipe_sd3"),
            new ParallelConfig { WorldSize = 2, PipeFusionParallelDegree = 2, NumPipelinePatch = 2 }, request));
        Assert.Contains("leave out --pipefusion-parallel-degree or --skip-guidance-layers", e.ToString());
    }
}

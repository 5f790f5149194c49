using XDit.Engine.Pipelines;
using XDit.Runtime;
using XDit.Tests.Pipelines.Options;

namespace XDit.Tests.Cuda.Emulation;

/// <summary>
/// The diffusers call options on CudaOps in float32 (the emulator pass): SD3's skip-layer guidance (its extra pass
/// slices the positive rows of device tensors) and Flux's true CFG give what the CPU gives (the CPU is held to
/// diffusers by the option reference tests). Two steps each, with the skip-layer window widened so that step 1 has
/// the extra pass, to keep the emulated run short.
/// </summary>
[NeedsCudaDevice]
[Collection("cuda")]
public class EmulatedCudaOptionTests
{
    [Theory]
    [InlineData("pipe_sd3", "sd3_slg_window", "in.latents")]
    [InlineData("pipe_flux", "flux_true_cfg", "in.latents_unpacked")]
    public void OptionCaseOnEmulatedCudaIsTheCpus(string fixture, string name, string latents)
    {
        EmulatedCuda.Require();
        var request = OptionCases.Request(OptionCases.Case(name), OptionCases.FirstRow(fixture, latents)) with
        {
            NumInferenceSteps = 2,
            SkipLayerGuidanceStart = 0,
            SkipLayerGuidanceStop = 1,
        };
        float[] want;
        using (var cpu = PipelineLoader.Load(TestPaths.Fixture(fixture)))
            want = OptionCases.FinalLatents(cpu, request);
        using var pipeline = PipelineLoader.Load(TestPaths.Fixture(fixture), CudaTestDevice.Get(DType.F32), ownsOps: false);
        double err = Numerics.RelativeError(OptionCases.FinalLatents(pipeline, request), want);
        Assert.True(err < 1e-5, $"{name} on emulated CUDA f32: {err:E2} relative from the CPU");
    }
}

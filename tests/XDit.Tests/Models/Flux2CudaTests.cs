using XDit.Kernels.Cpu;
using XDit.Runtime;
using XDit.Tests.Cuda;

namespace XDit.Tests.Models;

/// <summary>
/// Flux 2 on the CUDA backend in bf16 (the emulator in the emulator pass, the GPU on a GPU machine). The golden case
/// cannot check bf16 (EmulatedCudaPipelineTests skips it: its timestep 0.73 becomes t·1000 = 732 in bf16, as diffusers
/// rounds it), so this runs the same weights and tokens at σ = 0.5, exact in bf16 (500 after the ·1000), against the
/// CPU's float32 forward, which the golden case holds to diffusers.
/// </summary>
[NeedsCudaDevice]
[Collection("cuda")]
public class Flux2CudaTests
{
    [Theory]
    [InlineData(DType.BF16, 2e-2)]
    [InlineData(DType.F16, 5e-3)]
    public void AtAnExactTimestepTheHalfPrecisionForwardFollowsFloat32(DType dt, double tolerance)
    {
        var gpu = CudaTestDevice.Get(dt);
        var inputs = Flux2TestInputs.Load() with { Timestep = [0.5f] };
        float[] reference;
        using (var cpu = new CpuOps())
        using (var model = Flux2TestInputs.LoadModel(cpu))
            reference = inputs.Predict(cpu, model);
        using var m = Flux2TestInputs.LoadModel(gpu);
        double err = Numerics.RelativeError(inputs.Predict(gpu, m), reference);
        TestContext.Current.TestOutputHelper?.WriteLine($"flux2 {dt} at σ 0.5: relative error {err:E3}");
        Assert.True(err < tolerance, $"flux2 {dt} at σ 0.5: relative error {err:E3} > {tolerance:E1}");
    }
}

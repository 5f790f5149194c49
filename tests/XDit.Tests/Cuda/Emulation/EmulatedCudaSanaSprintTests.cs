using XDit.Runtime;
using XDit.Tests.Pipelines;

namespace XDit.Tests.Cuda.Emulation;

/// <summary>SANA Sprint's transformer (guidance embedding, q/k RMSNorm across heads) on CudaOps over the emulator,
/// against diffusers' float32 forward (tests/fixtures/sana_sprint_synthetic): float32 at the fixtures' 1e-4 and f16
/// at a tolerance for its rounding.</summary>
[NeedsCudaDevice]
[Collection("cuda")]
public class EmulatedCudaSanaSprintTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(DType.F32, 1e-4)]
    [InlineData(DType.F16, 1e-2)]
    public void TransformerMatchesDiffusersOnEmulatedCuda(DType dt, double tolerance)
    {
        EmulatedCuda.Require();
        double err = SanaSprintPipelineTests.TransformerError(CudaTestDevice.Get(dt));
        output.WriteLine($"sana sprint transformer {dt}: rel {err:E3}");
        Assert.True(err < tolerance, $"{dt}: relative error {err:G3} against diffusers");
    }
}

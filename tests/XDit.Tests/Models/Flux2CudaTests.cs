using XDit.Engine.Execution;
using XDit.Kernels.Cpu;
using XDit.Runtime;
using XDit.Tests.Bench;
using XDit.Tests.Cuda;
using XDit.Tests.Cuda.Emulation;

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

    [Fact]
    public void BlocksLaunchWhatTheirStagesNeed() =>
        // double block: a LayerNormModulate per stream (the modulation is the model's shared one: no adaLN GEMM of its
        // own), per stream the q/k GEMM that norms and rotates each head in its epilogue and the v GEMM, into the joint
        // rows, one attention, the gates prepared in one pass, and per stream the gated output projection, the second
        // LayerNormModulate, SwiGLU (the GEMM of linear_in and one swiglu pass) and the gated linear_out: 18. Single
        // block: the same attention part over its fused projection's q/k/v rows, per stream the SwiGLU over its gate and
        // value rows (a GEMM and a swiglu pass) and to_out's two gated column blocks: 16
        Assert.Equal(["embed: 13", "block 0: 18", "block 1: 16", "block 2: 16", "finish: 3"],
            NoExecLedger.LaunchesPerBlock("flux2-tiny"));

    [Fact]
    public void ElementwiseTrafficOfTheRealSizeForwardStaysWithinItsBound()
    {
        // FLUX.2-dev at 1024 px (4096 image + 512 text tokens, one row): 35.89 GB (measured; 48.84 with q/k's RMSNorm +
        // RoPE as passes of their own): 28.54 GB the swiglu passes (a read of the gate and value and a write of the
        // product, 18432 wide, for every token per block), 7.35 the LayerNormModulates. It also checks that the
        // real-size config loads (every weight asked for in its real shape) and runs.
        Assert.SkipWhen(!EmulatedCuda.Active, "FLUX.2-dev's 32B weights (64 GB in bf16) are for the emulator's no-exec device, not a real GPU's memory");
        var report = NoExecLedger.Of("flux2-dev");
        TestContext.Current.TestOutputHelper?.WriteLine($"flux2-dev: {report.Total.Launches} launches, {report.ElementwiseBytes / 1e9:F3} GB elementwise");
        Assert.Equal(8 * 18 + 48 * 16 + 13 + 3, report.Total.Launches);
        Assert.True(report.ElementwiseBytes > 0, "no elementwise traffic counted");
        Assert.True(report.ElementwiseBytes <= 35.9e9, $"{report.ElementwiseBytes / 1e9:F3} GB elementwise > 35.9 GB");
    }

    [Fact]
    public void TheForwardReplaysInACudaGraph()
    {
        // the conditioning row (every block's modulation, new each step with the timestep), the RoPE tables and the
        // text stream the blocks rewrite are state the graph's fixed buffers hold
        var gpu = CudaTestDevice.Get(DType.F32);
        var f = Flux2TestInputs.Load();
        using var model = Flux2TestInputs.LoadModel(gpu);
        CudaGraphChecks.StepsReplayAsTheyRunEagerly((executor, step) => (f with { Timestep = [0.9f - 0.3f * step] }).Predict(gpu, model, executor, step));
    }
}

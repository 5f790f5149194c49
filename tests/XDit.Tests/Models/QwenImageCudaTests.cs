using XDit.Engine.Execution;
using XDit.Runtime;
using XDit.Tests.Bench;
using XDit.Tests.Cuda;

namespace XDit.Tests.Models;

/// <summary>
/// Qwen-Image on the CUDA backend (the emulator in the emulator pass, the GPU on a GPU machine): its launch ledger in
/// bf16 as `xdit bench --what forward --ledger --forward-model qwenimage` counts it (the launches per block of the toy
/// config, what the real size's blocks launch, and the real size's elementwise traffic), and its forward replayed
/// in a CUDA graph.
/// </summary>
[NeedsCudaDevice]
[Collection("cuda")]
public class QwenImageCudaTests
{
    [Fact]
    public void BlocksLaunchWhatFluxsDoubleBlockDoes() =>
        // per block: img_mod and txt_mod in one GEMM, a LayerNormModulate per stream, per stream the q/k GEMM that norms
        // and rotates each head in its epilogue and the v GEMM, into the joint rows, one attention, per stream the
        // output projection and the MLP's second GEMM with their gated residuals in the epilogues (gates prepared in
        // one gate_alpha_bias_n), the second LayerNormModulate and the GELU-tanh GEMM: 17, as Flux's double block
        Assert.Equal(["embed: 8", "block 0: 17", "block 1: 17", "finish: 4"],
            NoExecLedger.LaunchesPerBlock("qwenimage-tiny"));

    [Fact]
    public void ElementwiseTrafficOfTheRealSizeForwardStaysWithinItsBound()
    {
        // Qwen-Image at 1024 px (4096 tokens, 256 text tokens, one row): 6.48 GB, the block norms, each one read and
        // one write of the tokens; 13.17 GB when q and k had their RMSNorm + RoPE (6.7 GB) as passes of their own
        var report = NoExecLedger.Of("qwen-image");
        Assert.Equal(60 * 17 + 8 + 4, report.Total.Launches);
        Assert.True(report.ElementwiseBytes > 0, "no elementwise traffic counted");
        Assert.True(report.ElementwiseBytes <= 6.5e9, $"{report.ElementwiseBytes / 1e9:F3} GB elementwise > 6.5 GB");
    }

    [Fact]
    public void TheForwardReplaysInACudaGraph()
    {
        // the text key bias of a padded mask, the RoPE tables and the text stream the blocks rewrite are state the
        // graph's fixed buffers hold; qwenimage_shapes has a hole inside a mask
        var gpu = CudaTestDevice.Get(DType.F32);
        var f = QwenImageTestInputs.Load("qwenimage_shapes");
        using var model = f.LoadModel(gpu);
        CudaGraphChecks.StepsReplayAsTheyRunEagerly((executor, step) => f.Scaled(1f - 0.3f * step, 1f - 0.2f * step).Predict(gpu, model, executor, step));
    }
}

using XDit.Engine.Execution;
using XDit.Runtime;
using XDit.Tests.Bench;
using XDit.Tests.Cuda;

namespace XDit.Tests.Models;

/// <summary>Z-Image on the CUDA backend (the emulator in the emulator pass, the GPU on a GPU machine): its launch ledger
/// in bf16 as `xdit bench --what forward --ledger --forward-model z-image-turbo` counts it, and its forward replayed in
/// a CUDA graph (the eager forward's output).</summary>
[NeedsCudaDevice]
[Collection("cuda")]
public class ZImageCudaTests
{
    [Fact]
    public void TheRealSizeForwardLaunchesAndMovesWhatItsBlocksAsk()
    {
        // Z-Image-Turbo at 1024 px (4096 tokens, no x_pad rows; 512 caption tokens, one row). A main layer: per stream
        // (image, caption) one RMSNorm-modulate pass, the q/k GEMM that norms and rotates each head in its epilogue and
        // the v GEMM into the joint rows, one attention, the output GEMM and one pass of its RMSNorm and gated residual,
        // one RMSNorm-modulate pass, w1 and w3 stacked in one GEMM, its SwiGLU, w2 and one pass of its RMSNorm and gated
        // residual: 21 (25 with each RMSNorm and gated residual as two passes, 27 with one QKV GEMM and q/k's RMSNorm +
        // RoPE as passes; 35 with w1, its SiLU, w3 and the product as launches of their own and each modulated norm an
        // RMSNorm and a modulation); a refiner block runs one stream alone (11)
        var report = NoExecLedger.Of("z-image-turbo");
        Assert.Equal(2 * 11 + 30 * 21 + 38 + 3, report.Total.Launches);
        // 34.18 GB with the modulated norms as two passes each, 29.68 with one, 25.00 with q and k normed and rotated
        // in their projection's epilogue, 20.47 with the norms after the projections in their residuals' pass
        Assert.True(report.ElementwiseBytes > 0, "no elementwise traffic counted");
        Assert.True(report.ElementwiseBytes <= 20.48e9, $"{report.ElementwiseBytes / 1e9:F3} GB elementwise > 20.48 GB");
    }

    [Fact]
    public void TheForwardReplaysInACudaGraph()
    {
        // zimage_batch: the caption key bias, a rotary table per batch row for the joint rows, the modulations of every
        // block in the conditioning, and joint rows the blocks rewrite are state the graph's fixed buffers hold
        var gpu = CudaTestDevice.Get(DType.F32);
        var f = ZImageTestInputs.Load("zimage_batch");
        using var model = f.LoadModel(gpu);
        CudaGraphChecks.StepsReplayAsTheyRunEagerly((executor, step) =>
            (f with { X = f.X.Select(v => v * (1f - 0.3f * step)).ToArray(), Timestep = f.Timestep.Select(v => v * (1f - 0.2f * step)).ToArray() })
                .Predict(gpu, model, executor, step));
    }
}

using XDit.Tests.Bench;
using XDit.Tests.Cuda;

namespace XDit.Tests.Models;

/// <summary>
/// HunyuanVideo's launches per block and elementwise traffic on the CUDA backend in bf16 (the emulator's no-exec
/// device in the emulator pass), as `xdit bench --what forward --ledger --forward-model hunyuanvideo[-tiny]` reports
/// them. Lowering them updates the pins; raising them needs a reason.
/// </summary>
[NeedsCudaDevice]
[Collection("cuda")]
public class HunyuanVideoLedgerTests
{
    [Fact]
    public void DualAndSingleBlocks() =>
        // dual: norm1 and norm1_context from one GEMM; per stream a LayerNormModulate, the q/k GEMM that norms each head
        // in its epilogue (and rotates it, on the video rows) and the v GEMM, into the joint rows; one attention (cuDNN: no key bias when the
        // rows keep as many text tokens); per stream to_out with its gated residual in the epilogue, LayerNormModulate
        // and the feed-forward's two GEMMs (the gated residual in the second's), the four gates prepared in one launch.
        // single: as Flux's (proj_mlp per stream, proj_out's two column blocks accumulating into the residual)
        Assert.Equal(["embed: 38", "block 0: 17", "block 1: 17", "block 2: 15", "block 3: 15", "finish: 4"],
            NoExecLedger.LaunchesPerBlock("hunyuanvideo-tiny"));

    [Fact]
    public void ElementwiseTrafficOfTheRealSizeForwardStaysWithinItsBound()
    {
        // 33 frames at 544×960 (18360 video tokens), 256 text tokens, 1 row: 18.55 GB, of which the LayerNormModulates
        // are 18.5 GB (each one read and one write of the tokens); 47.13 GB when q and k had their RMSNorm + RoPE in
        // place as passes of their own (28.6 GB), not in their projection's epilogue
        var report = NoExecLedger.Of("hunyuanvideo");
        Assert.True(report.ElementwiseBytes > 0, "hunyuanvideo: no elementwise traffic counted");
        Assert.True(report.ElementwiseBytes <= 18.6e9, $"hunyuanvideo: {report.ElementwiseBytes / 1e9:F3} GB elementwise > 18.6 GB");
    }
}

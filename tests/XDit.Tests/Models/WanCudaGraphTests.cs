using XDit.Engine.Execution;
using XDit.Runtime;
using XDit.Tests.Cuda;

namespace XDit.Tests.Models;

/// <summary>Wan on the CUDA backend (the GPU, or the emulator pass): its blocks and Finish replay from a CUDA graph.</summary>
[NeedsCudaDevice]
[Collection("cuda")]
public class WanCudaGraphTests
{
    [Fact]
    public void WansVideoLayoutReplaysInTheGraph()
    {
        // latents [B, C, F, H, W]; the blocks read the text, the timestep projection, temb (Finish) and the RoPE tables
        // from the state, and Unpatchify, inside the graph, reads its frame count (GridT)
        var gpu = CudaTestDevice.Get(DType.F32);
        var f = XDit.Tests.Parallel.FixtureInputs.Load("wan");
        using var model = f.LoadModel(gpu);
        using var executor = new CudaGraphExecutor();
        for (int step = 0; step < 3; step++)
        {
            var inputs = f.Scaled(1f - 0.3f * step, 1f - 0.2f * step);
            var want = inputs.Predict(gpu, model, SingleRankExecutor.Instance, step);
            var got = inputs.Predict(gpu, model, executor, step);
            Assert.Equal(want, got);
        }
        Assert.Null(executor.FallbackReason);
        // step 0 warms up, step 1 records and replays, step 2 replays
        Assert.Equal((1, 2), (executor.Captures, executor.Replays));
    }
}

using XDit.Engine.Execution;
using XDit.Runtime;
using XDit.Tests.Cuda;

namespace XDit.Tests.Models;

/// <summary>Z-Image on the CUDA backend (the emulator in the emulator pass, the GPU on a GPU machine): its forward
/// replayed in a CUDA graph gives the eager forward's output.</summary>
[NeedsCudaDevice]
[Collection("cuda")]
public class ZImageCudaTests
{
    [Fact]
    public void TheForwardReplaysInACudaGraph()
    {
        // zimage_batch: the caption key bias, a rotary table per batch row for the joint rows, the modulations of every
        // block in the conditioning, and joint rows the blocks rewrite are state the graph's fixed buffers hold
        var gpu = CudaTestDevice.Get(DType.F32);
        var f = ZImageTestInputs.Load("zimage_batch");
        using var model = f.LoadModel(gpu);
        using var executor = new CudaGraphExecutor();
        for (int step = 0; step < 3; step++)
        {
            var inputs = f with { X = f.X.Select(v => v * (1f - 0.3f * step)).ToArray(), Timestep = f.Timestep.Select(v => v * (1f - 0.2f * step)).ToArray() };
            Assert.Equal(inputs.Predict(gpu, model, SingleRankExecutor.Instance, step), inputs.Predict(gpu, model, executor, step));
        }
        Assert.Null(executor.FallbackReason);
        Assert.Equal((1, 2), (executor.Captures, executor.Replays));
    }
}

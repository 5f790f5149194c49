using XDit.Engine.Execution;
using XDit.Engine.Pipelines;
using XDit.Runtime;

namespace XDit.Tests.Pipelines;

/// <summary>Flux Kontext on emulated CUDA (float32) with `--use-cuda-graph`: each step joins the reference tokens to
/// the noisy ones in a fresh tensor before the eager embedding, and the graph of the blocks, recorded for the joined
/// token count, replays them; the picture equals the eager loop's, as for the other pipelines.</summary>
[XDit.Tests.Cuda.NeedsCudaDevice]
[Collection("cuda")]
public class FluxKontextEmulatedCudaTests
{
    [Fact]
    public void WithCudaGraphsItDrawsWhatTheEagerLoopDraws()
    {
        XDit.Tests.Cuda.Emulation.EmulatedCuda.Require();
        const int steps = 2;
        // the folder's own VAE encodes the image on the device (no stand-in)
        using var pipeline = (FluxKontextPipeline)PipelineLoader.Load(SD3FluxTestFolders.FluxKontext(), new PipelineOptions { Device = "cuda", DType = DType.F32 });
        Assert.IsType<XDit.Kernels.Cuda.CudaOps>(pipeline.Ops);
        // 8 text tokens: the emulator runs every kernel on the CPU, and 512 of them take it half a minute a generation
        var request = new GenerationRequest
        {
            Prompts = ["red cat"], NumInferenceSteps = steps, Seed = 5, MaxSequenceLength = 8, Height = 32, Width = 32, MaxArea = 32 * 32, AutoResize = false,
            Image = FluxKontextPipelineTests.TestImage(),
        };
        var eager = ResultPixels.Pixels(pipeline.Generate(request));
        var loop = new CudaGraphLoop();
        pipeline.Loop = loop;
        var graphed = ResultPixels.Pixels(pipeline.Generate(request));
        Assert.Null(loop.FallbackReason);
        // step 0 runs eagerly in the graph's pool, step 1 records and replays (2 steps: the emulator runs every kernel on the CPU)
        Assert.Equal((1, steps - 1), (loop.Captures, loop.Replays));
        Assert.Equal(eager, graphed);   // the same kernels in the same order
        // and the reference image is part of what the graph replays: without it the picture differs
        pipeline.Loop = new CudaGraphLoop();
        var noImage = ResultPixels.Pixels(pipeline.Generate(request with { Image = null }));
        Assert.True(Numerics.RelativeError(noImage, graphed) > 1e-3, "the reference image made no difference under CUDA graphs");
    }
}

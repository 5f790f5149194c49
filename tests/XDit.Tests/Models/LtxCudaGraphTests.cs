using XDit.Engine.Execution;
using XDit.Engine.Verify;
using XDit.Kernels;
using XDit.Models;
using XDit.Models.Ltx;
using XDit.Runtime;
using XDit.Tests.Cuda;

namespace XDit.Tests.Models;

/// <summary>LTX-Video under <see cref="CudaGraphExecutor"/>: the packed tokens, the caption's key bias (rows keeping
/// different counts) and the all-heads RoPE tables (state slots the graph copies) replay in the graph, each step equal
/// to the eager forward of that step's inputs.</summary>
[NeedsCudaDevice]
[Collection("cuda")]
public class LtxCudaGraphTests
{
    [Fact]
    public void ThePackedTokensTheKeyBiasAndTheRopeReplayInTheGraph()
    {
        var gpu = CudaTestDevice.Get(DType.F32);
        using var fx = new FixtureCase(TestPaths.Fixture("ltx"));
        using var model = LtxTransformer.Load(fx.Dir, gpu);
        using var up = new FixtureUploads(fx, gpu);
        CudaGraphChecks.StepsReplayAsTheyRunEagerly((executor, step) =>
        {
            using var x = gpu.Scale(up["hidden_states"], 1f - 0.3f * step);
            var inputs = new DitInputs
            {
                HiddenStates = x, EncoderHiddenStates = up["encoder_hidden_states"], EncoderAttentionMask = up["encoder_attention_mask"],
                Timestep = fx.InputFloats("timestep").Select(t => t * (1f - 0.2f * step)).ToArray(),
                ImgShape = (3, 4, 6), RopeInterpolationScale = LtxFixtureRunner.RopeInterpolationScale(fx),
            };
            using var y = executor.Predict(gpu, model, inputs, step);
            return gpu.ToHost(y);
        });
    }
}

using XDit.Engine.Execution;
using XDit.Engine.Verify;
using XDit.Kernels;
using XDit.Models;
using XDit.Models.Mochi;
using XDit.Runtime;
using XDit.Tests.Cuda;

namespace XDit.Tests.Models;

/// <summary>Mochi under <see cref="CudaGraphExecutor"/>: the per-head RoPE rows, the text stream at its own width cut
/// to its kept tokens, the joint key bias of rows that keep different counts and the tanh gates replay in the graph,
/// each step equal to the eager forward of that step's inputs.</summary>
[NeedsCudaDevice]
[Collection("cuda")]
public class MochiCudaGraphTests
{
    [Fact]
    public void TheBlocksReplayInTheGraph()
    {
        var gpu = CudaTestDevice.Get(DType.F32);
        using var fx = new FixtureCase(TestPaths.Fixture("mochi_wide"));
        using var model = MochiTransformer.Load(fx.Dir, gpu);
        using var up = new FixtureUploads(fx, gpu);
        CudaGraphChecks.StepsReplayAsTheyRunEagerly((executor, step) =>
        {
            using var x = gpu.Scale(up["hidden_states"], 1f - 0.3f * step);
            var inputs = new DitInputs
            {
                HiddenStates = x, EncoderHiddenStates = up["encoder_hidden_states"], EncoderAttentionMask = up["encoder_attention_mask"],
                Timestep = fx.InputFloats("timestep").Select(t => t * (1f - 0.2f * step)).ToArray(),
            };
            using var y = executor.Predict(gpu, model, inputs, step);
            return gpu.ToHost(y);
        });
    }
}

using XDit.Engine.Execution;
using XDit.Engine.Verify;
using XDit.Kernels;
using XDit.Models;
using XDit.Models.HunyuanVideo;
using XDit.Runtime;
using XDit.Tests.Cuda;

namespace XDit.Tests.Models;

/// <summary>HunyuanVideo under <see cref="CudaGraphExecutor"/>: the text stream cut to its kept tokens, the joint key
/// bias of rows that keep different counts (a state slot the graph copies) and the RoPE tables replay in the graph,
/// each step equal to the eager forward of that step's inputs.</summary>
[NeedsCudaDevice]
[Collection("cuda")]
public class HunyuanVideoCudaGraphTests
{
    [Fact]
    public void TheVideoLayoutAndTheTextKeyBiasReplayInTheGraph()
    {
        var gpu = CudaTestDevice.Get(DType.F32);
        using var fx = new FixtureCase(TestPaths.Fixture("hunyuanvideo"));
        using var model = HunyuanVideoTransformer.Load(fx.Dir, gpu);
        using var up = new FixtureUploads(fx, gpu);
        CudaGraphChecks.StepsReplayAsTheyRunEagerly((executor, step) =>
        {
            using var x = gpu.Scale(up["hidden_states"], 1f - 0.3f * step);
            var inputs = new DitInputs
            {
                HiddenStates = x, EncoderHiddenStates = up["encoder_hidden_states"], EncoderAttentionMask = up["encoder_attention_mask"],
                PooledProjections = up["pooled_projections"], Guidance = fx.InputFloats("guidance"),
                Timestep = fx.InputFloats("timestep").Select(t => t * (1f - 0.2f * step)).ToArray(),
            };
            using var y = executor.Predict(gpu, model, inputs, step);
            return gpu.ToHost(y);
        });
    }
}

using XDit.Engine.Execution;
using XDit.Kernels;
using XDit.Models;
using XDit.Runtime;

namespace XDit.Tests.Pipelines;

/// <summary>The single-rank executor that also records what the pipeline hands the transformer each step.</summary>
sealed class SD3FluxStepRecorder : IDenoiseExecutor
{
    public sealed record Step(int Index, int[] Hidden, int[] Context, int[]? Pooled, float[] Timestep, float[]? Guidance, float[]? ImgIds, float[]? TxtIds, float[] HiddenValues);

    public List<Step> Steps { get; } = new();

    public Tensor Predict(IOps ops, DiffusionTransformer model, DitInputs inputs, int step)
    {
        Steps.Add(new Step(step, inputs.HiddenStates.Dims, inputs.EncoderHiddenStates.Dims, inputs.PooledProjections?.Dims,
            (float[])inputs.Timestep.Clone(), (float[]?)inputs.Guidance?.Clone(),
            inputs.ImgIds is { } i ? ops.ToHost(i) : null, inputs.TxtIds is { } t ? ops.ToHost(t) : null, ops.ToHost(inputs.HiddenStates)));
        return model.Forward(ops, inputs);
    }
}

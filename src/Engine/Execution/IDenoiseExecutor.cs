using XDit.Kernels;
using XDit.Models;
using XDit.Runtime;

namespace XDit.Engine.Execution;

/// <summary>
/// Evaluates the transformer for one denoising step on the whole batch the pipeline built ([negative; positive]
/// rows under guidance) and returns the model output for all rows, on every rank. The single-rank executor just
/// calls Forward; the parallel ones split rows, tokens or blocks across ranks behind the same call.
/// </summary>
public interface IDenoiseExecutor
{
    Tensor Predict(IOps ops, DiffusionTransformer model, DitInputs inputs, int step);
}

/// <summary>One rank, the whole model: the diffusers forward.</summary>
public sealed class SingleRankExecutor : IDenoiseExecutor
{
    public static readonly SingleRankExecutor Instance = new();
    public Tensor Predict(IOps ops, DiffusionTransformer model, DitInputs inputs, int step) => model.Forward(ops, inputs);
}

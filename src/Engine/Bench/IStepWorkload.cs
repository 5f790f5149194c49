using XDit.Kernels;
using XDit.Models;
using XDit.Runtime;

namespace XDit.Engine.Bench;

/// <summary>What one benchmarked denoising step runs: a transformer (loaded once per rank) and its inputs.</summary>
public interface IStepWorkload
{
    string Description { get; }
    int Heads { get; }
    int ImageTokens { get; }
    int Rows { get; }
    int TextTokens { get; }
    DiffusionTransformer Load(IOps ops);
    /// <summary>The step's inputs on <paramref name="ops"/>; the tensors made go into <paramref name="owned"/>.</summary>
    DitInputs Inputs(IOps ops, List<Tensor> owned);
}

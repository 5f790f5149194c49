using XDit.Engine.Execution;
using XDit.Engine.Pipelines;
using XDit.Kernels;

namespace XDit.Engine.Serving;

/// <summary>
/// Serves a parallel plan on in-process ranks. ParallelGeneration loads each rank's pipeline per run, so the plan
/// (mesh, degrees) is checked once at start and the weights are read again for every request: the price of reusing
/// the tested parallel path unchanged rather than keeping N rank threads alive between requests.
/// </summary>
public sealed class ParallelPlanGenerator : IImageGenerator
{
    readonly string _modelDir;
    readonly ParallelConfig _plan;
    readonly Func<int, IOps>? _makeOps;
    readonly GenerationLimits? _limits;

    public ParallelPlanGenerator(string modelDir, ParallelConfig plan, Func<int, IOps>? makeOps, int sizeMultiple, GenerationLimits? limits = null)
    {
        _limits = limits;
        var mesh = plan.Mesh(); // refuses degrees whose product is not the world size, before serving anything
        _modelDir = modelDir;
        _plan = plan;
        _makeOps = makeOps;
        SizeMultiple = sizeMultiple;
        Model = $"{modelDir} (mesh {mesh}, {plan.WorldSize} in-process ranks)";
    }

    public string Model { get; }
    public int SizeMultiple { get; }
    public GenerationResult Generate(GenerationRequest request, CancellationToken cancel) =>
        ParallelGeneration.Run(_modelDir, _plan, request, _makeOps, limits: _limits, cancel: cancel).Result;
    public void Dispose() { }
}

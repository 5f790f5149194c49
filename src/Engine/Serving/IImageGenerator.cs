using XDit.Engine.Pipelines;

namespace XDit.Engine.Serving;

/// <summary>
/// What the serving queue runs: one generation at a time, on the queue's single worker thread (pipelines are not
/// thread-safe). Tests inject slow or failing fakes through it; the service wraps a loaded pipeline or a parallel plan.
/// </summary>
public interface IImageGenerator : IDisposable
{
    /// <summary>What /health reports as the model (its folder, and the plan when parallel).</summary>
    string Model { get; }

    /// <summary>Height and width must be multiples of this; checked before queueing so a bad size is a 400, not a 500.</summary>
    int SizeMultiple { get; }

    /// <summary>Runs one request; <paramref name="cancel"/> (the client gone, the service stopping, the deadline) ends
    /// it between steps with OperationCanceledException.</summary>
    GenerationResult Generate(GenerationRequest request, CancellationToken cancel);
}

using XDit.Engine.Pipelines;

namespace XDit.Engine.Serving;

/// <summary>A finished request: the pipeline's result, how long it waited for its turn and how long it ran.</summary>
public sealed record ServedGeneration(GenerationResult Result, TimeSpan QueueWait, TimeSpan RunTime);

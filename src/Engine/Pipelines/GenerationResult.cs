namespace XDit.Engine.Pipelines;

/// <summary>What a generation returns: the images (one per prompt × images-per-prompt), the timing of each stage,
/// and the seed and sizes actually used.</summary>
public sealed record GenerationResult(IReadOnlyList<GeneratedImage> Images, StageTimings Timings, int Steps, int Height, int Width, ulong Seed);

namespace XDit.Engine.Pipelines;

/// <summary>What a video generation returns: the videos (one per prompt), the timing of each stage, and the seed,
/// steps, sizes and frame count actually used (frames per video, after the VAE).</summary>
public sealed record VideoGenerationResult(IReadOnlyList<GeneratedVideo> Videos, StageTimings Timings, int Steps, int Height, int Width, int NumFrames, ulong Seed);

using XDit.Engine.Execution;
using XDit.Engine.Pipelines;
using XDit.Models;

namespace XDit.Engine.Analysis;

/// <summary>What to analyse: one generation per prompt and per step count, all from the same seed (or the same
/// given latents), as DiTCacheAnalysis runs its caption file.</summary>
public sealed record AnalysisRequest
{
    public required IReadOnlyList<string> Prompts { get; init; }
    /// <summary>Step counts of the sweep (null: the model's default).</summary>
    public IReadOnlyList<int?> StepCounts { get; init; } = [null];
    public ulong Seed { get; init; } = 42;
    public float? GuidanceScale { get; init; }
    public int? Height { get; init; }
    public int? Width { get; init; }
    public string NegativePrompt { get; init; } = "";
    /// <summary>Initial latents of one image [1, C, h, w] (scaled), used for every prompt instead of seeded noise.</summary>
    public float[]? Latents { get; init; }
    public RecordingOptions Recording { get; init; } = new();
    /// <summary>The scheduler the pipeline was loaded with when not the model's own (informational).</summary>
    public string? Scheduler { get; init; }
}

/// <summary>The series of one generation (one prompt at one step count).</summary>
public sealed record RecordedRun(int PromptIndex, string Prompt, int Steps, IReadOnlyList<ChangeSeries> Series,
    IReadOnlyList<(string Layer, AttentionKind Kind)> Layers);

/// <summary>All generations of an analysis.</summary>
public sealed record RedundancyStudy
{
    public required string Model { get; init; }
    public required AnalysisRequest Request { get; init; }
    public required IReadOnlyList<RecordedRun> Runs { get; init; }
    /// <summary>Whether A (and ea) were measured after the output projection.</summary>
    public required bool ProjectedOutputs { get; init; }
    public IReadOnlyList<int> StepCounts => Runs.Select(r => r.Steps).Distinct().ToList();
}

/// <summary>Runs the generations of an <see cref="AnalysisRequest"/> with a <see cref="RedundancyRecorder"/> as the
/// pipeline's executor.</summary>
public static class RedundancyAnalysis
{
    /// <param name="projections">Output projections for A after to_out (null: A before it).</param>
    /// <param name="onRun">Called after each generation (progress).</param>
    public static RedundancyStudy Run(TextToImagePipeline pipeline, AnalysisRequest request, string modelName,
        OutputProjections? projections = null, Action<RecordedRun, GenerationResult>? onRun = null)
    {
        ArgumentNullException.ThrowIfNull(pipeline);
        if (request.Prompts.Count == 0) throw new ArgumentException("the redundancy analysis needs at least one prompt");
        foreach (var s in request.StepCounts)
            if (s is < 2) throw new ArgumentException($"the redundancy analysis compares consecutive steps and needs at least 2, got {s}");
        var runs = new List<RecordedRun>();
        var loop = pipeline.Loop;
        try
        {
            foreach (var steps in request.StepCounts)
                for (int p = 0; p < request.Prompts.Count; p++)
                {
                    var recorder = new RedundancyRecorder(request.Recording, projections);
                    pipeline.Loop = new StandardDenoiseLoop(recorder);
                    var result = pipeline.Generate(new GenerationRequest
                    {
                        Prompts = [request.Prompts[p]],
                        NegativePrompt = request.NegativePrompt,
                        NumInferenceSteps = steps,
                        GuidanceScale = request.GuidanceScale,
                        Height = request.Height,
                        Width = request.Width,
                        Seed = request.Seed,
                        Latents = request.Latents,
                    });
                    if (result.Steps < 2) throw new ArgumentException($"the redundancy analysis compares consecutive steps and needs at least 2, got {result.Steps}");
                    var run = new RecordedRun(p, request.Prompts[p], result.Steps, recorder.Series, recorder.AttentionLayers);
                    runs.Add(run);
                    onRun?.Invoke(run, result);
                }
        }
        finally { pipeline.Loop = loop; }
        return new RedundancyStudy { Model = modelName, Request = request, Runs = runs, ProjectedOutputs = projections is not null };
    }
}

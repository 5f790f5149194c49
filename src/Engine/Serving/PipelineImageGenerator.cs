using XDit.Engine.Pipelines;

namespace XDit.Engine.Serving;

/// <summary>A pipeline loaded once and reused by every request (the single-rank service).</summary>
public sealed class PipelineImageGenerator : IImageGenerator
{
    readonly TextToImagePipeline _pipeline;

    /// <summary>Takes ownership of the pipeline: disposing the generator disposes it.</summary>
    /// <param name="limits">the service's bounds, which the pipeline enforces too (they may be above the library's defaults)</param>
    public PipelineImageGenerator(TextToImagePipeline pipeline, string model, GenerationLimits? limits = null)
    {
        _pipeline = pipeline;
        Model = model;
        if (limits is not null) pipeline.Limits = limits;
    }

    public string Model { get; }
    public int SizeMultiple => _pipeline.SizeMultiple;
    public GenerationResult Generate(GenerationRequest request, CancellationToken cancel) => _pipeline.Generate(request, cancel);
    public void Dispose() => _pipeline.Dispose();
}

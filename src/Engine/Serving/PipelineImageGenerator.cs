using XDit.Engine.Pipelines;

namespace XDit.Engine.Serving;

/// <summary>A pipeline loaded once and reused by every request (the single-rank service).</summary>
public sealed class PipelineImageGenerator : IImageGenerator
{
    readonly TextToImagePipeline _pipeline;

    /// <summary>Takes ownership of the pipeline: disposing the generator disposes it.</summary>
    public PipelineImageGenerator(TextToImagePipeline pipeline, string model)
    {
        _pipeline = pipeline;
        Model = model;
    }

    public string Model { get; }
    public int SizeMultiple => _pipeline.SizeMultiple;
    public GenerationResult Generate(GenerationRequest request) => _pipeline.Generate(request);
    public void Dispose() => _pipeline.Dispose();
}

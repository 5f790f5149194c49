namespace XDit.Engine.Pipelines;

/// <summary>
/// A text-to-video pipeline (CogVideoX, Latte, Wan): loaded, checked, estimated and reported as the image pipelines are, but its
/// call is <see cref="GenerateVideo"/>, which returns <see cref="GeneratedVideo"/>s; <see cref="TextToImagePipeline.Generate"/>
/// refuses. It takes the request's <see cref="GenerationRequest.NumFrames"/> and
/// <see cref="GenerationRequest.UseDynamicCfg"/>, which image pipelines refuse.
/// </summary>
public abstract class TextToVideoPipeline(ModelIndex index, XDit.Kernels.IOps ops) : TextToImagePipeline(index, ops)
{
    /// <summary>Frames of a video when the request gives none (diffusers: the transformer's sample_frames).</summary>
    public abstract int DefaultNumFrames { get; }

    protected override bool MakesVideo => true;

    /// <summary>Runs one request (see <see cref="TextToImagePipeline.Generate"/> for the checks, progress and
    /// cancellation, which are the same).</summary>
    public VideoGenerationResult GenerateVideo(GenerationRequest request, CancellationToken cancellation = default)
        => RunChecked(request, cancellation, progress => RunVideo(request, progress));

    protected abstract VideoGenerationResult RunVideo(GenerationRequest request, IProgress<PipelineProgress>? progress);

    /// <summary>A video pipeline has no image call.</summary>
    protected sealed override GenerationResult Run(GenerationRequest request, IProgress<PipelineProgress>? progress)
        => throw new NotSupportedException($"{GetType().Name} makes videos: call GenerateVideo (xdit generate writes them as .mp4, .gif or a folder of PNG frames)");
}

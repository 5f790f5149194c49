namespace XDit.Engine.Pipelines;

/// <summary>
/// The most work one generation may ask for. Every array a run allocates is proportional to these numbers (the
/// sampler's step tables, the latents, the decoded pixels), so they are checked before any work: without them a
/// request for 10⁹ steps or a 100000-pixel side exhausts memory or overflows an index. The library's defaults are
/// generous bounds that still keep every size inside a 32-bit index; a service sets tighter ones (`xdit serve
/// --max-steps --max-pixels --max-images`).
/// </summary>
public sealed record GenerationLimits
{
    /// <summary>Denoising steps per request (diffusers' schedulers are trained on 1000 timesteps).</summary>
    public int MaxSteps { get; init; } = 1000;
    /// <summary>Pixels of one image, height × width (4096² by default).</summary>
    public long MaxPixels { get; init; } = 4096L * 4096;
    /// <summary>Images in one request: prompts × images per prompt.</summary>
    public int MaxImages { get; init; } = 64;
    /// <summary>Pixels of all the images of one request together: the decoded batch (3 floats a pixel) stays far
    /// below 2³¹ values.</summary>
    public long MaxTotalPixels { get; init; } = 4L * 4096 * 4096;
    /// <summary>The most memory one request's estimate (<see cref="WorkEstimate"/>: weights and activations) may
    /// reach; null: the backend's memory (the host's, or the device's total).</summary>
    public long? MaxMemoryBytes { get; init; }
    /// <summary>The largest |guidance scale|: past it u + g·(c − u) overflows float32 to infinity on ordinary outputs.</summary>
    public float MaxGuidanceScale { get; init; } = 1000f;

    /// <summary>The library's bounds (what a pipeline uses unless told otherwise).</summary>
    public static GenerationLimits Default { get; } = new();

    /// <summary>Refuses limits that are not positive, or so large that they no longer protect an int index.</summary>
    public void Validate()
    {
        if (MaxSteps < 1) throw new ArgumentException($"the step limit must be at least 1, got {MaxSteps}");
        if (MaxPixels < 1 || MaxPixels > int.MaxValue / 4) throw new ArgumentException($"the pixel limit must be between 1 and {int.MaxValue / 4}, got {MaxPixels}");
        if (MaxImages < 1) throw new ArgumentException($"the image limit must be at least 1, got {MaxImages}");
        if (MaxTotalPixels < 1 || MaxTotalPixels > int.MaxValue / 4) throw new ArgumentException($"the total pixel limit must be between 1 and {int.MaxValue / 4}, got {MaxTotalPixels}");
        if (MaxMemoryBytes is < 1) throw new ArgumentException($"the memory limit must be positive, got {MaxMemoryBytes}");
        if (!(MaxGuidanceScale > 0) || !float.IsFinite(MaxGuidanceScale)) throw new ArgumentException($"the guidance limit must be a positive finite number, got {MaxGuidanceScale}");
    }

    /// <summary>Checks the numbers a request gives (unset ones take the model's defaults, checked by <see cref="CheckSize"/>).</summary>
    public void Check(GenerationRequest r)
    {
        if (r.NumInferenceSteps is { } steps && steps > MaxSteps)
            throw new RequestLimitException("num_inference_steps", $"num_inference_steps {steps} is more than the limit {MaxSteps}");
        if (r.GuidanceScale is { } g && float.IsFinite(g) && Math.Abs(g) > MaxGuidanceScale)
            throw new RequestLimitException("guidance_scale", $"guidance_scale {g} is beyond the limit ±{MaxGuidanceScale}");
        long images = (long)r.Prompts.Count * r.NumImagesPerPrompt;
        if (images > MaxImages)
            throw new RequestLimitException("num_images_per_prompt", $"{r.Prompts.Count} prompt(s) × {r.NumImagesPerPrompt} image(s) per prompt = {images} images, more than the limit {MaxImages}");
        if (r.Height is { } h && r.Width is { } w) CheckSize(h, w, images);
        else if (r.Height is { } h1 && h1 > MaxPixels) throw new RequestLimitException("height", $"height {h1} is more than the pixel limit {MaxPixels} allows");
        else if (r.Width is { } w1 && w1 > MaxPixels) throw new RequestLimitException("width", $"width {w1} is more than the pixel limit {MaxPixels} allows");
    }

    /// <summary>Checks the size a run will draw (the request's, or the model's default) for <paramref name="images"/> images.</summary>
    public void CheckSize(int height, int width, long images)
    {
        long pixels = (long)height * width;
        if (pixels > MaxPixels)
            throw new RequestLimitException(height >= width ? "height" : "width", $"{height}x{width} is {pixels} pixels, more than the limit {MaxPixels} per image");
        if (pixels * images > MaxTotalPixels)
            throw new RequestLimitException("num_images_per_prompt", $"{images} images of {height}x{width} are {pixels * images} pixels, more than the limit {MaxTotalPixels} per request");
    }
}

namespace XDit.Engine.Pipelines;

/// <summary>
/// A text-to-video pipeline (CogVideoX, Latte, Wan, LTX-Video): loaded, checked, estimated and reported as the image pipelines are, but its
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

    /// <summary>The request's latents, checked against <paramref name="shape"/> ([B, ...], one row per video; the
    /// refusal names the axes as <paramref name="layout"/> says), or seeded N(0, 1) noise of that shape (the stream
    /// continues at the request's first row for data-parallel ranks); times the scheduler's init_noise_sigma.</summary>
    protected static float[] StartVideoLatents(GenerationRequest r, int[] shape, string layout, float initNoiseSigma)
    {
        int n = 1;
        foreach (int d in shape) n = checked(n * d);
        int row = n / shape[0];
        float[] x;
        if (r.Latents is { } given)
        {
            string expected = $"[{string.Join(", ", shape)}] ({layout})";
            if (given.Length != n) throw new ArgumentException($"the given latents hold {given.Length} values, expected {expected} = {n}");
            if (r.LatentsShape is { } s && !s.SequenceEqual(shape))
                throw new ArgumentException($"the given latents have shape [{string.Join(", ", s)}], expected {expected}");
            x = (float[])given.Clone();
        }
        else x = Samplers.NoiseGenerator.Normal(n, r.Seed, (ulong)r.FirstRow * (ulong)row);
        if (initNoiseSigma != 1f) for (int i = 0; i < n; i++) x[i] *= initNoiseSigma;
        return x;
    }

    protected abstract VideoGenerationResult RunVideo(GenerationRequest request, IProgress<PipelineProgress>? progress);

    /// <summary>A video pipeline has no image call.</summary>
    protected sealed override GenerationResult Run(GenerationRequest request, IProgress<PipelineProgress>? progress)
        => throw new NotSupportedException($"{GetType().Name} makes videos: call GenerateVideo (xdit generate writes them as .mp4, .gif or a folder of PNG frames)");
}

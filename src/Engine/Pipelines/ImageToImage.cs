using XDit.Engine.Samplers;
using XDit.Kernels;
using XDit.Models.Vae;
using XDit.Runtime;

namespace XDit.Engine.Pipelines;

/// <summary>
/// The image-to-image arithmetic of diffusers' StableDiffusion3Img2ImgPipeline and FluxImg2ImgPipeline, which SD3 and
/// Flux run when given an <see cref="GenerationRequest.Image"/>: the picture is resized to the generated size (Pillow's
/// Lanczos) and mapped to [−1, 1] (VaeImageProcessor.preprocess), encoded to a sample of the VAE's latent distribution
/// (retrieve_latents with a generator: sample_mode "sample", mean + exp(logvar / 2)·ε), shifted and scaled
/// ((z − shift_factor)·scaling_factor); the schedule keeps its last min(n·strength, n) steps (get_timesteps), and the
/// start latents are the flow-match scheduler's scale_noise: σ·noise + (1 − σ)·image latents at the first kept σ.
/// StableDiffusionXLImg2ImgPipeline (SDXL with an image) differs where diffusers does: the picture keeps its own size
/// (floored to the VAE's factor), the kept steps are int(n·strength) (<see cref="SkippedStepsSdxl"/>), the latents are
/// scaling_factor·z, and the Euler scheduler's add_noise starts from image + σ·noise (<see cref="AddNoise"/>).
/// <para>The two normal draws follow diffusers' order on one generator: the request's seed stream (the one text-to-image
/// draws its noise from) gives ε first, one image's worth (the image is encoded once for every row, as diffusers
/// encodes its single image), then each row's noise after it, a data-parallel rank's rows at their place in the
/// whole batch, so that any split equals one rank.</para>
/// </summary>
public static class ImageToImage
{
    /// <summary>diffusers' default strength for SD3's and Flux's image-to-image.</summary>
    public const double DefaultStrength = 0.6;
    /// <summary>StableDiffusionXLImg2ImgPipeline's default strength.</summary>
    public const double SdxlDefaultStrength = 0.3;

    /// <summary>t_start of diffusers' get_timesteps: the schedule's steps skipped, int(max(n − min(n·strength, n), 0)),
    /// in float64 as Python computes it. Throws when no step would be left (FluxImg2ImgPipeline refuses that; SD3's
    /// would fail on an empty schedule).</summary>
    public static int SkippedSteps(int steps, double strength)
    {
        double init = Math.Min(steps * strength, steps);
        int start = (int)Math.Max(steps - init, 0);
        if (steps - start < 1)
            throw new ArgumentException($"strength {strength} with {steps} steps leaves no denoising step (steps x strength must reach 1, as diffusers); raise --strength or --steps");
        return start;
    }

    /// <summary>t_start of StableDiffusionXLImg2ImgPipeline.get_timesteps (without denoising_start), which truncates
    /// the kept steps first: n − min(int(n·strength), n). Throws when no step would be left (diffusers would fail on
    /// an empty schedule).</summary>
    public static int SkippedStepsSdxl(int steps, double strength)
    {
        int kept = (int)Math.Min(Math.Truncate(steps * strength), steps);
        if (kept < 1)
            throw new ArgumentException($"strength {strength} with {steps} steps leaves no denoising step (SDXL keeps int(steps x strength) of them, as diffusers); raise --strength or --steps");
        return steps - kept;
    }

    /// <summary>The scaled latents [C·h·w] of <paramref name="image"/> resized to <paramref name="height"/>×<paramref name="width"/>:
    /// a sample of the VAE's latent distribution, ((mean + exp(logvar/2)·ε) − shift)·scale in float32 as diffusers
    /// computes it, ε being <see cref="GenerationRequest.ImageNoise"/> or the seeded draw. <paramref name="moments"/>
    /// is the encode (a pipeline's TextToImagePipeline.EncodeMoments: local, or patch-parallel under its switch).</summary>
    public static float[] EncodeSample(IOps ops, AutoencoderKL vae, InputImage image, int height, int width, GenerationRequest request,
        PipelineTrace? trace, Func<AutoencoderKL, Tensor, Tensor> moments)
    {
        int f = vae.Config.SpatialFactor, c = vae.Config.LatentChannels, h = height / f, w = width / f, n = c * h * w;
        var planes = image.ToVaeInput(height, width);
        trace?.Add("image", planes, 1, 3, height, width);
        float[] mean, logVar;
        using (var pixels = ops.FromHost(planes, 1, 3, height, width))
        using (var m = moments(vae, pixels))
        using (var dist = vae.Encoder.Distribution(ops, m))
        {
            if (!Shape.Equal(dist.Mean.ShapeSpan, [1, c, h, w]))
                throw new InvalidOperationException($"{vae.Config.Path}: the encoder returned {Shape.Format(dist.Mean.ShapeSpan)} for a {width}x{height} image, expected [1, {c}, {h}, {w}]");
            mean = ops.ToHost(dist.Mean);
            logVar = ops.ToHost(dist.LogVar);
        }
        float[] eps;
        if (request.ImageNoise is { } given)
        {
            if (given.Length != n) throw new ArgumentException($"the given image noise holds {given.Length} values, expected 1x{c}x{h}x{w} = {n} (one image's latent)");
            eps = given;
        }
        else eps = NoiseGenerator.Normal(n, request.Seed);
        float shift = (float)(vae.Config.ShiftFactor ?? 0), scale = (float)vae.Config.ScalingFactor;
        var latents = new float[n];
        for (int i = 0; i < n; i++)
        {
            float std = MathF.Exp(0.5f * logVar[i]);
            latents[i] = (mean[i] + std * eps[i] - shift) * scale;
        }
        FiniteCheck.Require(latents, "the input image's latents", "the VAE encoder's weights produced them");
        trace?.Add("image_latents", latents, 1, c, h, w);
        return latents;
    }

    /// <summary>The noise [B, C, h, w] mixed into the image latents: the given <see cref="GenerationRequest.Latents"/>,
    /// or the seed's stream after the one image's ε, at the request's first row.</summary>
    public static float[] Noise(GenerationRequest request, int batch, int c, int h, int w)
    {
        if (request.Latents is not null) return TextToImagePipeline.InitialLatents(request, batch, c, h, w, 1f);
        ulong row = (ulong)c * (ulong)h * (ulong)w;
        return NoiseGenerator.Normal(checked(batch * c * h * w), request.Seed, row * (1 + (ulong)request.FirstRow));
    }

    /// <summary>The Euler scheduler's add_noise (SDXL): image + noise·σ for every row (the one image's latents
    /// repeated), in float32.</summary>
    public static float[] AddNoise(float[] imageLatents, float[] noise, float sigma) => Mix(imageLatents, 1f, noise, sigma);

    /// <summary>scale_noise: σ·noise + (1 − σ)·image for every row (the one image's latents repeated, as diffusers
    /// repeats them for the batch), in float32.</summary>
    public static float[] StartLatents(float[] imageLatents, float[] noise, float sigma) => Mix(imageLatents, 1f - sigma, noise, sigma);

    /// <summary>imageWeight·image + noiseWeight·noise for every row of <paramref name="noise"/>, the one image's
    /// latents repeated (a weight of 1 multiplies exactly, so add_noise's image + σ·noise comes out bit for bit).</summary>
    static float[] Mix(float[] imageLatents, float imageWeight, float[] noise, float noiseWeight)
    {
        int n = imageLatents.Length;
        if (noise.Length % n != 0) throw new ArgumentException($"the noise holds {noise.Length} values, not rows of the image's {n}");
        var start = new float[noise.Length];
        for (int i = 0; i < start.Length; i++) start[i] = imageWeight * imageLatents[i % n] + noiseWeight * noise[i];
        return start;
    }
}

using XDit.Engine.PipeFusion;
using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Engine.Pipelines;

/// <summary>
/// FluxKontextPipeline (FLUX.1-Kontext-dev): Flux editing an image. The image (<see cref="GenerationRequest.Image"/>)
/// is resized as diffusers does (<see cref="KontextSizes.Reference"/>, Pillow's Lanczos), mapped to [−1, 1], encoded
/// by the VAE to its latent mean, (mean − shift_factor)·scaling_factor, packed 2×2 like the noise; its tokens carry
/// position ids (1, row, col) and follow the noisy tokens in every transformer call, whose output keeps the first N
/// (noisy) tokens. Everything else is <see cref="FluxPipeline"/>'s: the guidance embedding, true CFG with a
/// negative prompt, the flow-match schedule with μ from the noisy tokens alone. The output size is the asked (or
/// default) one's aspect ratio at <see cref="GenerationRequest.MaxArea"/> pixels (<see cref="KontextSizes.Output"/>).
/// Without an image it generates from the prompt alone, as diffusers.
/// PipeFusion is refused: it streams row bands of the noisy image's token grid through the stages, and the
/// reference tokens, which every band's attention reads and every block rewrites, belong to no band.
/// </summary>
public sealed class FluxKontextPipeline : FluxPipeline
{
    public FluxKontextPipeline(ModelIndex index, IOps ops) : base(index, ops) { }

    /// <summary>Encodes the resized image [1, 3, H, W] in [−1, 1] to its scaled latents [1, C, H/f, W/f]
    /// ((mean − shift_factor)·scaling_factor); null (the default): the VAE's encoder
    /// (<see cref="Models.Vae.AutoencoderKL.EncodeLatents"/>, loaded on the first image). Tests put a stand-in here.</summary>
    public Func<IOps, Tensor, Tensor>? ImageEncoder { get; set; }

    protected override bool TakesImage => true;
    protected override bool TakesKontextSizing => true;
    /// <summary>Kontext edits by attending to the image, it does not renoise it: no strength.</summary>
    protected override bool TakesStrength => false;

    /// <summary>The image's size after the resize, and the size generated, for a request.</summary>
    public (int ImageHeight, int ImageWidth, int Height, int Width) Sizes(GenerationRequest request)
    {
        var (height, width) = KontextSizes.Output(request.Height ?? DefaultSize, request.Width ?? DefaultSize,
            request.MaxArea ?? KontextSizes.DefaultMaxArea, SizeMultiple);
        if (request.Image is not { } image) return (0, 0, height, width);
        var (ih, iw) = KontextSizes.Reference(image.Height, image.Width, request.AutoResize, SizeMultiple);
        return (ih, iw, height, width);
    }

    protected override (int Height, int Width) EstimatedSize(GenerationRequest r)
    {
        try { var s = Sizes(r); return (s.Height, s.Width); }
        catch (ArgumentException) { return base.EstimatedSize(r); }
    }

    /// <summary>The reference image is encoded at its resized size (not the generated one).</summary>
    protected override (int Height, int Width)? EncodedImageSize(GenerationRequest r)
    {
        if (r.Image is null) return null;
        try { var s = Sizes(r); return (s.ImageHeight, s.ImageWidth); }
        catch (ArgumentException) { return null; }
    }

    protected override double ExtraTokens(GenerationRequest r)
    {
        try { var s = Sizes(r); return (double)s.ImageHeight * s.ImageWidth / ((double)SizeMultiple * SizeMultiple); }
        catch (ArgumentException) { return 0; }
    }

    protected override GenerationResult Run(GenerationRequest request, IProgress<PipelineProgress>? progress)
    {
        if (Loop is PipeFusionLoop)
            throw new NotSupportedException("Flux Kontext does not run under PipeFusion: its reference-image tokens are not part of the patched image grid; use Ulysses, Ring, CFG or data parallelism");
        CheckFluxOptions(request);
        var (imageHeight, imageWidth, height, width) = Sizes(request);
        int askedH = request.Height ?? DefaultSize, askedW = request.Width ?? DefaultSize;
        if (height != askedH || width != askedW)
            RaiseWarning($"the size {askedW}x{askedH} became {width}x{height}: Flux Kontext keeps the aspect ratio at max_area {request.MaxArea ?? KontextSizes.DefaultMaxArea} pixels, in multiples of {SizeMultiple}, as diffusers");
        var (h, w) = CheckSize(request with { Height = height, Width = width });
        return RunFlux(request, progress, h, w, request.Image is { } image ? () => EncodeReference(image, imageHeight, imageWidth) : null);
    }

    /// <summary>The reference tokens of <paramref name="image"/> resized to <paramref name="height"/>×<paramref name="width"/>.</summary>
    ReferenceTokens EncodeReference(InputImage image, int height, int width)
    {
        int f = Vae.Config.SpatialFactor, c = Vae.Config.LatentChannels, lh = height / f, lw = width / f;
        float[] latents;
        var planes = image.ToVaeInput(height, width);
        using (var pixels = Ops.FromHost(planes, 1, 3, height, width))
        using (var encoded = ImageEncoder is { } encode ? encode(Ops, pixels) : EncodeLatents(Vae, pixels))
        {
            if (!Shape.Equal(encoded.ShapeSpan, [1, c, lh, lw]))
                throw new InvalidOperationException($"the image encoder returned {Shape.Format(encoded.ShapeSpan)} for a {width}x{height} image, expected [1, {c}, {lh}, {lw}]");
            latents = Ops.ToHost(encoded);
        }
        FiniteCheck.Require(latents, "the reference image's latents", "the VAE encoder's weights produced them");
        Trace?.Add("image", planes, 1, 3, height, width);
        return new ReferenceTokens(FluxLatents.Pack(latents, 1, c, lh, lw), FluxLatents.ImageIds(lh, lw, first: 1), (lh / 2) * (lw / 2));
    }
}

using XDit.Engine.Execution;
using XDit.Engine.Samplers;
using XDit.Kernels;
using XDit.Models;
using XDit.Models.Tokenizers;
using XDit.Models.Vae;
using XDit.Runtime;

namespace XDit.Engine.Pipelines;

/// <summary>
/// A text-to-image pipeline loaded from a diffusers folder. <see cref="Generate"/> runs prompt → latents → image and
/// raises <see cref="Progress"/> when the encode stage ends, after each denoising step and when the decode stage ends.
/// Disposing frees every weight and buffer of the backend.
/// </summary>
public abstract class TextToImagePipeline : IDisposable
{
    protected TextToImagePipeline(ModelIndex index, IOps ops) { Index = index; Ops = ops; }

    public ModelIndex Index { get; }
    public IOps Ops { get; }
    /// <summary>How the transformer is evaluated each step (one rank by default; the parallel executors replace it).</summary>
    public IDenoiseLoop Loop { get; set; } = new StandardDenoiseLoop(SingleRankExecutor.Instance);
    public abstract DiffusionTransformer Denoiser { get; }
    public abstract int DefaultSteps { get; }
    public abstract float DefaultGuidanceScale { get; }
    /// <summary>Height and width must be multiples of this (VAE factor × patch size).</summary>
    public abstract int SizeMultiple { get; }
    /// <summary>What makes up <see cref="SizeMultiple"/>, for the error message.</summary>
    protected virtual string SizeMultipleMeaning => "VAE factor × patch size";
    /// <summary>Pixels along each side of one token of the denoiser, for <see cref="Estimate"/>: the size multiple
    /// (VAE factor × patch size) unless a model takes finer sizes than its tokens (SDXL's UNet).</summary>
    protected virtual int TokenPixels => SizeMultiple;
    public abstract int DefaultSize { get; }

    /// <summary>Where the next generations record their intermediate results (token ids, prompt embeddings, final
    /// latents), or null (the default: nothing is copied to the host for it).</summary>
    public PipelineTrace? Trace { get; set; }

    /// <summary>Raised on the generating thread when a stage ends: encode and decode once (step 1 of 1, with the
    /// stage's time), denoise after each step (step i of the steps, with that step's time).</summary>
    public event EventHandler<PipelineProgress>? Progress;
    /// <summary>Raised for things the user should know but that do not stop the run (a truncated prompt). What
    /// loading noticed (checkpoint tensors the models do not use) is raised to each handler as it subscribes, since
    /// it happened before anyone could listen.</summary>
    public event EventHandler<string>? Warning
    {
        add
        {
            _warning += value;
            foreach (var note in _loadNotes) value?.Invoke(this, note);
        }
        remove => _warning -= value;
    }
    EventHandler<string>? _warning;
    readonly List<string> _loadNotes = new();

    /// <summary>Keeps what loading the components reported (<see cref="CheckpointNotes"/>) for <see cref="Warning"/>.</summary>
    internal void AddLoadNotes(IEnumerable<string> notes) => _loadNotes.AddRange(notes);

    /// <summary>The most work one request may ask for (steps, pixels, images, guidance), checked before any work.</summary>
    public GenerationLimits Limits { get; set; } = GenerationLimits.Default;

    int _running;

    /// <summary>Runs one request. <paramref name="cancellation"/> is looked at before the work and at the end of each
    /// stage and denoising step, so a cancelled generation stops within one step with an
    /// <see cref="OperationCanceledException"/>. The request is checked against <see cref="Limits"/> first. A pipeline
    /// holds one set of buffers and a scheduler's state, so it runs one request at a time: a second call while one runs
    /// (another thread, or a Progress handler) is refused, not interleaved.</summary>
    public GenerationResult Generate(GenerationRequest request, CancellationToken cancellation = default)
        => RunChecked(request, cancellation, progress => Run(request, progress));

    /// <summary>What <see cref="Generate"/> does around a run, for every kind of output (a video pipeline's
    /// GenerateVideo too): the request's checks against this pipeline and <see cref="Limits"/>, the memory estimate,
    /// one request at a time, progress and cancellation.</summary>
    protected T RunChecked<T>(GenerationRequest request, CancellationToken cancellation, Func<IProgress<PipelineProgress>, T> run)
    {
        request.Validate(Limits);
        if ((request.NumFrames is not null || request.UseDynamicCfg) && !MakesVideo)
            throw new ArgumentException($"num_frames and use_dynamic_cfg are for video pipelines (CogVideoX, Latte, Wan, LTX-Video); {GetType().Name} makes images");
        if ((request.FrameRate ?? request.DecodeTimestep ?? request.DecodeNoiseScale) is not null && !TakesLtxOptions)
            throw new ArgumentException($"frame_rate, decode_timestep and decode_noise_scale are LTX-Video's options; {GetType().Name} does not take them");
        if (request.GuidanceRescale != 0 && !TakesGuidanceRescale)
            throw new ArgumentException($"guidance_rescale {request.GuidanceRescale}: {GetType().Name} has no guidance rescale (HunyuanDiT's and LTX-Video's option)");
        if (request.TrueCfgScale is not null && !TakesTrueCfg)
            throw new ArgumentException($"true_cfg_scale is a Flux and Qwen-Image option; {GetType().Name} guides with guidance_scale");
        if ((request.MaxTimesteps ?? request.IntermediateTimesteps) is not null && !TakesTrigFlowAngles)
            throw new ArgumentException($"max_timesteps and intermediate_timesteps are SANA Sprint's options; {GetType().Name} has no TrigFlow schedule");
        if (ImageRequired && request.Image is null)
            throw new ArgumentException($"{Index.Dir}: model_index.json names {Index.PipelineClass}, which needs an input image (--image)");
        if (request.Image is not null && !TakesImage)
            throw new ArgumentException($"{GetType().Name} takes no input image: image (--image) is for Flux Kontext and the image-to-image of SD3, Flux and SDXL; leave it out or give such a model");
        if ((request.MaxArea is not null || !request.AutoResize) && !TakesKontextSizing)
            throw new ArgumentException($"max_area and auto_resize (--max-area, --no-auto-resize) are Flux Kontext's; {GetType().Name} does not take them");
        if (request.Strength is { } strength)
        {
            if (!TakesStrength)
                throw new ArgumentException($"strength (--strength) is the image-to-image option of SD3, Flux and SDXL; {GetType().Name} does not take it");
            if (request.Image is null)
                throw new ArgumentException($"strength {strength} needs an input image (--image) to renoise; leave it out for text-to-image");
        }
        if (request.ImageNoise is not null && (request.Image is null || !TakesStrength))
            throw new ArgumentException("image noise is the draw of image-to-image's latent sample: it needs an input image and an SD3, Flux or SDXL model");
        CheckMemory(request);
        cancellation.ThrowIfCancellationRequested();
        if (Interlocked.Exchange(ref _running, 1) != 0)
            throw new InvalidOperationException("this pipeline is already running a request: a pipeline runs one request at a time (use one pipeline per thread, or a queue)");
        try
        {
            return run(new SyncProgress(p =>
            {
                Progress?.Invoke(this, p);
                cancellation.ThrowIfCancellationRequested();
            }));
        }
        finally { Volatile.Write(ref _running, 0); }
    }

    /// <summary>The timings of one run, each stage but denoise (which reports per step) reported to
    /// <paramref name="progress"/> when it ends.</summary>
    protected static StageTimings TimingsReportedTo(IProgress<PipelineProgress>? progress) =>
        new((stage, time) => { if (stage != "denoise") progress?.Report(new PipelineProgress(stage, 1, 1, time)); });

    /// <summary>Whether the pipeline makes videos (<see cref="TextToVideoPipeline"/>: it takes
    /// <see cref="GenerationRequest.NumFrames"/> and <see cref="GenerationRequest.UseDynamicCfg"/>, which the image
    /// pipelines refuse).</summary>
    protected virtual bool MakesVideo => false;

    /// <summary>Whether the pipeline takes <see cref="GenerationRequest.FrameRate"/>, <see cref="GenerationRequest.DecodeTimestep"/>
    /// and <see cref="GenerationRequest.DecodeNoiseScale"/> (LTX-Video; others refuse them).</summary>
    protected virtual bool TakesLtxOptions => false;

    /// <summary>Whether the pipeline applies <see cref="GenerationRequest.GuidanceRescale"/> (others refuse it).</summary>
    protected virtual bool TakesGuidanceRescale => false;

    /// <summary>Whether the pipeline takes <see cref="GenerationRequest.MaxTimesteps"/> and
    /// <see cref="GenerationRequest.IntermediateTimesteps"/> (SANA Sprint; others refuse them).</summary>
    protected virtual bool TakesTrigFlowAngles => false;

    /// <summary>Whether the pipeline takes <see cref="GenerationRequest.Image"/> (Flux Kontext, and SD3, Flux and
    /// SDXL for image-to-image; others refuse it).</summary>
    protected virtual bool TakesImage => false;

    /// <summary>Whether the pipeline takes <see cref="GenerationRequest.MaxArea"/> and
    /// <see cref="GenerationRequest.AutoResize"/> (Flux Kontext's sizing; others refuse them).</summary>
    protected virtual bool TakesKontextSizing => false;

    /// <summary>Whether an <see cref="GenerationRequest.Image"/> runs image-to-image, renoised by
    /// <see cref="GenerationRequest.Strength"/> (SD3, Flux, SDXL; others refuse the strength).</summary>
    protected virtual bool TakesStrength => false;

    /// <summary>Whether every request must give an image: the folder's model_index.json names the image-to-image
    /// class (StableDiffusion3Img2ImgPipeline, FluxImg2ImgPipeline, StableDiffusionXLImg2ImgPipeline), which diffusers cannot call without one.</summary>
    public bool ImageRequired { get; internal set; }

    /// <summary>Whether the pipeline runs <see cref="GenerationRequest.TrueCfgScale"/> (Flux's true CFG; others refuse it).</summary>
    protected virtual bool TakesTrueCfg => false;

    protected abstract GenerationResult Run(GenerationRequest request, IProgress<PipelineProgress>? progress);

    /// <summary>Bytes of all the pipeline's weights on the backend (set when <see cref="PipelineLoader"/> loads it).</summary>
    public long WeightBytes { get; internal set; }

    /// <summary>The images of a request and the rows the transformer runs over for them (twice the images under
    /// classifier-free guidance).</summary>
    protected virtual (long Images, long Rows) ModelRows(GenerationRequest r)
    {
        long images = (long)r.Prompts.Count * r.NumImagesPerPrompt;
        return (images, (r.GuidanceScale ?? DefaultGuidanceScale) > 1f ? 2 * images : images);
    }

    /// <summary>The size <see cref="Estimate"/> counts: the asked one, or the default (Flux Kontext: the size it will
    /// generate at, and no error when that is not a size it takes: the run refuses it).</summary>
    protected virtual (int Height, int Width) EstimatedSize(GenerationRequest r) => (r.Height ?? DefaultSize, r.Width ?? DefaultSize);

    /// <summary>Tokens the transformer reads besides the generated image's (Flux Kontext's reference image).</summary>
    protected virtual double ExtraTokens(GenerationRequest r) => 0;

    /// <summary>Text tokens the transformer attends to (an upper bound: the longest the pipeline pads to).</summary>
    protected virtual int TextTokens(GenerationRequest r) => r.MaxSequenceLength ?? 512;

    /// <summary>The widest channel count the decoder holds at full resolution: the input of its last up block,
    /// upsampled from the stage before (an AutoencoderKL's block_out_channels[1]).</summary>
    protected abstract int DecoderChannels { get; }

    /// <summary>The widest channel count the VAE's encoder holds at full resolution (an AutoencoderKL's
    /// block_out_channels[0]), counted as <see cref="DecoderChannels"/>; 0 where the pipeline encodes no image.</summary>
    protected virtual int EncoderChannels => 0;

    /// <summary>The size the VAE's encoder runs at for the request's image, once for all the rows, or null when it
    /// encodes none: image-to-image encodes the picture at the size it generates (<see cref="EstimatedSize"/>;
    /// SDXL's is the picture's own); Flux Kontext at its reference size.</summary>
    protected virtual (int Height, int Width)? EncodedImageSize(GenerationRequest r)
        => r.Image is not null && TakesStrength && EncoderChannels > 0 ? EstimatedSize(r) : null;

    /// <summary>Memory and compute of <paramref name="request"/>, before any work (see <see cref="WorkEstimate"/>).</summary>
    public WorkEstimate Estimate(GenerationRequest request)
    {
        var (height, width) = EstimatedSize(request);
        var (images, rows) = ModelRows(request);
        double pixels = (double)height * width;
        double tokens = pixels / ((double)TokenPixels * TokenPixels) + ExtraTokens(request), text = TextTokens(request);
        var t = Denoiser;
        double d = (double)t.NumHeads * t.HeadDim;
        long bytes = Ops.ActivationType.SizeOf();
        // one forward keeps the residual stream, Q/K/V, the attention output, the MLP's hidden (4·D) and the norms'
        // outputs alive at once: about 16 values per token and feature
        double denoise = rows * (tokens + text) * d * 16 * bytes;
        bool cpu = Ops.Name == "cpu";
        double decode = DecodeBytes(request, images, pixels, bytes, cpu);
        // the encoder (image-to-image, Flux Kontext) runs once, on the one picture, before the denoising, through the
        // same kind of full-resolution convolutions and norms as the decoder: counted the same way
        double encode = EncodedImageSize(request) is { } encoded ? VaeBytes(1, (double)encoded.Height * encoded.Width, EncoderChannels, bytes, cpu) : 0;
        int steps = request.NumInferenceSteps ?? DefaultSteps;
        double parameters = t.WeightBytes / (double)Math.Max(1, bytes);
        double flops = steps * rows * (2 * parameters * (tokens + text) + 4.0 * t.NumBlocks * (tokens + text) * (tokens + text) * d);
        return new WorkEstimate(WeightBytes, Saturate(encode), Saturate(denoise), Saturate(decode), flops / 1e12);
    }

    /// <summary>Activations of a VAE half over <paramref name="images"/> pictures of <paramref name="pixels"/> whose
    /// widest full-resolution map has <paramref name="channels"/>: its input, the norm's and activation's outputs, the
    /// convolution's and the residual (about 3.3 values per pixel and channel measured for the decoder on the CUDA
    /// backend, 6 allowed for cuDNN's workspace; 11.7 on the CPU, 14 allowed) and the float32 RGB picture; the CPU's
    /// convolution adds its im2col buffer, 9 values per input channel, for one image at a time (10 allowed).</summary>
    static double VaeBytes(double images, double pixels, int channels, long bytes, bool cpu)
        => images * pixels * (channels * (cpu ? 14 : 6) * bytes + 3 * 4) + (cpu ? pixels * channels * 10 * bytes : 0);

    /// <summary>Activations of the VAE's decode of <paramref name="images"/> pictures of <paramref name="pixels"/>
    /// (<see cref="VaeBytes"/> over <see cref="DecoderChannels"/>); a video VAE counts its frames its own way.</summary>
    protected virtual double DecodeBytes(GenerationRequest r, long images, double pixels, long bytes, bool cpu)
        => VaeBytes(images, pixels, DecoderChannels, bytes, cpu);

    static long Saturate(double bytes) => bytes >= long.MaxValue ? long.MaxValue : (long)bytes;

    /// <summary>Refuses a request whose estimate is more than <see cref="GenerationLimits.MaxMemoryBytes"/> (or, with
    /// none set, the backend's memory), in one line with the estimate and the limit.</summary>
    void CheckMemory(GenerationRequest request)
    {
        long limit = Limits.MaxMemoryBytes ?? Ops.Allocator.CapacityBytes;
        if (limit <= 0) return;
        var estimate = Estimate(request);
        if (estimate.TotalBytes > limit)
        {
            string what = Limits.MaxMemoryBytes is null ? $"the {(Ops.Name == "cpu" ? "host" : Ops.Name)}'s {ByteSize.Format(limit)}" : $"the memory limit {ByteSize.Format(limit)} (--max-memory)";
            throw new RequestLimitException("max_memory", $"this request needs {estimate}, more than {what}; ask for fewer or smaller images");
        }
    }

    /// <summary>The aspect-ratio table a request is binned with (diffusers' use_resolution_binning): null when asked
    /// off, or left to the default where the model has no <paramref name="table"/> (the tiny test models); asking for
    /// binning where there is none is refused, the message ending with <paramref name="whereTablesExist"/>.</summary>
    protected IReadOnlyList<AspectRatioBins.Bin>? ChosenBins(GenerationRequest r, IReadOnlyList<AspectRatioBins.Bin>? table, int sampleSize, string whereTablesExist)
    {
        if (r.UseResolutionBinning == false) return null;
        if (table is null && r.UseResolutionBinning == true)
            throw new ArgumentException($"{Index.Dir}: resolution binning has no aspect-ratio table for the transformer's sample_size {sampleSize} " +
                $"({whereTablesExist}); turn it off (--no-resolution-binning)");
        return table;
    }

    /// <summary>The size the transformer runs at: the closest bin of <paramref name="bins"/> to the asked (or default)
    /// size, or that size itself without bins (what <see cref="GenerationRequest.Latents"/> must match).</summary>
    protected (int Height, int Width) BinnedSize(GenerationRequest r, IReadOnlyList<AspectRatioBins.Bin>? bins)
    {
        int height = r.Height ?? DefaultSize, width = r.Width ?? DefaultSize;
        return bins is null ? (height, width) : AspectRatioBins.Classify(height, width, bins);
    }

    /// <summary>diffusers' _text_preprocessing without clean_caption (no bs4/ftfy): lower-cased and stripped.</summary>
    protected static string LowerStripped(string s) => s.Trim().ToLowerInvariant();

    protected (int Height, int Width) CheckSize(GenerationRequest r)
    {
        int height = r.Height ?? DefaultSize, width = r.Width ?? DefaultSize;
        if (height % SizeMultiple != 0 || width % SizeMultiple != 0)
            throw new ArgumentException($"height and width must be multiples of {SizeMultiple} ({SizeMultipleMeaning}), got {height}x{width}");
        Limits.CheckSize(height, width, (long)r.Prompts.Count * r.NumImagesPerPrompt);
        return (height, width);
    }

    /// <summary>Given latents, or seeded Gaussian noise (NoiseGenerator), times the scheduler's initial sigma (as
    /// diffusers' prepare_latents scales both; 1 for every scheduler but Euler discrete).</summary>
    protected internal static float[] InitialLatents(GenerationRequest r, int batch, int c, int h, int w, float initSigma)
    {
        int n = checked(batch * c * h * w);
        if (r.Latents is { } given)
        {
            string found = r.LatentsShape is { } s ? $" (shape [{string.Join(", ", s)}])" : "";
            if (given.Length != n) throw new ArgumentException($"the given latents hold {given.Length} values, expected {batch}x{c}x{h}x{w} = {n}{found}");
            if (r.LatentsShape is { } shape && !shape.SequenceEqual(new[] { batch, c, h, w }))
                throw new ArgumentException($"the given latents have shape [{string.Join(", ", shape)}], expected [{batch}, {c}, {h}, {w}] (batch, channels, height / VAE factor, width / VAE factor)");
            var copy = (float[])given.Clone();
            if (initSigma != 1f) for (int i = 0; i < n; i++) copy[i] *= initSigma;
            return copy;
        }
        // Data-parallel ranks draw the rows a single rank would give their images: the stream continues at FirstRow.
        var noise = NoiseGenerator.Normal(n, r.Seed, (ulong)r.FirstRow * (ulong)(c * h * w));
        if (initSigma != 1f) for (int i = 0; i < n; i++) noise[i] *= initSigma;
        return noise;
    }

    /// <summary>Seeds a stochastic scheduler's step noise (DDPM) for <paramref name="request"/>'s
    /// <paramref name="batch"/> rows of <paramref name="rowValues"/> latent values: a stream one past the request's
    /// seed (so it differs from the initial latents' stream), at the rows' place in the whole batch
    /// (<see cref="GenerationRequest.FirstRow"/> of <see cref="GenerationRequest.TotalRows"/>), so that every rank
    /// of a replica, and every replica, adds the noise one rank would. Other schedulers are left as they are.</summary>
    protected static void SeedStepNoise(IScheduler scheduler, GenerationRequest request, int batch, int rowValues)
    {
        if (scheduler is not IStochasticScheduler s) return;
        s.NoiseSeed = unchecked(request.Seed + 1);
        s.NoiseWindow = NoiseWindow.Rows(request.FirstRow, batch, request.TotalRows, rowValues);
    }

    /// <summary>The rows' tokens at <paramref name="maxLength"/> with the truncation and unknown-word warnings, the
    /// ids (and the mask, when <paramref name="maskTraceName"/> names it) traced as the reference's encode_prompt
    /// made them.</summary>
    protected TokenizedText TokenizeRows(ITextTokenizer tokenizer, IReadOnlyList<string> texts, int maxLength, bool cfg, string? maskTraceName = null)
    {
        var tokens = tokenizer.Encode(texts, maxLength);
        ReportTruncation(tokens, texts, tokenizer);
        ReportUnknownWords(tokenizer, texts);
        Trace?.AddTokens("input_ids", maskTraceName, tokens, cfg);
        return tokens;
    }

    /// <summary>Warns once per distinct truncated text, as diffusers logs it: "The following part of your input was
    /// truncated because {reason}: [removed text]". <paramref name="reason"/> defaults to the T5 wording
    /// (max_sequence_length); CLIP's is <see cref="ClipTruncationReason"/>. The removed part is the tokens past the
    /// kept length (diffusers' slice untruncated[L − 1 : −1]; for T5 it slices from CLIP's 77 instead, which names
    /// tokens that were kept, so here the real cut is shown).</summary>
    protected void ReportTruncation(TokenizedText tokens, IReadOnlyList<string> texts, ITextTokenizer tokenizer, string? reason = null)
    {
        reason ??= $"`max_sequence_length` is set to {tokens.Length} tokens";
        var seen = new HashSet<string>();
        for (int i = 0; i < tokens.Batch; i++)
            if (tokens.Truncated[i] && seen.Add(texts[i]))
                _warning?.Invoke(this, $"The following part of your input was truncated because {reason}: {RemovedText(tokenizer, texts[i], tokens.Length)}");
    }

    /// <summary>Raises <see cref="Warning"/>.</summary>
    protected void RaiseWarning(string message) => _warning?.Invoke(this, message);

    /// <summary>Refuses SD3's own options (prompt_2/_3, their negatives, clip_skip, skip-layer guidance) in a pipeline
    /// that has no use for them, so that they are never silently ignored.</summary>
    protected static void RefuseSD3Options(GenerationRequest r, string pipeline)
    {
        var given = new List<string>();
        if (r.Prompts2 is not null) given.Add("prompt_2");
        if (r.Prompts3 is not null) given.Add("prompt_3");
        if (r.NegativePrompt2 is not null) given.Add("negative_prompt_2");
        if (r.NegativePrompt3 is not null) given.Add("negative_prompt_3");
        if (r.ClipSkip is not null) given.Add("clip_skip");
        if (r.SkipGuidanceLayers is not null) given.Add("skip_guidance_layers");
        if (given.Count > 0) throw new ArgumentException($"{string.Join(", ", given)}: SD3 options, which {pipeline} does not take");
    }

    protected static string ClipTruncationReason(int length) => $"CLIP can only handle sequences up to {length} tokens";

    static string RemovedText(ITextTokenizer tokenizer, string text, int length)
    {
        if (tokenizer is not IInspectableTokenizer t) return $"[the end of \"{(text.Length > 60 ? "..." + text[^57..] : text)}\"]";
        var all = t.EncodeUntruncated(text);
        var removed = all.Skip(length - 1).Take(Math.Max(0, all.Count - length));
        return $"['{TokenText.Decode(t, removed)}']";
    }

    /// <summary>Warns about the words of the prompts that a closed word-level vocabulary (the demo model's) lacks: the
    /// encoder reads each as its unknown token, so they change nothing the user meant. The warning lists the vocabulary.</summary>
    protected void ReportUnknownWords(ITextTokenizer tokenizer, IReadOnlyList<string> texts)
    {
        if (tokenizer is not PipelineTokenizer { Words: { } words } wordLevel) return;
        foreach (var text in texts.Distinct())
            if (wordLevel.UnknownWords(text) is { Count: > 0 } unknown)
                _warning?.Invoke(this, $"{string.Join(", ", unknown.Select(w => $"'{w}'"))} of the prompt \"{text}\" "
                    + $"{(unknown.Count == 1 ? "is" : "are")} not in the model's vocabulary and read as unknown; its {words.Count} words: {string.Join(' ', words)}");
    }

    /// <summary>VAE decode of latents [B, C, h, w] (divided by the scaling factor, shift added), mapped to [0, 1].
    /// With <paramref name="resizeTo"/> the decoded picture is first resized and centre-cropped to that size
    /// (PixArt's resolution binning), before the clamp to [0, 1], as diffusers does.</summary>
    protected List<GeneratedImage> Decode(AutoencoderKL vae, float[] latents, int batch, int c, int h, int w, (int Height, int Width)? resizeTo = null)
        => Decode(zt => DecodeOverride is { } decode ? decode(vae, zt) : vae.Decode(Ops, zt),
            vae.Config.ScalingFactor, vae.Config.ShiftFactor ?? 0.0, latents, batch, c, h, w, resizeTo);

    /// <summary><see cref="Decode(AutoencoderKL, float[], int, int, int, int, (int, int)?)"/> for any decoder (SANA's
    /// AutoencoderDC): <paramref name="decoder"/> maps the scaled latents [B, C, h, w] to the image [B, 3, H, W].</summary>
    protected List<GeneratedImage> Decode(Func<Tensor, Tensor> decoder, double scalingFactor, double shiftFactor, float[] latents,
        int batch, int c, int h, int w, (int Height, int Width)? resizeTo = null)
    {
        FiniteCheck.Require(latents, "the denoised latents",
            "a NaN or infinite weight, initial latent or guidance result reached them (the picture would be black or white)");
        float sf = (float)scalingFactor, shift = (float)shiftFactor;
        var z = latents.Select(v => v / sf + shift).ToArray();
        using var zt = Ops.FromHost(z, batch, c, h, w);
        using var img = decoder(zt);
        var px = Ops.ToHost(img);
        FiniteCheck.Require(px, "the decoded pixels", "the VAE's weights or config (scaling_factor, shift_factor) produced them");
        int H = img.Dim(2), W = img.Dim(3);
        if (resizeTo is { } size)
        {
            px = ImageResize.ResizeAndCrop(px, batch * 3, H, W, size.Height, size.Width);
            (H, W) = size;
        }
        int plane = 3 * H * W;
        var images = new List<GeneratedImage>();
        for (int b = 0; b < batch; b++)
        {
            var chw = new float[plane];
            for (int i = 0; i < plane; i++) chw[i] = Math.Clamp(px[b * plane + i] / 2f + 0.5f, 0f, 1f);
            images.Add(new GeneratedImage(chw, H, W));
        }
        return images;
    }

    /// <summary>Replaces the plain VAE decode (patch-parallel decoding plugs in here): (vae, scaled latents) → image.</summary>
    public Func<AutoencoderKL, Tensor, Tensor>? DecodeOverride { get; set; }

    /// <summary>Replaces the plain VAE encode of an input image (patch-parallel encoding plugs in here, under the same
    /// switch as <see cref="DecodeOverride"/>): (vae, image in [−1, 1]) → the encoder's whole moments
    /// (<see cref="VaeEncoder.Moments(IOps, Tensor)"/>).</summary>
    public Func<AutoencoderKL, Tensor, Tensor>? EncodeMomentsOverride { get; set; }

    /// <summary>The encoder's whole moments of an image in [−1, 1] (<see cref="VaeEncoder.Moments(IOps, Tensor)"/>),
    /// through <see cref="EncodeMomentsOverride"/> where set: the one place a pipeline's encode goes local or
    /// patch-parallel.</summary>
    protected Tensor EncodeMoments(AutoencoderKL vae, Tensor pixels)
        => EncodeMomentsOverride is { } moments ? moments(vae, pixels) : vae.Encoder.Moments(Ops, pixels);

    /// <summary>The scaled latents of an image in [−1, 1] (<see cref="AutoencoderKL.EncodeLatents"/>) from
    /// <see cref="EncodeMoments"/>.</summary>
    protected Tensor EncodeLatents(AutoencoderKL vae, Tensor pixels)
    {
        using var m = EncodeMoments(vae, pixels);
        return vae.Encoder.Latents(Ops, m);
    }

    readonly List<IDisposable> _owned = new();

    /// <summary>Registers a loaded component (encoder, transformer, VAE) so that <see cref="Dispose"/> frees it, in
    /// load order; a constructor that fails part-way calls <see cref="DisposeModels"/> so nothing leaks.</summary>
    protected T Own<T>(T model) where T : IDisposable { _owned.Add(model); return model; }

    /// <summary>Frees every component registered with <see cref="Own"/> (the backend stays).</summary>
    protected void DisposeModels()
    {
        foreach (var m in _owned) m.Dispose();
        _owned.Clear();
    }

    /// <summary>Classifier-free guidance on [negative; positive] output rows of [B, C, h, w] latents, keeping the
    /// first <paramref name="channels"/> of <paramref name="outChannels"/> (see <see cref="Guidance.Combine"/>).</summary>
    protected static Action<float[], float[], int> GuidedCombine(int batch, bool cfg, float scale, int outChannels, int channels)
        => (output, noise, spatial) => Guidance.Combine(output, noise, batch, cfg, scale, outChannels, channels, spatial);

    /// <summary>A fresh scheduler from the folder's scheduler/ set to <paramref name="steps"/>: what a parallel rank
    /// or a PipeFusion patch that keeps its own scheduler state starts from (DenoiseJob.NewScheduler), its step noise
    /// (if any) seeded for the request's rows (<see cref="SeedStepNoise"/>).</summary>
    protected IScheduler FolderScheduler(int steps, GenerationRequest request, int batch, int rowValues)
    {
        var s = SchedulerFactory.Load(Index.Require("scheduler"));
        PrepareScheduler(s, steps, request, batch, rowValues);
        return s;
    }

    /// <summary>Sets <paramref name="scheduler"/> to <paramref name="steps"/> and seeds its step noise for the
    /// request's rows (<see cref="SeedStepNoise"/>). The two go together: pipelines that set the steps alone left a
    /// DDPM's noise on seed 0 whatever the request asked.</summary>
    protected static void PrepareScheduler(IScheduler scheduler, int steps, GenerationRequest request, int batch, int rowValues)
    {
        scheduler.SetTimesteps(steps);
        SeedStepNoise(scheduler, request, batch, rowValues);
    }

    /// <summary>The step's timestep value for each of the model's rows.</summary>
    protected static float[] TimestepRows(float timestep, int rows) => Enumerable.Repeat(timestep, rows).ToArray();

    /// <summary>Whether <see cref="Dispose"/> disposes the backend too (the default; see
    /// <see cref="PipelineLoader.Load(string, IOps, bool)"/>).</summary>
    public bool OwnsOps { get; internal set; } = true;

    public virtual void Dispose()
    {
        DisposeModels();
        if (OwnsOps) Ops.Dispose();
    }

    /// <summary>Reports on the caller's thread (Progress&lt;T&gt; would post to a thread pool and reorder).</summary>
    sealed class SyncProgress(Action<PipelineProgress> report) : IProgress<PipelineProgress>
    {
        public void Report(PipelineProgress value) => report(value);
    }
}

using System.Diagnostics;
using XDit.Engine.Execution;
using XDit.Engine.Samplers;
using XDit.Kernels;
using XDit.Models;
using XDit.Models.Clip;
using XDit.Models.Sdxl;
using XDit.Models.Tokenizers;
using XDit.Models.Vae;
using XDit.Runtime;

namespace XDit.Engine.Pipelines;

/// <summary>
/// StableDiffusionXLPipeline as diffusers runs it: CLIP-L (text_encoder) and CLIP-G (text_encoder_2, with
/// projection) each give hidden_states[−(clip_skip + 2)], concatenated along the features as encoder_hidden_states;
/// text_encoder_2's projected EOS embedding is text_embeds; time_ids are (original size, crop top-left, target size)
/// = (H, W, 0, 0, H, W). Under guidance the negative rows come first: zeros when no negative prompt is given and
/// model_index.json's force_zeros_for_empty_prompt is true (its default), else the negative prompt encoded the same
/// way (clip_skip not applied, as diffusers). The scheduler of the folder (Euler discrete for SDXL) with
/// scale_model_input applied by the loop; VAE decode of latents / scaling_factor (0.13025).
/// With an input image it runs StableDiffusionXLImg2ImgPipeline (<see cref="ImageToImage"/>): at the image's own size,
/// strength 0.3 by default, Euler's add_noise; the refiner's aesthetic-score conditioning (requires_aesthetics_score)
/// is refused at load.
/// </summary>
public sealed class SdxlPipeline : TextToImagePipeline
{
    /// <summary>SDXL conditions on six numbers per row: original (h, w), crop top-left (y, x), target (h, w).</summary>
    public const int TimeIdCount = 6;

    readonly ITextTokenizer _tokenizer1, _tokenizer2;
    readonly ClipTextModel _clipL, _clipG;
    readonly SdxlUNet _unet;
    readonly AutoencoderKL _vae;
    readonly IScheduler _scheduler;
    readonly bool _forceZerosForEmptyPrompt;

    public SdxlPipeline(ModelIndex index, IOps ops) : base(index, ops)
    {
        try
        {
            var indexConfig = JsonConfig.Load(Path.Combine(index.Dir, "model_index.json"));
            _forceZerosForEmptyPrompt = indexConfig.GetBool("force_zeros_for_empty_prompt", true);
            // the refiner's img2img folders condition on an aesthetic score in add_time_ids (7 values, not 6)
            if (indexConfig.GetBool("requires_aesthetics_score", false))
                throw new NotSupportedException($"{indexConfig.Path}: requires_aesthetics_score = true (the SDXL refiner's aesthetic-score conditioning) is not supported");
            _scheduler = SchedulerFactory.Load(index.Require("scheduler"));
            _tokenizer1 = TokenizerLoader.Load(index.Require("tokenizer"));
            _tokenizer2 = TokenizerLoader.Load(index.Require("tokenizer_2"));
            _clipL = Own(ClipTextModel.Load(index.Require("text_encoder"), ops));
            _clipG = Own(ClipTextModel.Load(index.Require("text_encoder_2"), ops));
            _unet = Own(SdxlUNet.Load(index.Require("unet"), ops));
            var vaeDir = index.Require("vae");
            _vae = Own(AutoencoderKL.Load(vaeDir, ops, float32: UpcastsVae(vaeDir, ops)));
            CheckComponentsAgree();
        }
        catch
        {
            DisposeModels();
            throw;
        }
    }

    /// <summary>Whether the VAE is loaded in float32: diffusers' needs_upcasting (vae.dtype float16 and
    /// vae/config.json's force_upcast) upcasts SDXL's own VAE, whose activations overflow float16, and decodes the
    /// latents cast to float32. bf16 has float32's range and keeps the activations' dtype, as diffusers does.</summary>
    static bool UpcastsVae(string vaeDir, IOps ops)
        => ops.ActivationType == DType.F16 && AutoencoderKLConfig.Load(Path.Combine(vaeDir, "config.json")).ForceUpcast;

    /// <summary>The widths the glue relies on, checked once so that a mixed-up folder fails at load, naming files.</summary>
    void CheckComponentsAgree()
    {
        var uc = _unet.Config;
        if (!_clipG.Config.HasProjection)
            throw new InvalidDataException($"{_clipG.Config.Path}: SDXL needs CLIPTextModelWithProjection as text_encoder_2 (its text_embeds are the pooled input), found {_clipG.Config.Architecture}");
        int clipWidth = _clipL.Config.HiddenSize + _clipG.Config.HiddenSize;
        if (clipWidth != uc.CrossAttentionDim)
            throw new InvalidDataException($"{Index.Dir}: the CLIP features ({_clipL.Config.HiddenSize} + {_clipG.Config.HiddenSize} = {clipWidth}) differ from the unet's cross_attention_dim {uc.CrossAttentionDim}");
        if (!uc.HasTextTimeEmbedding)
            throw new InvalidDataException($"{uc.Path}: SDXL's unet needs addition_embed_type \"text_time\"");
        int passed = uc.AdditionTimeEmbedDim * TimeIdCount + _clipG.Config.ProjectionDim;
        if (passed != uc.ProjectionClassEmbeddingsInputDim)
            throw new InvalidDataException($"{uc.Path}: projection_class_embeddings_input_dim {uc.ProjectionClassEmbeddingsInputDim} differs from {TimeIdCount} time ids × addition_time_embed_dim {uc.AdditionTimeEmbedDim} + text_encoder_2's projection_dim {_clipG.Config.ProjectionDim} = {passed}");
        if (_vae.Config.LatentChannels != uc.InChannels)
            throw new InvalidDataException($"{_vae.Config.Path}: latent_channels {_vae.Config.LatentChannels} differs from the unet's in_channels {uc.InChannels}");
        if (uc.OutChannels != uc.InChannels)
            throw new InvalidDataException($"{uc.Path}: out_channels {uc.OutChannels} differs from in_channels {uc.InChannels}; the noise prediction must have the latents' shape");
    }

    public SdxlUNet UNet => _unet;
    public override DiffusionTransformer Denoiser => _unet;
    public override int DefaultSteps => 50;
    public override float DefaultGuidanceScale => 5.0f;
    /// <summary>The VAE factor (8 for SDXL, diffusers' multiple): the UNet takes any latent size, its up blocks
    /// resizing to the skip states' sizes.</summary>
    public override int SizeMultiple => _vae.Config.SpatialFactor;
    protected override string SizeMultipleMeaning => "the VAE factor";
    /// <summary>The estimate's token: a pixel of the UNet's deepest map (as when sizes were multiples of it).</summary>
    protected override int TokenPixels => _vae.Config.SpatialFactor * (1 << _unet.Config.Downsamplings);
    public override int DefaultSize => _unet.Config.SampleSize * _vae.Config.SpatialFactor;

    /// <summary>Both CLIP tokenizers pad to their model_max_length (77).</summary>
    int ClipLength1 => _tokenizer1.ModelMaxLength ?? 77;
    int ClipLength2 => _tokenizer2.ModelMaxLength ?? 77;
    /// <summary>The estimate counts the decoder's values in the activations' dtype: a float32 VAE (UpcastsVae, in an
    /// f16 pipeline) holds twice the bytes per value, counted as twice the channels.</summary>
    protected override int DecoderChannels => _vae.Config.FullResolutionChannels * VaeValueWidth;
    /// <summary>The encoder computes in float32 too (<see cref="AutoencoderKL.Float32"/>): counted as the decoder.</summary>
    protected override int EncoderChannels => _vae.Config.EncoderFullResolutionChannels * VaeValueWidth;
    int VaeValueWidth => _vae.Float32 ? DType.F32.SizeOf() / Ops.ActivationType.SizeOf() : 1;
    /// <summary>The CLIP tokens both encoders pad to.</summary>
    protected override int TextTokens(GenerationRequest r) => ClipLength1;
    protected override bool TakesImage => true;
    protected override bool TakesStrength => true;
    /// <summary>With an image the size is the image's (<see cref="Run"/>).</summary>
    protected override (int Height, int Width) EstimatedSize(GenerationRequest r)
        => r.Image is { } image && r.Height is null && r.Width is null ? image.DefaultSize(_vae.Config.SpatialFactor) : base.EstimatedSize(r);

    protected override GenerationResult Run(GenerationRequest request, IProgress<PipelineProgress>? progress)
    {
        var timings = TimingsReportedTo(progress);
        int steps = request.NumInferenceSteps ?? DefaultSteps;
        float guidance = request.GuidanceScale ?? DefaultGuidanceScale;
        RefuseOtherPipelinesOptions(request);
        var image = request.Image;
        int f = _vae.Config.SpatialFactor, c = _unet.Config.InChannels;
        int skipped = 0;
        if (image is not null)
        {
            // StableDiffusionXLImg2ImgPipeline has no height or width: it generates at the picture's own size
            if (request.Height is not null || request.Width is not null)
                throw new ArgumentException($"SDXL image-to-image generates at the image's own size ({image.Width}x{image.Height} floored to a multiple of {f}), as diffusers' StableDiffusionXLImg2ImgPipeline: leave height and width out");
            if (_scheduler is not EulerDiscreteScheduler)
                throw new NotSupportedException($"{Path.Combine(Index.Dir, "scheduler", "scheduler_config.json")}: SDXL image-to-image runs with EulerDiscreteScheduler (its add_noise), found {_scheduler.ClassName}");
            var (ih, iw) = image.DefaultSize(f);
            request = request with { Height = ih, Width = iw };
            skipped = ImageToImage.SkippedStepsSdxl(steps, request.Strength ?? ImageToImage.SdxlDefaultStrength);
        }
        var (height, width) = CheckSize(request);
        int batch = request.Prompts.Count * request.NumImagesPerPrompt;
        bool cfg = guidance > 1f;
        int h = height / f, w = width / f;

        // ---- encode ----
        var sw = Stopwatch.StartNew();
        var positive = SD3PromptTexts.Positive(request);
        var (context, pooled) = EncodeGuided(positive, cfg ? SD3PromptTexts.Negative(request, batch) : null, request);
        using var contextT = context;
        using var pooledT = pooled;
        var timeIds = TimeIds(height, width, cfg ? 2 * batch : batch);
        var imageLatents = image is null ? null : ImageToImage.EncodeSample(Ops, _vae, image, height, width, request, Trace, EncodeMoments);
        timings.Add("encode", sw.Elapsed);

        // ---- denoise ----
        sw.Restart();
        PrepareScheduler(_scheduler, steps, request, batch, c * h * w);
        if (skipped > 0) ((EulerDiscreteScheduler)_scheduler).SkipSteps(skipped);
        var latents = imageLatents is null ? InitialLatents(request, batch, c, h, w, _scheduler.InitNoiseSigma)
            : ImageToImage.AddNoise(imageLatents, ImageToImage.Noise(request, batch, c, h, w), _scheduler.Sigmas[0]);
        if (imageLatents is not null) Trace?.Add("start_latents", (float[])latents.Clone(), batch, c, h, w);
        var job = new DenoiseJob
        {
            Model = _unet,
            Scheduler = _scheduler,
            NewScheduler = () =>
            {
                var s = FolderScheduler(steps, request, batch, c * h * w);
                if (skipped > 0) ((EulerDiscreteScheduler)s).SkipSteps(skipped);
                return s;
            },
            Latents = latents,
            Batch = batch,
            LatentShape = new[] { c, h, w },
            Cfg = cfg,
            BuildInputs = (ops, x, i) => new DitInputs
            {
                HiddenStates = x,
                EncoderHiddenStates = contextT,
                PooledProjections = pooledT,
                Timestep = TimestepRows(_scheduler.Timesteps[i], x.Dim(0)),
                TimeIds = timeIds,
            },
            Combine = GuidedCombine(batch, cfg, guidance, c, c),
        };
        Loop.Run(Ops, job, progress);
        Trace?.Add("latents", job.Latents, batch, c, h, w);
        timings.Add("denoise", sw.Elapsed);

        // ---- decode ----
        sw.Restart();
        // a float32 VAE (UpcastsVae) casts the f16 z to float32 itself and returns a float32 image
        var images = Decode(_vae, job.Latents, batch, c, h, w);
        timings.Add("decode", sw.Elapsed);
        return new GenerationResult(images, timings, _scheduler.Timesteps.Length, height, width, request.Seed);
    }

    /// <summary>add_time_ids for every row: original_size = target_size = (height, width), crops_coords_top_left
    /// (0, 0), the same for the negative rows (diffusers' negative_* sizes default to these).</summary>
    public static float[] TimeIds(int height, int width, int rows)
    {
        float[] one = [height, width, 0, 0, height, width];
        return Enumerable.Range(0, rows).SelectMany(_ => one).ToArray();
    }

    /// <summary>Context and pooled rows for the positive texts, preceded under guidance by the negative ones: zeros
    /// of the same shape when force_zeros_for_empty_prompt holds and no negative prompt was given, else the
    /// negative texts encoded without clip_skip.</summary>
    (Tensor Context, Tensor Pooled) EncodeGuided(SD3PromptTexts positive, SD3PromptTexts? negative, GenerationRequest r)
    {
        var (pc, pp) = Encode(positive, r.ClipSkip ?? 0);
        if (negative is null)
        {
            TraceRows(pc, pp, guided: false);
            return (pc, pp);
        }
        using (pc) using (pp)
        {
            bool zeros = r.NegativePrompt is null && r.NegativePrompt2 is null && _forceZerosForEmptyPrompt;
            var (nc, np) = zeros
                ? (Ops.Zeros(pc.DType, pc.Dims), Ops.Zeros(pp.DType, pp.Dims))
                : Encode(negative, 0);
            using (nc) using (np)
            {
                var context = Ops.Concat(0, nc, pc);
                var pooled = Ops.Concat(0, np, pp);
                TraceRows(context, pooled, guided: true);
                return (context, pooled);
            }
        }
    }

    void TraceRows(Tensor context, Tensor pooled, bool guided)
    {
        if (Trace is not { } trace) return;
        trace.AddGuided(Ops, "prompt_embeds", context, guided);
        trace.AddGuided(Ops, "pooled_prompt_embeds", pooled, guided);
    }

    /// <summary>encoder_hidden_states [R, 77, D_L + D_G] (both CLIPs' hidden_states[−(clipSkip + 2)] side by side) and
    /// text_embeds [R, P_G] for the given rows, as diffusers' encode_prompt.</summary>
    public (Tensor Context, Tensor Pooled) Encode(SD3PromptTexts texts, int clipSkip)
    {
        int rows = texts.Count;
        var tokL = _tokenizer1.Encode(texts.ClipL, ClipLength1);
        var tokG = _tokenizer2.Encode(texts.ClipG, ClipLength2);
        ReportTruncation(tokL, texts.ClipL, _tokenizer1, ClipTruncationReason(ClipLength1));
        if (!texts.ClipG.SequenceEqual(texts.ClipL)) ReportTruncation(tokG, texts.ClipG, _tokenizer2, ClipTruncationReason(ClipLength2));
        if (tokL.Length != tokG.Length)
            throw new InvalidDataException($"{Index.Dir}: the tokenizers pad to {tokL.Length} and {tokG.Length} tokens; SDXL concatenates the two encoders' states token by token, so their model_max_length must agree");
        using var outL = _clipL.Encode(Ops, tokL.Ids, rows, tokL.Length, clipSkip);
        using var outG = _clipG.Encode(Ops, tokG.Ids, rows, tokG.Length, clipSkip);
        var context = Ops.Concat(2, outL.PenultimateHiddenState, outG.PenultimateHiddenState);
        try { return (context, Ops.Contiguous(outG.TextEmbeds!)); }
        catch { context.Dispose(); throw; }
    }

    /// <summary>Options of other pipelines have no meaning here: refused rather than silently ignored.</summary>
    static void RefuseOtherPipelinesOptions(GenerationRequest r)
    {
        var given = new List<string>();
        if (r.Prompts3 is not null) given.Add("prompt_3");
        if (r.NegativePrompt3 is not null) given.Add("negative_prompt_3");
        if (r.SkipGuidanceLayers is not null) given.Add("skip_guidance_layers");
        if (r.UseResolutionBinning == true) given.Add("resolution binning");
        if (r.MaxSequenceLength is not null) given.Add("max_sequence_length");
        if (given.Count > 0) throw new ArgumentException($"{string.Join(", ", given)}: options of other pipelines, which StableDiffusionXLPipeline does not take");
    }
}

using System.Diagnostics;
using XDit.Engine.Execution;
using XDit.Engine.Samplers;
using XDit.Kernels;
using XDit.Models;
using XDit.Models.PixArt;
using XDit.Models.T5;
using XDit.Models.Tokenizers;
using XDit.Models.Vae;
using XDit.Runtime;

namespace XDit.Engine.Pipelines;

/// <summary>
/// PixArtAlphaPipeline / PixArtSigmaPipeline: T5 text encoding (prompt and negative prompt), DPM-Solver++ denoising
/// with classifier-free guidance on the batch [negative; positive], AutoencoderKL decoding. Resolution binning as
/// diffusers (<see cref="GenerationRequest.UseResolutionBinning"/>, on by default where the model's sample_size has a
/// table): the picture is generated at the closest size of <see cref="AspectRatioBins"/>, then resized and
/// centre-cropped to the asked size.
/// </summary>
public sealed class PixArtPipeline : TextToImagePipeline
{
    readonly ITextTokenizer _tokenizer;
    readonly T5Encoder _textEncoder;
    readonly PixArtTransformer _transformer;
    readonly AutoencoderKL _vae;
    readonly IScheduler _scheduler;
    readonly bool _isSigma;

    public PixArtPipeline(ModelIndex index, IOps ops) : base(index, ops)
    {
        _isSigma = index.PipelineClass.Contains("Sigma", StringComparison.Ordinal);
        try
        {
            _tokenizer = TokenizerLoader.Load(index.Require("tokenizer"));
            _scheduler = SchedulerFactory.Load(index.Require("scheduler"));
            _textEncoder = Own(T5Encoder.Load(index.Require("text_encoder"), ops));
            _transformer = Own(PixArtTransformer.Load(index.Require("transformer"), ops));
            _vae = Own(AutoencoderKL.Load(index.Require("vae"), ops));
        }
        catch
        {
            DisposeModels();
            throw;
        }
    }

    public PixArtTransformer Transformer => _transformer;
    public override DiffusionTransformer Denoiser => _transformer;
    public override int DefaultSteps => 20;
    public override float DefaultGuidanceScale => 4.5f;
    /// <summary>Latent pixels per image pixel along one side (VAE factor) times the transformer's patch size.</summary>
    public override int SizeMultiple => _vae.Config.SpatialFactor * _transformer.Config.PatchSize;
    public override int DefaultSize => _transformer.Config.SampleSize * _vae.Config.SpatialFactor;

    protected override int DecoderChannels => _vae.Config.FullResolutionChannels;
    protected override int TextTokens(GenerationRequest r) => MaxLength(r);

    /// <summary>α truncates prompts at 120 tokens, Σ at 300, never past what the tokenizer allows.</summary>
    int MaxLength(GenerationRequest r) => r.MaxSequenceLength ?? Math.Min(_isSigma ? 300 : 120, _tokenizer.ModelMaxLength ?? int.MaxValue);

    protected override GenerationResult Run(GenerationRequest request, IProgress<PipelineProgress>? progress)
    {
        var timings = TimingsReportedTo(progress);
        int steps = request.NumInferenceSteps ?? DefaultSteps;
        float guidance = request.GuidanceScale ?? DefaultGuidanceScale;
        RefuseSD3Options(request, "PixArt");
        var (askedHeight, askedWidth) = (request.Height ?? DefaultSize, request.Width ?? DefaultSize);
        var bins = BinsFor(request);
        var binned = BinnedSize(request, bins);
        var (height, width) = CheckSize(request with { Height = binned.Height, Width = binned.Width });
        int batch = request.Prompts.Count * request.NumImagesPerPrompt;
        bool cfg = guidance > 1f;
        int f = _vae.Config.SpatialFactor, c = _transformer.Config.InChannels;
        int h = height / f, w = width / f;

        // ---- encode ----
        var sw = Stopwatch.StartNew();
        var texts = PromptRows.WithNegative(request, cfg).Select(LowerStripped).ToList();
        var tokens = TokenizeRows(_tokenizer, texts, MaxLength(request), cfg, "attention_mask");
        using var textStates = _textEncoder.Encode(Ops, tokens.Ids, tokens.Mask, tokens.Batch, tokens.Length);
        Trace?.AddGuided(Ops, "prompt_embeds", textStates, cfg);
        using var textMask = Ops.FromHost(tokens.Mask.Select(m => (float)m).ToArray(), tokens.Batch, tokens.Length);
        timings.Add("encode", sw.Elapsed);

        // ---- denoise ----
        sw.Restart();
        PrepareScheduler(_scheduler, steps, request, batch, c * h * w);
        int rows = cfg ? 2 * batch : batch;
        using var resolution = _transformer.Config.UseAdditionalConditions ? Ops.FromHost(Repeat(new float[] { height, width }, rows), rows, 2) : null;
        using var aspect = _transformer.Config.UseAdditionalConditions ? Ops.FromHost(Repeat(new float[] { (float)height / width }, rows), rows, 1) : null;
        int outChannels = _transformer.Config.OutChannels;
        var job = new DenoiseJob
        {
            Model = _transformer,
            Scheduler = _scheduler,
            NewScheduler = () => FolderScheduler(steps, request, batch, c * h * w),
            Latents = InitialLatents(request, batch, c, h, w, _scheduler.InitNoiseSigma),
            Batch = batch,
            LatentShape = new[] { c, h, w },
            Cfg = cfg,
            BuildInputs = (ops, x, i) => new DitInputs
            {
                HiddenStates = x,
                EncoderHiddenStates = textStates,
                EncoderAttentionMask = textMask,
                Timestep = TimestepRows(_scheduler.Timesteps[i], x.Dim(0)),
                Resolution = resolution,
                AspectRatio = aspect,
            },
            // Guidance on the prediction, then keep the ε channels (the learned sigma is dropped).
            Combine = GuidedCombine(batch, cfg, guidance, outChannels, c),
        };
        Loop.Run(Ops, job, progress);
        var latents = job.Latents;
        Trace?.Add("latents", latents, batch, c, h, w);
        timings.Add("denoise", sw.Elapsed);

        // ---- decode ----
        sw.Restart();
        var images = Decode(_vae, latents, batch, c, h, w, bins is null ? null : (askedHeight, askedWidth));
        timings.Add("decode", sw.Elapsed);
        return new GenerationResult(images, timings, _scheduler.Timesteps.Length, images[0].Height, images[0].Width, request.Seed);
    }

    /// <summary>The aspect-ratio table the request is binned with, or null when binning is off: asked off, or left
    /// to the default on a model whose sample_size diffusers has no table for (the tiny test models).</summary>
    IReadOnlyList<AspectRatioBins.Bin>? BinsFor(GenerationRequest r) => ChosenBins(r, AspectRatioBins.ForSampleSize(_transformer.Config.SampleSize, _isSigma),
        _transformer.Config.SampleSize, $"diffusers has them for 32, 64, 128{(_isSigma ? " and 256" : "")}");

    /// <summary>The size the transformer runs at for a request: the binned size when binning applies, else the asked
    /// one (what <see cref="GenerationRequest.Latents"/> must match).</summary>
    public (int Height, int Width) GenerationSize(GenerationRequest r) => BinnedSize(r, BinsFor(r));

    static float[] Repeat(float[] row, int n) => Enumerable.Range(0, n).SelectMany(_ => row).ToArray();
}

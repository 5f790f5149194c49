using System.Diagnostics;
using XDit.Engine.Execution;
using XDit.Engine.Samplers;
using XDit.Kernels;
using XDit.Models;
using XDit.Models.Clip;
using XDit.Models.SD3;
using XDit.Models.T5;
using XDit.Models.Tokenizers;
using XDit.Models.Vae;
using XDit.Runtime;

namespace XDit.Engine.Pipelines;

/// <summary>
/// StableDiffusion3Pipeline (SD3, SD3.5): CLIP-L and CLIP-G (penultimate hidden states side by side, zero-padded to
/// the T5 width, then the T5 tokens after them; pooled = both projected EOS embeddings), flow-match Euler with
/// classifier-free guidance on [negative; positive] rows when the scale is above 1, VAE decode of
/// latents / scaling_factor + shift_factor. text_encoder_3 may be absent (model_index.json [null, null]): its tokens
/// are then zeros, max_sequence_length of them, as diffusers does. prompt_2/prompt_3 and their negatives, clip_skip
/// and SD3.5's skip-layer guidance (<see cref="SkipLayerGuidance"/>) as diffusers; IP adapters are not implemented.
/// With an input image it runs StableDiffusion3Img2ImgPipeline (<see cref="ImageToImage"/>): the image, resized to the
/// generated size, encoded and renoised by the strength, starts the last steps of the schedule; skip-layer guidance,
/// which that pipeline has not, is refused there.
/// </summary>
public sealed class SD3Pipeline : TextToImagePipeline
{
    /// <summary>diffusers refuses longer T5 prompts.</summary>
    public const int MaxT5Length = 512;

    readonly ITextTokenizer _tokenizer1, _tokenizer2;
    readonly ITextTokenizer? _tokenizer3;
    readonly ClipTextModel _clipL, _clipG;
    readonly T5Encoder? _t5;
    readonly SD3Transformer _transformer;
    readonly AutoencoderKL _vae;
    readonly FlowMatchEulerDiscreteScheduler _scheduler;

    public SD3Pipeline(ModelIndex index, IOps ops) : base(index, ops)
    {
        try
        {
            _scheduler = FlowMatchScheduler.Load(index);
            _tokenizer1 = TokenizerLoader.Load(index.Require("tokenizer"));
            _tokenizer2 = TokenizerLoader.Load(index.Require("tokenizer_2"));
            _clipL = Own(ClipTextModel.Load(index.Require("text_encoder"), ops));
            _clipG = Own(ClipTextModel.Load(index.Require("text_encoder_2"), ops));
            if (index.Components.ContainsKey(T5Folder))
            {
                _tokenizer3 = TokenizerLoader.Load(index.Require("tokenizer_3"));
                _t5 = Own(T5Encoder.Load(index.Require(T5Folder), ops));
            }
            _transformer = Own(SD3Transformer.Load(index.Require("transformer"), ops));
            _vae = Own(AutoencoderKL.Load(index.Require("vae"), ops));
            CheckComponentsAgree();
        }
        catch
        {
            DisposeModels();
            throw;
        }
    }

    const string T5Folder = "text_encoder_3";

    /// <summary>The widths the glue relies on, checked once so that a mixed-up folder fails at load, naming files.</summary>
    void CheckComponentsAgree()
    {
        var tc = _transformer.Config;
        foreach (var clip in new[] { _clipL, _clipG })
            if (!clip.Config.HasProjection)
                throw new InvalidDataException($"{clip.Config.Path}: SD3 needs CLIPTextModelWithProjection (its text_embeds are the pooled input), found {clip.Config.Architecture}");
        int clipWidth = _clipL.Config.HiddenSize + _clipG.Config.HiddenSize;
        if (clipWidth > tc.JointAttentionDim)
            throw new InvalidDataException($"{Index.Dir}: the CLIP features ({_clipL.Config.HiddenSize} + {_clipG.Config.HiddenSize}) are wider than the transformer's joint_attention_dim {tc.JointAttentionDim}");
        int pooled = _clipL.Config.ProjectionDim + _clipG.Config.ProjectionDim;
        if (pooled != tc.PooledProjectionDim)
            throw new InvalidDataException($"{Index.Dir}: the CLIP projections give {_clipL.Config.ProjectionDim} + {_clipG.Config.ProjectionDim} = {pooled} pooled features, the transformer's pooled_projection_dim is {tc.PooledProjectionDim}");
        if (_t5 is not null && _t5.Config.DModel != tc.JointAttentionDim)
            throw new InvalidDataException($"{Path.Combine(Index.Dir, T5Folder)}: T5 d_model {_t5.Config.DModel} differs from the transformer's joint_attention_dim {tc.JointAttentionDim}");
        if (_vae.Config.LatentChannels != tc.InChannels)
            throw new InvalidDataException($"{_vae.Config.Path}: latent_channels {_vae.Config.LatentChannels} differs from the transformer's in_channels {tc.InChannels}");
    }

    public SD3Transformer Transformer => _transformer;
    public override DiffusionTransformer Denoiser => _transformer;
    public override int DefaultSteps => 28;
    public override float DefaultGuidanceScale => 7.0f;
    public override int SizeMultiple => _vae.Config.SpatialFactor * _transformer.Config.PatchSize;
    public override int DefaultSize => _transformer.Config.SampleSize * _vae.Config.SpatialFactor;
    /// <summary>True when text_encoder_3 is loaded (else its tokens are zeros).</summary>
    public bool HasT5 => _t5 is not null;

    /// <summary>Both CLIP tokenizers pad to the first one's model_max_length (77), as diffusers' tokenizer_max_length.</summary>
    int ClipLength => _tokenizer1.ModelMaxLength ?? 77;
    protected override int DecoderChannels => _vae.Config.FullResolutionChannels;
    protected override int EncoderChannels => _vae.Config.EncoderFullResolutionChannels;
    /// <summary>The joint stream: CLIP's tokens then T5's.</summary>
    protected override int TextTokens(GenerationRequest r) => ClipLength + (r.MaxSequenceLength ?? 256);
    protected override bool TakesImage => true;
    protected override bool TakesStrength => true;

    protected override GenerationResult Run(GenerationRequest request, IProgress<PipelineProgress>? progress)
    {
        var timings = TimingsReportedTo(progress);
        int steps = request.NumInferenceSteps ?? DefaultSteps;
        float guidance = request.GuidanceScale ?? DefaultGuidanceScale;
        int maxT5 = request.MaxSequenceLength ?? 256;
        if (maxT5 > MaxT5Length) throw new ArgumentException($"max sequence length {maxT5} is above {MaxT5Length}, the most SD3 accepts");
        RefuseOtherPipelinesOptions(request);
        var (height, width) = CheckSize(request);
        int batch = request.Prompts.Count * request.NumImagesPerPrompt;
        bool cfg = guidance > 1f;
        int f = _vae.Config.SpatialFactor, c = _transformer.Config.InChannels, p = _transformer.Config.PatchSize;
        int h = height / f, w = width / f;
        var slg = request.SkipGuidanceLayers is { } layers
            ? new SkipLayerGuidance(layers, request.SkipLayerGuidanceScale, request.SkipLayerGuidanceStart, request.SkipLayerGuidanceStop, _transformer.NumBlocks)
            : null;
        if (slg is not null && request.Image is not null)
            throw new ArgumentException("skip-layer guidance is text-to-image's: diffusers' StableDiffusion3Img2ImgPipeline has no skip_guidance_layers; leave them out with an input image");
        // image-to-image: the steps of the schedule that are skipped, checked before any work
        int skipped = request.Image is null ? 0 : ImageToImage.SkippedSteps(steps, request.Strength ?? ImageToImage.DefaultStrength);
        if (slg is not null && !cfg)
            RaiseWarning($"skip-layer guidance needs classifier-free guidance (a guidance scale above 1, got {guidance}); it is not applied, as in diffusers");

        // ---- encode ----
        var sw = Stopwatch.StartNew();
        var positive = SD3PromptTexts.Positive(request);
        var (context, pooled) = EncodeGuided(positive, cfg ? SD3PromptTexts.Negative(request, batch) : null, maxT5, request.ClipSkip ?? 0);
        using var contextT = context;
        using var pooledT = pooled;
        var imageLatents = request.Image is { } image ? ImageToImage.EncodeSample(Ops, _vae, image, height, width, request, Trace, EncodeMoments) : null;
        timings.Add("encode", sw.Elapsed);

        // ---- denoise ----
        sw.Restart();
        // Dynamic shifting (off in the released SD3 configs) takes μ from the number of image tokens.
        double? mu = _scheduler.Options.UseDynamicShifting ? _scheduler.CalculateMu((h / p) * (w / p)) : null;
        _scheduler.SetTimesteps(steps, mu);
        if (skipped > 0) _scheduler.SkipSteps(skipped);
        var latents = imageLatents is null ? InitialLatents(request, batch, c, h, w, _scheduler.InitNoiseSigma)
            : ImageToImage.StartLatents(imageLatents, ImageToImage.Noise(request, batch, c, h, w), _scheduler.Sigmas[0]);
        if (imageLatents is not null) Trace?.Add("start_latents", (float[])latents.Clone(), batch, c, h, w);
        int outChannels = _transformer.Config.OutChannels;
        int n = _scheduler.Timesteps.Length;
        var job = new DenoiseJob
        {
            Model = _transformer,
            Scheduler = _scheduler,
            NewScheduler = () =>
            {
                var s = FlowMatchScheduler.Load(Index);
                s.SetTimesteps(steps, mu);
                if (skipped > 0) s.SkipSteps(skipped);
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
            },
            Combine = GuidedCombine(batch, cfg, guidance, outChannels, c),
            ExtraGuidance = slg is null || !cfg ? null : (ops, i, latents, output, noise) =>
            {
                if (!slg.Applies(i, n)) return;
                // The positive rows alone: the latents and the prompt's (not the negative prompt's) embeddings.
                using var x = ops.FromHost(latents, batch, c, h, w);
                var inputs = new DitInputs
                {
                    HiddenStates = x,
                    EncoderHiddenStates = contextT.Slice(0, batch, batch),
                    PooledProjections = pooledT.Slice(0, batch, batch),
                    Timestep = TimestepRows(_scheduler.Timesteps[i], batch),
                };
                using var skipped = slg.ForwardSkipping(ops, _transformer, inputs);
                slg.Apply(output, ops.ToHost(skipped), noise, batch, outChannels, c, h * w);
            },
        };
        Loop.Run(Ops, job, progress);
        Trace?.Add("latents", job.Latents, batch, c, h, w);
        timings.Add("denoise", sw.Elapsed);

        // ---- decode ----
        sw.Restart();
        var images = Decode(_vae, job.Latents, batch, c, h, w);
        timings.Add("decode", sw.Elapsed);
        return new GenerationResult(images, timings, _scheduler.Timesteps.Length, height, width, request.Seed);
    }

    /// <summary>Context and pooled rows for the positive texts, preceded under guidance by the negative ones. diffusers
    /// encodes the negative prompt without clip_skip, so with one the halves are encoded apart.</summary>
    (Tensor Context, Tensor Pooled) EncodeGuided(SD3PromptTexts positive, SD3PromptTexts? negative, int maxT5, int clipSkip)
    {
        if (negative is null) return Encode(positive, maxT5, clipSkip, guided: false, trace: true);
        if (clipSkip == 0) return Encode(negative.Concat(positive), maxT5, 0, guided: true, trace: true);
        var (nc, np) = Encode(negative, maxT5, 0, guided: false, trace: false);
        using (nc) using (np)
        {
            var (pc, pp) = Encode(positive, maxT5, clipSkip, guided: false, trace: false);
            using (pc) using (pp)
            {
                var context = Ops.Concat(0, nc, pc);
                var pooled = Ops.Concat(0, np, pp);
                if (Trace is { } trace)
                {
                    trace.AddGuided(Ops, "prompt_embeds", context, true);
                    trace.AddGuided(Ops, "pooled_prompt_embeds", pooled, true);
                }
                return (context, pooled);
            }
        }
    }

    /// <summary>PixArt's option has no meaning here: refused rather than silently ignored (Flux's true CFG is refused
    /// by every pipeline but Flux's, in Generate).</summary>
    static void RefuseOtherPipelinesOptions(GenerationRequest r)
    {
        if (r.UseResolutionBinning == true) throw new ArgumentException("resolution binning is a PixArt option");
    }

    /// <summary>
    /// encoder_hidden_states [R, L_clip + L_t5, joint_attention_dim] and pooled_projections [R, P_L + P_G] for the
    /// given rows, as diffusers' encode_prompt (each text goes to all three encoders). <paramref name="guided"/> says
    /// the rows are [negative; positive] halves, which is how <see cref="TextToImagePipeline.Trace"/> names them.
    /// </summary>
    public (Tensor Context, Tensor Pooled) EncodePrompts(IReadOnlyList<string> texts, int maxT5Length, bool guided = false)
        => Encode(SD3PromptTexts.Same(texts), maxT5Length, 0, guided, trace: true);

    /// <summary>As <see cref="EncodePrompts(IReadOnlyList{string}, int, bool)"/> with each encoder's own texts and
    /// CLIP's hidden_states[−(clipSkip + 2)] as the CLIP features. Without text_encoder_3 the T5 part is
    /// <paramref name="maxT5Length"/> zero tokens, as diffusers.</summary>
    public (Tensor Context, Tensor Pooled) Encode(SD3PromptTexts texts, int maxT5Length, int clipSkip, bool guided, bool trace)
    {
        int rows = texts.Count, joint = _transformer.Config.JointAttentionDim;
        var tr = trace ? Trace : null;
        var tokL = _tokenizer1.Encode(texts.ClipL, ClipLength);
        var tokG = _tokenizer2.Encode(texts.ClipG, ClipLength);
        ReportTruncation(tokL, texts.ClipL, _tokenizer1, ClipTruncationReason(ClipLength));
        if (!texts.ClipG.SequenceEqual(texts.ClipL)) ReportTruncation(tokG, texts.ClipG, _tokenizer2, ClipTruncationReason(ClipLength));
        tr?.AddTokens("input_ids_1", null, tokL, guided);
        tr?.AddTokens("input_ids_2", null, tokG, guided);
        using var outL = _clipL.Encode(Ops, tokL.Ids, rows, tokL.Length, clipSkip);
        using var outG = _clipG.Encode(Ops, tokG.Ids, rows, tokG.Length, clipSkip);

        // CLIP features side by side, zero-padded on the feature axis to the T5 width.
        var dtype = outL.PenultimateHiddenState.DType;
        int clipWidth = outL.PenultimateHiddenState.Dim(2) + outG.PenultimateHiddenState.Dim(2);
        Tensor clip;
        if (clipWidth < joint)
        {
            using var pad = Ops.Zeros(dtype, rows, ClipLength, joint - clipWidth);
            clip = Ops.Concat(2, outL.PenultimateHiddenState, outG.PenultimateHiddenState, pad);
        }
        else clip = Ops.Concat(2, outL.PenultimateHiddenState, outG.PenultimateHiddenState);

        using (clip)
        {
            Tensor t5;
            if (_t5 is not null)
            {
                var tok3 = _tokenizer3!.Encode(texts.T5, maxT5Length);
                ReportTruncation(tok3, texts.T5, _tokenizer3);
                tr?.AddTokens("input_ids_3", null, tok3, guided);
                t5 = _t5.Encode(Ops, tok3.Ids, null, rows, tok3.Length);   // no mask: the pipeline gives T5 none
            }
            else t5 = Ops.Zeros(dtype, rows, maxT5Length, joint);
            using (t5)
            {
                var context = Ops.Concat(1, clip, t5);
                var pooled = Ops.Concat(1, outL.TextEmbeds!, outG.TextEmbeds!);
                if (tr is not null)
                {
                    tr.AddGuided(Ops, "prompt_embeds", context, guided);
                    tr.AddGuided(Ops, "pooled_prompt_embeds", pooled, guided);
                }
                return (context, pooled);
            }
        }
    }
}

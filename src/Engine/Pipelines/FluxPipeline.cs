using System.Diagnostics;
using XDit.Engine.Execution;
using XDit.Engine.Samplers;
using XDit.Kernels;
using XDit.Models;
using XDit.Models.Clip;
using XDit.Models.Flux;
using XDit.Models.T5;
using XDit.Models.Tokenizers;
using XDit.Models.Vae;
using XDit.Runtime;

namespace XDit.Engine.Pipelines;

/// <summary>
/// FluxPipeline (FLUX.1-dev, FLUX.1-schnell): CLIP-L's pooled output and T5's tokens as the text conditioning,
/// latents packed into 2×2-patch tokens with (row, col) position ids, flow-match Euler on the sigmas
/// linspace(1, 1/n, n) shifted by μ from the image token count, σ given as the timestep (the model multiplies by
/// 1000). Guidance-distilled: the guidance scale goes into the guidance embedder when the transformer has one (dev);
/// schnell has none and ignores it. diffusers' "true CFG": with true_cfg_scale above 1 and a negative prompt, the
/// transformer also runs on the negative prompt (as [negative; positive] rows of one pass, which CFG parallelism can
/// split) and noise = neg + true_cfg_scale·(pos − neg).
/// Given initial latents (<see cref="GenerationRequest.Latents"/>) are unpacked [B, C, h, w] like the other pipelines';
/// they are packed here.
/// With an input image (a folder naming FluxPipeline or FluxImg2ImgPipeline) it runs FluxImg2ImgPipeline
/// (<see cref="ImageToImage"/>): the image, resized to the generated size, encoded and renoised by the strength,
/// starts the last steps of the schedule (μ still from the whole image's tokens, as there).
/// </summary>
/// <remarks>Not sealed: <see cref="FluxKontextPipeline"/> is this pipeline with reference-image tokens
/// (<see cref="RunFlux"/>).</remarks>
public class FluxPipeline : TextToImagePipeline
{
    /// <summary>diffusers refuses longer T5 prompts.</summary>
    public const int MaxT5Length = 512;
    /// <summary>diffusers' default_sample_size (the transformer config has no sample_size).</summary>
    public const int DefaultSampleSize = 128;

    readonly ITextTokenizer _clipTokenizer, _t5Tokenizer;
    readonly ClipTextModel _clip;
    readonly T5Encoder _t5;
    readonly FluxTransformer _transformer;
    readonly AutoencoderKL _vae;
    readonly FlowMatchEulerDiscreteScheduler _scheduler;

    public FluxPipeline(ModelIndex index, IOps ops) : base(index, ops)
    {
        try
        {
            _scheduler = FlowMatchScheduler.Load(index);
            _clipTokenizer = TokenizerLoader.Load(index.Require("tokenizer"));
            _t5Tokenizer = TokenizerLoader.Load(index.Require("tokenizer_2"));
            _clip = Own(ClipTextModel.Load(index.Require("text_encoder"), ops));
            _t5 = Own(T5Encoder.Load(index.Require(T5Folder), ops));
            _transformer = Own(FluxTransformer.Load(index.Require("transformer"), ops));
            _vae = Own(AutoencoderKL.Load(index.Require("vae"), ops));
            CheckComponentsAgree();
        }
        catch
        {
            DisposeModels();
            throw;
        }
    }

    const string T5Folder = "text_encoder_2";

    void CheckComponentsAgree()
    {
        var tc = _transformer.Config;
        if (_clip.Config.HiddenSize != tc.PooledProjectionDim)
            throw new InvalidDataException($"{_clip.Config.Path}: CLIP hidden_size {_clip.Config.HiddenSize} differs from the transformer's pooled_projection_dim {tc.PooledProjectionDim}");
        if (_t5.Config.DModel != tc.JointAttentionDim)
            throw new InvalidDataException($"{Path.Combine(Index.Dir, T5Folder)}: T5 d_model {_t5.Config.DModel} differs from the transformer's joint_attention_dim {tc.JointAttentionDim}");
        if (tc.PatchSize != 1)
            throw new NotSupportedException($"{Index.Dir}: the Flux transformer's patch_size is {tc.PatchSize}; the pipeline packs 2×2 latent patches itself and needs 1");
        if (4 * _vae.Config.LatentChannels != tc.InChannels)
            throw new InvalidDataException($"{_vae.Config.Path}: latent_channels {_vae.Config.LatentChannels} packed 2×2 give {4 * _vae.Config.LatentChannels} features, the transformer's in_channels is {tc.InChannels}");
        if (tc.OutChannels != tc.InChannels)
            throw new InvalidDataException($"{Index.Dir}: the Flux transformer's out_channels {tc.OutChannels} differs from in_channels {tc.InChannels}");
    }

    public FluxTransformer Transformer => _transformer;
    /// <summary>The VAE (Flux Kontext encodes its reference image with it).</summary>
    protected AutoencoderKL Vae => _vae;
    public override DiffusionTransformer Denoiser => _transformer;
    public override int DefaultSteps => 28;
    public override float DefaultGuidanceScale => 3.5f;
    /// <summary>VAE factor × 2: latents are packed in 2×2 patches.</summary>
    public override int SizeMultiple => _vae.Config.SpatialFactor * 2;
    protected override string SizeMultipleMeaning => "VAE factor × 2 for the 2×2 latent packing";
    public override int DefaultSize => DefaultSampleSize * _vae.Config.SpatialFactor;
    /// <summary>True for FLUX.1-dev-like models (guidance_embeds), false for schnell.</summary>
    public bool UsesGuidanceEmbedding => _transformer.Config.GuidanceEmbeds;

    int ClipLength => _clipTokenizer.ModelMaxLength ?? 77;
    protected override int DecoderChannels => _vae.Config.FullResolutionChannels;
    protected override int EncoderChannels => _vae.Config.EncoderFullResolutionChannels;
    protected override bool TakesTrueCfg => true;
    protected override bool TakesImage => true;
    protected override bool TakesStrength => true;

    /// <summary>Flux's guidance is an input of the model, not a second row: only true CFG doubles the rows.</summary>
    protected override (long Images, long Rows) ModelRows(GenerationRequest r)
    {
        long images = (long)r.Prompts.Count * r.NumImagesPerPrompt;
        return (images, r.TrueCfgScale > 1f && r.NegativePrompt is not null ? 2 * images : images);
    }

    protected override GenerationResult Run(GenerationRequest request, IProgress<PipelineProgress>? progress)
    {
        CheckFluxOptions(request);
        var (height, width) = CheckSize(request);
        return RunFlux(request, progress, height, width, null, request.Image);
    }

    /// <summary>Refuses what Flux does not take, before the size is looked at.</summary>
    protected static void CheckFluxOptions(GenerationRequest request)
    {
        if ((request.MaxSequenceLength ?? 512) is var maxT5 && maxT5 > MaxT5Length)
            throw new ArgumentException($"max sequence length {maxT5} is above {MaxT5Length}, the most Flux accepts");
        RefuseSD3Options(request, "Flux");
        if (request.UseResolutionBinning == true) throw new ArgumentException("resolution binning is a PixArt option");
    }

    /// <summary>Tokens the transformer reads after the noisy ones and whose output is dropped (Flux Kontext's
    /// reference image): <paramref name="Packed"/> [Count, features] of one image, the same for every row, and their
    /// position ids <paramref name="Ids"/> [Count, 3].</summary>
    protected sealed record ReferenceTokens(float[] Packed, float[] Ids, int Count);

    /// <summary>The whole generation at <paramref name="height"/>×<paramref name="width"/> (already checked, as the
    /// options by <see cref="CheckFluxOptions"/>). With
    /// <paramref name="encodeReference"/> (called in the encode stage; null result: none), every step joins the
    /// reference tokens after the noisy ones (their ids after the noisy ids), and keeps the first N output tokens,
    /// as FluxKontextPipeline; the schedule's μ counts the noisy tokens only, as there. With
    /// <paramref name="startImage"/> it runs image-to-image (<see cref="ImageToImage"/>).</summary>
    protected GenerationResult RunFlux(GenerationRequest request, IProgress<PipelineProgress>? progress, int height, int width,
        Func<ReferenceTokens?>? encodeReference, InputImage? startImage = null)
    {
        var timings = TimingsReportedTo(progress);
        int steps = request.NumInferenceSteps ?? DefaultSteps;
        float guidance = request.GuidanceScale ?? DefaultGuidanceScale;
        int maxT5 = request.MaxSequenceLength ?? 512;
        int batch = request.Prompts.Count * request.NumImagesPerPrompt;
        int f = _vae.Config.SpatialFactor, c = _vae.Config.LatentChannels;
        int h = height / f, w = width / f, tokens = (h / 2) * (w / 2), features = 4 * c;
        float trueCfgScale = request.TrueCfgScale ?? 1f;
        bool trueCfg = trueCfgScale > 1f && request.NegativePrompt is not null;
        if (trueCfgScale > 1f && !trueCfg)
            RaiseWarning($"true_cfg_scale {trueCfgScale} needs a negative prompt; without one true CFG stays off, as in diffusers");
        int rows = trueCfg ? 2 * batch : batch;
        // image-to-image: the steps of the schedule that are skipped, checked before any work
        int skipped = startImage is null ? 0 : ImageToImage.SkippedSteps(steps, request.Strength ?? ImageToImage.DefaultStrength);

        // ---- encode ----
        var sw = Stopwatch.StartNew();
        var texts = PromptRows.Positive(request);
        var (context, pooled) = trueCfg ? EncodeWithNegative(texts, request.NegativePrompt!, maxT5) : EncodePrompts(texts, maxT5);
        using var contextT = context;
        using var pooledT = pooled;
        var reference = encodeReference?.Invoke();
        var imageLatents = startImage is null ? null : ImageToImage.EncodeSample(Ops, _vae, startImage, height, width, request, Trace, EncodeMoments);
        if (reference is not null && reference.Packed.Length != (long)reference.Count * features)
            throw new ArgumentException($"the reference tokens hold {reference.Packed.Length} values, expected {reference.Count}x{features}");
        int allTokens = tokens + (reference?.Count ?? 0);
        var ids = FluxLatents.ImageIds(h, w);
        if (reference is not null) ids = [.. ids, .. reference.Ids];
        using var imgIds = UploadF32(ids, allTokens, 3);
        using var txtIds = UploadF32(new float[contextT.Dim(1) * 3], contextT.Dim(1), 3);
        // the reference tokens of every row the model runs on ([negative; positive] under true CFG): one image for all
        using var referenceRows = reference is null ? null : Ops.FromHost(Repeat(reference.Packed, rows), rows, reference.Count, features);
        using var joined = new JoinedTokens();
        if (Trace is { } trace)
        {
            trace.AddGuided(Ops, "prompt_embeds", contextT, trueCfg);
            trace.AddGuided(Ops, "pooled_prompt_embeds", pooledT, trueCfg);
            trace.Add("text_ids", new float[contextT.Dim(1) * 3], contextT.Dim(1), 3);
            if (reference is not null)
            {
                trace.Add("image_latents", Repeat(reference.Packed, batch), batch, reference.Count, features);
                trace.Add("img_ids", ids, allTokens, 3);
            }
        }
        timings.Add("encode", sw.Elapsed);

        // ---- denoise ----
        sw.Restart();
        var sigmas = NoiseSchedules.NumpyLinspace(1.0, 1.0 / steps, steps).Select(s => (float)s).ToArray();
        double mu = _scheduler.CalculateMu(tokens);   // used only when the scheduler shifts dynamically (dev)
        _scheduler.SetTimesteps(steps, mu, sigmas);
        if (skipped > 0) _scheduler.SkipSteps(skipped);
        var latents = imageLatents is null ? InitialLatents(request, batch, c, h, w, _scheduler.InitNoiseSigma)
            : ImageToImage.StartLatents(imageLatents, ImageToImage.Noise(request, batch, c, h, w), _scheduler.Sigmas[0]);
        var packed = FluxLatents.Pack(latents, batch, c, h, w);
        if (imageLatents is not null) Trace?.Add("start_latents", (float[])packed.Clone(), batch, tokens, features);
        // Without true CFG the packed velocity is the noise prediction as it is; with it, neg + s·(pos − neg).
        Action<float[], float[], int> combine = trueCfg ? GuidedCombine(batch, true, trueCfgScale, 1, 1)
            : (output, noise, spatial) => Array.Copy(output, noise, (long)batch * spatial);
        if (reference is not null) combine = NoisyTokensOnly(combine, tokens, allTokens, features);
        var job = new DenoiseJob
        {
            Model = _transformer,
            Scheduler = _scheduler,
            NewScheduler = () =>
            {
                var s = FlowMatchScheduler.Load(Index);
                s.SetTimesteps(steps, mu, sigmas);
                if (skipped > 0) s.SkipSteps(skipped);
                return s;
            },
            Latents = packed,
            Batch = batch,
            LatentShape = new[] { tokens, features },
            Cfg = trueCfg,
            BuildInputs = (ops, x, i) => new DitInputs
            {
                HiddenStates = referenceRows is null ? x : joined.Join(ops, x, referenceRows),
                EncoderHiddenStates = contextT,
                PooledProjections = pooledT,
                // diffusers passes (σ·1000 in float32) / 1000; the model scales by 1000 again.
                Timestep = TimestepRows(_scheduler.Timesteps[i] / 1000f, x.Dim(0)),
                Guidance = UsesGuidanceEmbedding ? Enumerable.Repeat(guidance, x.Dim(0)).ToArray() : null,
                ImgIds = imgIds,
                TxtIds = txtIds,
            },
            Combine = combine,
        };
        Loop.Run(Ops, job, progress);
        Trace?.Add("latents", job.Latents, batch, tokens, features);
        timings.Add("denoise", sw.Elapsed);

        // ---- decode ----
        sw.Restart();
        var images = Decode(_vae, FluxLatents.Unpack(job.Latents, batch, c, h, w), batch, c, h, w);
        timings.Add("decode", sw.Elapsed);
        return new GenerationResult(images, timings, _scheduler.Timesteps.Length, height, width, request.Seed);
    }

    /// <summary><paramref name="values"/> <paramref name="times"/> times over.</summary>
    static float[] Repeat(float[] values, int times)
    {
        var all = new float[(long)values.Length * times];
        for (int r = 0; r < times; r++) values.CopyTo(all, (long)r * values.Length);
        return all;
    }

    /// <summary>diffusers' noise_pred[:, :N]: <paramref name="combine"/> applied to the first
    /// <paramref name="noisy"/> of each output row's <paramref name="all"/> tokens.</summary>
    static Action<float[], float[], int> NoisyTokensOnly(Action<float[], float[], int> combine, int noisy, int all, int features)
        => (output, noise, spatial) =>
        {
            long full = (long)all * features, kept = (long)noisy * features;
            if (output.Length % full != 0)
                throw new InvalidOperationException($"the transformer returned {output.Length} values, not rows of {all} tokens x {features} features");
            long rows = output.Length / full;
            var first = new float[rows * kept];
            for (long r = 0; r < rows; r++) Array.Copy(output, r * full, first, r * kept, kept);
            combine(first, noise, spatial);
        };

    /// <summary>The noisy tokens joined with the reference tokens for one step's model input; each step's joined
    /// tensor is freed when the next step joins (the executor is done with it by then) or when the run ends.</summary>
    sealed class JoinedTokens : IDisposable
    {
        Tensor? _last;

        public Tensor Join(IOps ops, Tensor noisy, Tensor reference)
        {
            if (noisy.Dim(0) != reference.Dim(0))
                throw new InvalidOperationException($"the step's model input has {noisy.Dim(0)} rows, the reference tokens {reference.Dim(0)}");
            _last?.Dispose();
            _last = null;
            _last = ops.Concat(1, noisy, reference);
            return _last;
        }

        public void Dispose()
        {
            _last?.Dispose();
            _last = null;
        }
    }

    /// <summary>[negative; positive] rows for true CFG: the negative prompt encoded first, so that a trace keeps
    /// the prompt's token ids.</summary>
    (Tensor Context, Tensor Pooled) EncodeWithNegative(List<string> positive, string negative, int maxT5)
    {
        var (nc, np) = EncodePrompts(Enumerable.Repeat(negative, positive.Count).ToList(), maxT5);
        using (nc) using (np)
        {
            var (pc, pp) = EncodePrompts(positive, maxT5);
            using (pc) using (pp)
                return (Ops.Concat(0, nc, pc), Ops.Concat(0, np, pp));
        }
    }

    /// <summary>encoder_hidden_states [R, maxT5Length, joint_attention_dim] from T5 (no mask) and
    /// pooled_projections [R, CLIP width] (CLIP's pooler output at the EOS token, no projection).</summary>
    public (Tensor Context, Tensor Pooled) EncodePrompts(IReadOnlyList<string> texts, int maxT5Length)
    {
        int rows = texts.Count;
        var tokClip = _clipTokenizer.Encode(texts, ClipLength);
        ReportTruncation(tokClip, texts, _clipTokenizer, ClipTruncationReason(ClipLength));
        Trace?.AddTokens("input_ids_1", null, tokClip, cfg: false);
        Tensor pooled;
        using (var clipOut = _clip.Encode(Ops, tokClip.Ids, rows, tokClip.Length))
            pooled = Ops.Contiguous(clipOut.Pooled);
        try
        {
            var tokT5 = _t5Tokenizer.Encode(texts, maxT5Length);
            ReportTruncation(tokT5, texts, _t5Tokenizer);
            Trace?.AddTokens("input_ids_2", null, tokT5, cfg: false);
            return (_t5.Encode(Ops, tokT5.Ids, null, rows, tokT5.Length), pooled);
        }
        catch
        {
            pooled.Dispose();
            throw;
        }
    }

    /// <summary>Position ids stay float32 on every backend (the RoPE tables are built from them in float64).</summary>
    Tensor UploadF32(float[] data, params int[] shape)
    {
        using var host = Tensor.FromArray(data, shape);
        return Ops.Upload(host);
    }
}

using System.Diagnostics;
using XDit.Engine.Execution;
using XDit.Engine.Samplers;
using XDit.Kernels;
using XDit.Models;
using XDit.Models.CogVideoX;
using XDit.Models.T5;
using XDit.Models.Tokenizers;
using XDit.Models.Vae.CogVideoX;
using XDit.Runtime;

namespace XDit.Engine.Pipelines;

/// <summary>
/// CogVideoXPipeline (text to video; CogVideoX 1.0 2b/5b and 1.5 5b): T5 text encoding of the prompt and the negative
/// prompt (max_sequence_length 226, no attention mask, as diffusers), the CogVideoX transformer on latents
/// [B, F_lat, C, h, w] with classifier-free guidance on the rows [negative; positive] (optionally use_dynamic_cfg's
/// growing scale) and the 3-D RoPE tables of <see cref="CogVideoXRotaryTable"/> where the model uses RoPE, the
/// folder's CogVideoX DDIM or DPM sampler, then the causal video VAE on latents / scaling_factor, frames mapped to
/// [0, 1]. F_lat = (num_frames − 1)/4 + 1; for 1.5 (patch_size_t) the latent frames are padded at the front to a
/// multiple of patch_size_t and the padding dropped before decoding, as diffusers.
/// </summary>
public sealed class CogVideoXPipeline : TextToVideoPipeline
{
    readonly ITextTokenizer _tokenizer;
    readonly T5Encoder _textEncoder;
    readonly CogVideoXTransformer _transformer;
    readonly AutoencoderKLCogVideoX _vae;
    readonly IScheduler _scheduler;

    public CogVideoXPipeline(ModelIndex index, IOps ops) : base(index, ops)
    {
        try
        {
            _tokenizer = TokenizerLoader.Load(index.Require("tokenizer"));
            _scheduler = SchedulerFactory.Load(index.Require("scheduler"));
            _textEncoder = Own(T5Encoder.Load(index.Require("text_encoder"), ops));
            _transformer = Own(CogVideoXTransformer.Load(index.Require("transformer"), ops));
            _vae = Own(AutoencoderKLCogVideoX.Load(index.Require("vae"), ops));
            if (_transformer.Config.OutChannels != _transformer.Config.InChannels)
                throw new InvalidDataException($"{index.Require("transformer")}/config.json: out_channels {_transformer.Config.OutChannels} differs from in_channels {_transformer.Config.InChannels}; the pipeline steps the latents with the prediction");
            if (_vae.Config.LatentChannels != _transformer.Config.InChannels)
                throw new InvalidDataException($"{index.Require("vae")}/config.json: latent_channels {_vae.Config.LatentChannels}, but the transformer's in_channels is {_transformer.Config.InChannels}");
        }
        catch
        {
            DisposeModels();
            throw;
        }
    }

    public CogVideoXTransformer Transformer => _transformer;
    public override DiffusionTransformer Denoiser => _transformer;
    public override int DefaultSteps => 50;
    public override float DefaultGuidanceScale => 6f;
    public override int DefaultNumFrames => _transformer.Config.SampleFrames;
    /// <summary>Pixels per latent pixel (8) times the patch size: the latent grid must be whole patches.</summary>
    public override int SizeMultiple => _vae.Config.SpatialFactor * _transformer.Config.PatchSize;
    /// <summary>diffusers' default height (sample_height · 8, 480); the default width is sample_width · 8 (720).</summary>
    public override int DefaultSize => _transformer.Config.SampleHeight * _vae.Config.SpatialFactor;
    int DefaultWidth => _transformer.Config.SampleWidth * _vae.Config.SpatialFactor;

    protected override int DecoderChannels => _vae.Config.BlockOutChannels[0];
    protected override int TextTokens(GenerationRequest r) => r.MaxSequenceLength ?? 226;
    protected override (int Height, int Width) EstimatedSize(GenerationRequest r) => (r.Height ?? DefaultSize, r.Width ?? DefaultWidth);

    /// <summary>The other latent frames' tokens: the estimate counts one frame's (the image pipelines' one picture).</summary>
    protected override double ExtraTokens(GenerationRequest r)
    {
        var (height, width) = EstimatedSize(r);
        double perFrame = (double)height * width / ((double)SizeMultiple * SizeMultiple);
        return (LatentFrames(r).LatentFrames / _transformer.Config.FramesPerPatch - 1) * perFrame;
    }

    /// <summary>The video VAE's own estimate (its largest batch of latent frames, the cache, the whole video).</summary>
    protected override double DecodeBytes(GenerationRequest r, long images, double pixels, long bytes, bool cpu)
    {
        var (height, width) = EstimatedSize(r);
        var (frames, padding) = LatentFrames(r);
        int f = _vae.Config.SpatialFactor;
        return _vae.EstimateDecodeBytes((int)images, frames - padding, height / f, width / f, cpu);
    }

    /// <summary>The latent frames a request denoises: (num_frames − 1)/4 + 1, plus the front padding to a multiple of
    /// patch_size_t (1.5), which is also returned.</summary>
    public (int LatentFrames, int Padding) LatentFrames(GenerationRequest r)
    {
        int frames = r.NumFrames ?? DefaultNumFrames;
        int latent = (frames - 1) / _vae.Config.TemporalCompressionRatio + 1;
        int pt = _transformer.Config.FramesPerPatch;
        int pad = latent % pt == 0 ? 0 : pt - latent % pt;
        return (latent + pad, pad);
    }

    /// <summary>diffusers' use_dynamic_cfg scale at timestep t of n steps: 1 + s·(1 − cos(π·((n − t)/n)^5))/2, in
    /// double as Python computes it.</summary>
    public static float DynamicGuidanceScale(float scale, int steps, float timestep)
        => (float)(1 + scale * ((1 - Math.Cos(Math.PI * Math.Pow((steps - (double)timestep) / steps, 5.0))) / 2));

    protected override VideoGenerationResult RunVideo(GenerationRequest request, IProgress<PipelineProgress>? progress)
    {
        var timings = TimingsReportedTo(progress);
        int steps = request.NumInferenceSteps ?? DefaultSteps;
        float guidance = request.GuidanceScale ?? DefaultGuidanceScale;
        RefuseSD3Options(request, "CogVideoX");
        if (request.NumImagesPerPrompt != 1)
            throw new ArgumentException($"CogVideoX makes one video per prompt (diffusers fixes num_videos_per_prompt to 1), got {request.NumImagesPerPrompt}: repeat the prompt instead");
        var (height, width) = CheckSize(request with { Height = request.Height ?? DefaultSize, Width = request.Width ?? DefaultWidth });
        var (frames, padding) = LatentFrames(request);
        int batch = request.Prompts.Count;
        bool cfg = guidance > 1f;
        var tc = _transformer.Config;
        int f = _vae.Config.SpatialFactor, c = tc.InChannels;
        int h = height / f, w = width / f;
        int rowValues = checked(frames * c * h * w);

        // ---- encode ----
        var sw = Stopwatch.StartNew();
        int maxLength = TextTokens(request);
        var texts = PromptRows.WithNegative(request, cfg);
        var tokens = TokenizeRows(_tokenizer, texts, maxLength, cfg);
        // diffusers calls the T5 encoder without the attention mask: the padding tokens are attended to
        using var textStates = _textEncoder.Encode(Ops, tokens.Ids, null, tokens.Batch, tokens.Length);
        Trace?.AddGuided(Ops, "prompt_embeds", textStates, cfg);
        timings.Add("encode", sw.Elapsed);

        // ---- denoise ----
        sw.Restart();
        PrepareScheduler(_scheduler, steps, request, batch, rowValues);
        Tensor? cos = null, sin = null;
        try
        {
            if (tc.UseRotaryPositionalEmbeddings)
            {
                var (cosHost, sinHost) = CogVideoXRotaryTable.Build(tc, frames, height, width, f);
                int tokensPerVideo = cosHost.Length / tc.AttentionHeadDim;
                cos = Ops.FromHost(cosHost, tokensPerVideo, tc.AttentionHeadDim);
                sin = Ops.FromHost(sinHost, tokensPerVideo, tc.AttentionHeadDim);
            }
            var job = new DenoiseJob
            {
                Model = _transformer,
                Scheduler = _scheduler,
                NewScheduler = () => FolderScheduler(steps, request, batch, rowValues),
                Latents = StartVideoLatents(request, [batch, frames, c, h, w], "batch, latent frames, channels, height / 8, width / 8", _scheduler.InitNoiseSigma),
                Batch = batch,
                LatentShape = new[] { frames, c, h, w },
                Cfg = cfg,
                BuildInputs = (ops, x, i) => new DitInputs
                {
                    HiddenStates = x,
                    EncoderHiddenStates = textStates,
                    Timestep = TimestepRows(_scheduler.Timesteps[i], x.Dim(0)),
                    ImageRotaryCos = cos,
                    ImageRotarySin = sin,
                },
                // one latent row is one guided unit (the prediction has the latents' layout [F, C, h, w])
                Combine = GuidedCombine(batch, cfg, guidance, 1, 1),
                // use_dynamic_cfg: the same guidance again with the step's scale (the loop's Combine has a fixed one)
                ExtraGuidance = request.UseDynamicCfg && cfg
                    ? (ops, i, latents, rows, noise) => Guidance.Combine(rows, noise, batch, true, DynamicGuidanceScale(guidance, steps, _scheduler.Timesteps[i]), 1, 1, rowValues)
                    : null,
            };
            Loop.Run(Ops, job, progress);
            var latents = job.Latents;
            Trace?.Add("latents", latents, batch, frames, c, h, w);
            timings.Add("denoise", sw.Elapsed);

            // ---- decode ----
            sw.Restart();
            var videos = DecodeVideo(latents, batch, frames, padding, c, h, w);
            timings.Add("decode", sw.Elapsed);
            return new VideoGenerationResult(videos, timings, _scheduler.Timesteps.Length, videos[0].Height, videos[0].Width, videos[0].FrameCount, request.Seed);
        }
        finally
        {
            cos?.Dispose();
            sin?.Dispose();
        }
    }

    /// <summary>decode_latents and postprocess_video: the padding frames dropped, z = (1/scaling_factor)·latents as
    /// [B, C, F, h, w], the VAE's video [B, 3, T, H, W] mapped by x/2 + 0.5 into [0, 1], one [T, 3, H, W] per video.</summary>
    List<GeneratedVideo> DecodeVideo(float[] latents, int batch, int frames, int padding, int c, int h, int w)
    {
        FiniteCheck.Require(latents, "the denoised latents",
            "a NaN or infinite weight, initial latent or guidance result reached them (the video would be black or white)");
        int kept = frames - padding, plane = c * h * w;
        // diffusers multiplies by the reciprocal (1 / scaling_factor * latents)
        float inv = (float)(1.0 / _vae.Config.ScalingFactor);
        var z = new float[batch * kept * plane];
        for (int b = 0; b < batch; b++)
            for (int i = 0; i < kept * plane; i++)
                z[b * kept * plane + i] = inv * latents[(b * frames + padding) * plane + i];
        using var zt = Ops.FromHost(z, batch, kept, c, h, w);
        using var video = _vae.Decode(Ops, zt.Permute(0, 2, 1, 3, 4));
        var px = Ops.ToHost(video);
        FiniteCheck.Require(px, "the decoded frames", "the VAE's weights or config (scaling_factor) produced them");
        return GeneratedVideo.FromVaeOutput(px, batch, video.Dim(1), video.Dim(2), video.Dim(3), video.Dim(4));
    }
}

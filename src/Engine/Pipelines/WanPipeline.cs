using System.Diagnostics;
using XDit.Engine.Execution;
using XDit.Engine.Samplers;
using XDit.Kernels;
using XDit.Models;
using XDit.Models.T5;
using XDit.Models.Tokenizers;
using XDit.Models.Vae.Wan;
using XDit.Models.Wan;
using XDit.Runtime;

namespace XDit.Engine.Pipelines;

/// <summary>
/// WanPipeline (Wan 2.1 text to video, 1.3B and 14B): the prompt and the negative prompt cleaned as diffusers'
/// prompt_clean does without ftfy (<see cref="WanPromptClean"/>), UMT5 text encoding padded to max_sequence_length
/// (512) with the attention mask, each row's states kept for its own tokens and zeroed past them; the Wan transformer
/// on latents [B, 16, F_lat, h, w] (F_lat = (num_frames − 1)/4 + 1, h = height/8) with one timestep per row and
/// classifier-free guidance on the rows [negative; positive] (diffusers runs two passes; the rows are independent,
/// so one batch computes the same), stepped by the folder's scheduler (Wan 2.1: UniPC on flow sigmas with its
/// flow_shift); then AutoencoderKLWan on z = latents · latents_std + latents_mean, frames mapped to [0, 1].
/// num_frames that is not 4k + 1 is rounded down to one, with a warning, as diffusers does. Wan 2.2's two-expert
/// folders (transformer_2, boundary_ratio, guidance_scale_2) are refused.
/// </summary>
public sealed class WanPipeline : TextToVideoPipeline
{
    readonly ITextTokenizer _tokenizer;
    readonly T5Encoder _textEncoder;
    readonly WanTransformer _transformer;
    readonly AutoencoderKLWan _vae;
    readonly IScheduler _scheduler;

    public WanPipeline(ModelIndex index, IOps ops) : base(index, ops)
    {
        RefuseTwoExperts(index);
        try
        {
            _tokenizer = TokenizerLoader.Load(index.Require("tokenizer"));
            _scheduler = SchedulerFactory.Load(index.Require("scheduler"));
            _textEncoder = Own(T5Encoder.Load(index.Require("text_encoder"), ops));
            _transformer = Own(WanTransformer.Load(index.Require("transformer"), ops));
            // diffusers' Wan examples load the VAE in float32 whatever the transformer's dtype: decode in float32
            _vae = Own(AutoencoderKLWan.Load(index.Require("vae"), ops, float32: true));
            var tc = _transformer.Config;
            if (tc.OutChannels != tc.InChannels)
                throw new InvalidDataException($"{index.Require("transformer")}/config.json: out_channels {tc.OutChannels} differs from in_channels {tc.InChannels}; the pipeline steps the latents with the prediction");
            if (_vae.Config.ZDim != tc.InChannels)
                throw new InvalidDataException($"{index.Require("vae")}/config.json: z_dim {_vae.Config.ZDim}, but the transformer's in_channels is {tc.InChannels}");
            if (_textEncoder.Config.DModel != tc.TextDim)
                throw new InvalidDataException($"{index.Require("text_encoder")}/config.json: d_model {_textEncoder.Config.DModel}, but the transformer's text_dim is {tc.TextDim}");
        }
        catch
        {
            DisposeModels();
            throw;
        }
    }

    /// <summary>Wan 2.2 A14B's folders add a low-noise transformer_2 switched in below boundary_ratio (with its own
    /// guidance_scale_2): one transformer runs here, so such a folder is refused rather than half run.</summary>
    static void RefuseTwoExperts(ModelIndex index)
    {
        var config = JsonConfig.Load(Path.Combine(index.Dir, "model_index.json"));
        double? ratio = config.GetDoubleOrNull("boundary_ratio");
        if (ratio is not null || index.Components.ContainsKey("transformer_2"))
            throw new NotSupportedException($"{index.Dir}/model_index.json: boundary_ratio {ratio?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "null"}" +
                $"{(index.Components.ContainsKey("transformer_2") ? " and a transformer_2" : "")} (Wan 2.2's two experts, with guidance_scale_2) are not supported, expected boundary_ratio null and transformer_2 [null, null] (Wan 2.1)");
    }

    public WanTransformer Transformer => _transformer;
    public override DiffusionTransformer Denoiser => _transformer;
    public override int DefaultSteps => 50;
    public override float DefaultGuidanceScale => 5f;
    /// <summary>diffusers' num_frames default (81: 21 latent frames).</summary>
    public override int DefaultNumFrames => 81;
    /// <summary>Pixels per latent pixel (8) times the patch size (2): diffusers requires multiples of 16.</summary>
    public override int SizeMultiple => _vae.Config.SpatialFactor * Math.Max(_transformer.Config.PatchH, _transformer.Config.PatchW);
    /// <summary>diffusers' default height (480); the default width is 832.</summary>
    public override int DefaultSize => 480;
    const int DefaultWidth = 832;

    protected override int DecoderChannels => _vae.Config.DecoderBaseDim * _vae.Config.DimMult[0];
    protected override int TextTokens(GenerationRequest r) => MaxLength(r);
    protected override (int Height, int Width) EstimatedSize(GenerationRequest r) => (r.Height ?? DefaultSize, r.Width ?? DefaultWidth);

    /// <summary>diffusers' WanPipeline pads the prompts to 512 tokens by default.</summary>
    static int MaxLength(GenerationRequest r) => r.MaxSequenceLength ?? 512;

    /// <summary>The other latent frames' tokens: the estimate counts one frame's (the image pipelines' one picture).</summary>
    protected override double ExtraTokens(GenerationRequest r)
    {
        var (height, width) = EstimatedSize(r);
        double perFrame = (double)height * width / ((double)SizeMultiple * SizeMultiple);
        return (LatentFrames(Frames(r)) / _transformer.Config.PatchT - 1) * perFrame;
    }

    /// <summary>The Wan VAE's own estimate (its convolution cache, the whole video).</summary>
    protected override double DecodeBytes(GenerationRequest r, long images, double pixels, long bytes, bool cpu)
    {
        var (height, width) = EstimatedSize(r);
        int f = _vae.Config.SpatialFactor;
        return _vae.EstimateDecodeBytes((int)images, LatentFrames(Frames(r)), height / f, width / f, cpu);
    }

    /// <summary>The frames a request makes: num_frames (81 by default) rounded down to 4k + 1 where it is not one
    /// (diffusers warns and rounds), at least 1.</summary>
    public int Frames(GenerationRequest r)
    {
        int frames = r.NumFrames ?? DefaultNumFrames, t = _vae.Config.TemporalFactor;
        return frames % t == 1 || t == 1 ? frames : Math.Max(frames / t * t + 1, 1);
    }

    /// <summary>Latent frames of a video of <paramref name="frames"/> (4k + 1) frames: k + 1.</summary>
    public int LatentFrames(int frames) => (frames - 1) / _vae.Config.TemporalFactor + 1;

    protected override VideoGenerationResult RunVideo(GenerationRequest request, IProgress<PipelineProgress>? progress)
    {
        var timings = TimingsReportedTo(progress);
        int steps = request.NumInferenceSteps ?? DefaultSteps;
        float guidance = request.GuidanceScale ?? DefaultGuidanceScale;
        RefuseSD3Options(request, "Wan");
        if (request.UseDynamicCfg)
            throw new ArgumentException("use_dynamic_cfg is CogVideoX's growing guidance scale; Wan guides with a constant guidance_scale");
        var (height, width) = CheckSize(request with { Height = request.Height ?? DefaultSize, Width = request.Width ?? DefaultWidth });
        int frames = Frames(request);
        if (request.NumFrames is { } asked && asked != frames)
            RaiseWarning($"num_frames - 1 has to be divisible by {_vae.Config.TemporalFactor}: {asked} rounded to {frames}");
        int latentFrames = LatentFrames(frames);
        var tc = _transformer.Config;
        if (latentFrames % tc.PatchT != 0)
            throw new ArgumentException($"{Index.Require("transformer")}/config.json: patch_size[0] {tc.PatchT} does not divide the {latentFrames} latent frames of num_frames {frames}");
        int batch = request.Prompts.Count * request.NumImagesPerPrompt;
        bool cfg = guidance > 1f;
        int f = _vae.Config.SpatialFactor, c = tc.InChannels;
        int h = height / f, w = width / f;
        int rowValues = checked(c * latentFrames * h * w);

        // ---- encode ----
        var sw = Stopwatch.StartNew();
        var texts = PromptRows.WithNegative(request, cfg).Select(WanPromptClean.Clean).ToList();
        var tokens = TokenizeRows(_tokenizer, texts, MaxLength(request), cfg);
        using var textStates = ZeroedPastTokens(tokens);
        Trace?.AddGuided(Ops, "prompt_embeds", textStates, cfg);
        timings.Add("encode", sw.Elapsed);

        // ---- denoise ----
        sw.Restart();
        PrepareScheduler(_scheduler, steps, request, batch, rowValues);
        var job = new DenoiseJob
        {
            Model = _transformer,
            Scheduler = _scheduler,
            NewScheduler = () => FolderScheduler(steps, request, batch, rowValues),
            Latents = StartVideoLatents(request, [batch, c, latentFrames, h, w], $"batch, channels, (num_frames - 1) / {_vae.Config.TemporalFactor} + 1, height / {_vae.Config.SpatialFactor}, width / {_vae.Config.SpatialFactor}", _scheduler.InitNoiseSigma),
            Batch = batch,
            LatentShape = new[] { c, latentFrames, h, w },
            Cfg = cfg,
            BuildInputs = (ops, x, i) => new DitInputs
            {
                HiddenStates = x,
                EncoderHiddenStates = textStates,
                Timestep = TimestepRows(_scheduler.Timesteps[i], x.Dim(0)),
            },
            // the prediction has the latents' layout: one latent row is one guided unit
            Combine = GuidedCombine(batch, cfg, guidance, 1, 1),
        };
        Loop.Run(Ops, job, progress);
        var latents = job.Latents;
        Trace?.Add("latents", latents, batch, c, latentFrames, h, w);
        timings.Add("denoise", sw.Elapsed);

        // ---- decode ----
        sw.Restart();
        var videos = DecodeVideo(latents, batch, c, latentFrames, h, w);
        timings.Add("decode", sw.Elapsed);
        return new VideoGenerationResult(videos, timings, _scheduler.Timesteps.Length, videos[0].Height, videos[0].Width, videos[0].FrameCount, request.Seed);
    }

    /// <summary>The UMT5 states of every row (encoded with its attention mask), each cut to its own tokens and padded
    /// back to the full length with zeros, as diffusers' _get_t5_prompt_embeds (the transformer's cross-attention
    /// then reads zeros, not the encoder's states of the padding).</summary>
    Tensor ZeroedPastTokens(TokenizedText tokens)
    {
        using var states = _textEncoder.Encode(Ops, tokens.Ids, tokens.Mask, tokens.Batch, tokens.Length);
        int rows = states.Dim(0), length = states.Dim(1), d = states.Dim(2);
        var all = Ops.ToHost(states);
        for (int r = 0; r < rows; r++)
        {
            int keep = tokens.ValidCount(r);
            Array.Clear(all, (r * length + keep) * d, (length - keep) * d);
        }
        return Ops.FromHost(all, rows, length, d);
    }

    /// <summary>diffusers' decode and postprocess_video: z = latents · latents_std + latents_mean
    /// (<see cref="AutoencoderKLWan.LatentsToZ"/>), the VAE's video [B, 3, T, H, W] mapped by x/2 + 0.5 into [0, 1],
    /// one [T, 3, H, W] per video.</summary>
    List<GeneratedVideo> DecodeVideo(float[] latents, int batch, int c, int frames, int h, int w)
    {
        FiniteCheck.Require(latents, "the denoised latents",
            "a NaN or infinite weight, initial latent or guidance result reached them (the video would be black or white)");
        float[] px;
        int channels, T, H, W;
        // in float32 whatever the activations (diffusers casts the latents to the float32 VAE's dtype before mapping)
        using (var host = Tensor.FromArray(latents, batch, c, frames, h, w))
        using (var lt = Ops.Upload(host))
        using (var z = _vae.LatentsToZ(Ops, lt))
        using (var video = _vae.Decode(Ops, z))
        {
            px = Ops.ToHost(video);
            (channels, T, H, W) = (video.Dim(1), video.Dim(2), video.Dim(3), video.Dim(4));
        }
        FiniteCheck.Require(px, "the decoded frames", "the VAE's weights or config (latents_mean, latents_std) produced them");
        return GeneratedVideo.FromVaeOutput(px, batch, channels, T, H, W);
    }
}

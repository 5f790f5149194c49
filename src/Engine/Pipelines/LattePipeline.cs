using System.Diagnostics;
using XDit.Engine.Execution;
using XDit.Engine.Samplers;
using XDit.Kernels;
using XDit.Models;
using XDit.Models.Latte;
using XDit.Models.T5;
using XDit.Models.Tokenizers;
using XDit.Models.Vae;
using XDit.Runtime;

namespace XDit.Engine.Pipelines;

/// <summary>
/// LattePipeline (Latte-1, text to video): T5 text encoding of the prompt and the negative prompt (120 tokens, with
/// the attention mask, lower-cased and stripped as with clean_caption off), then diffusers' mask_feature: a batch of
/// one row keeps only the prompt's own tokens of both embeddings, a larger batch zeroes each prompt row past its tokens
/// (the negative rows stay whole). The Latte transformer runs on latents [B, C, F, h, w] (one latent frame per video
/// frame) with classifier-free guidance on the rows [negative; positive], its learned-sigma half of the output
/// channels dropped, stepped by the folder's scheduler (Latte-1: DDIM). The SD AutoencoderKL decodes the frames one
/// by one (<see cref="DecodeChunkSize"/> at a time) from latents · (1/scaling_factor), mapped to [0, 1].
/// </summary>
public sealed class LattePipeline : TextToVideoPipeline
{
    readonly ITextTokenizer _tokenizer;
    readonly T5Encoder _textEncoder;
    readonly LatteTransformer _transformer;
    readonly AutoencoderKL _vae;
    readonly IScheduler _scheduler;

    public LattePipeline(ModelIndex index, IOps ops) : base(index, ops)
    {
        try
        {
            _tokenizer = TokenizerLoader.Load(index.Require("tokenizer"));
            _scheduler = SchedulerFactory.Load(index.Require("scheduler"));
            _textEncoder = Own(T5Encoder.Load(index.Require("text_encoder"), ops));
            _transformer = Own(LatteTransformer.Load(index.Require("transformer"), ops));
            _vae = Own(AutoencoderKL.Load(index.Require("vae"), ops));
            var tc = _transformer.Config;
            // diffusers keeps the first half of the channels (noise_pred.chunk(2, dim=1)[0]) for every scheduler
            // without a learned variance, and the samplers here refuse a learned one: the output must be ε and σ
            if (tc.OutChannels != 2 * tc.InChannels)
                throw new InvalidDataException($"{index.Require("transformer")}/config.json: out_channels {tc.OutChannels}, expected 2 × in_channels = {2 * tc.InChannels} (the pipeline keeps the first half, ε, and drops the learned sigma)");
            if (_vae.Config.LatentChannels != tc.InChannels)
                throw new InvalidDataException($"{index.Require("vae")}/config.json: latent_channels {_vae.Config.LatentChannels}, but the transformer's in_channels is {tc.InChannels}");
        }
        catch
        {
            DisposeModels();
            throw;
        }
    }

    public LatteTransformer Transformer => _transformer;
    public override DiffusionTransformer Denoiser => _transformer;
    public override int DefaultSteps => 50;
    public override float DefaultGuidanceScale => 7.5f;
    /// <summary>diffusers' video_length default (16) is Latte-1's video_length: the transformer's frame table.</summary>
    public override int DefaultNumFrames => _transformer.Config.VideoLength;
    /// <summary>Pixels per latent pixel (8) times the patch size: the latent grid must be whole patches.</summary>
    public override int SizeMultiple => _vae.Config.SpatialFactor * _transformer.Config.PatchSize;
    /// <summary>sample_size · 8 (Latte-1: 512, diffusers' default height and width).</summary>
    public override int DefaultSize => _transformer.Config.SampleSize * _vae.Config.SpatialFactor;

    /// <summary>Frames the VAE decodes at once (diffusers' decode_chunk_size, default 14). Each frame is decoded as its
    /// own picture, so this bounds the decoder's memory and changes no pixel.</summary>
    public int DecodeChunkSize
    {
        get => _decodeChunkSize;
        set => _decodeChunkSize = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(value), value, "decode_chunk_size must be at least 1");
    }
    int _decodeChunkSize = 14;

    protected override int DecoderChannels => _vae.Config.FullResolutionChannels;
    protected override int TextTokens(GenerationRequest r) => MaxLength(r);

    /// <summary>diffusers fixes Latte's prompts at 120 tokens; a request may ask for another length.</summary>
    static int MaxLength(GenerationRequest r) => r.MaxSequenceLength ?? 120;

    /// <summary>The other frames' tokens: the estimate counts one frame's (the image pipelines' one picture).</summary>
    protected override double ExtraTokens(GenerationRequest r)
    {
        var (height, width) = EstimatedSize(r);
        double perFrame = (double)height * width / ((double)SizeMultiple * SizeMultiple);
        return (Frames(r) - 1) * perFrame;
    }

    /// <summary>The decoder holds one chunk of frames at a time (each chunk is copied to the host before the next).</summary>
    protected override double DecodeBytes(GenerationRequest r, long images, double pixels, long bytes, bool cpu)
        => base.DecodeBytes(r, Math.Min(DecodeChunkSize, images * Frames(r)), pixels, bytes, cpu);

    int Frames(GenerationRequest r) => r.NumFrames ?? DefaultNumFrames;

    protected override VideoGenerationResult RunVideo(GenerationRequest request, IProgress<PipelineProgress>? progress)
    {
        var timings = TimingsReportedTo(progress);
        int steps = request.NumInferenceSteps ?? DefaultSteps;
        float guidance = request.GuidanceScale ?? DefaultGuidanceScale;
        RefuseSD3Options(request, "Latte");
        if (request.UseDynamicCfg)
            throw new ArgumentException("use_dynamic_cfg is CogVideoX's growing guidance scale; Latte guides with a constant guidance_scale");
        var tc = _transformer.Config;
        int frames = Frames(request);
        if (_transformer.EnableTemporalAttentions && frames != 1 && frames != tc.VideoLength)
            throw new ArgumentException($"{Index.Require("transformer")}/config.json: video_length is {tc.VideoLength}, the rows of Latte's frame position table, so a video has {tc.VideoLength} frames (or 1); got num_frames {frames}");
        var (height, width) = CheckSize(request);
        int batch = request.Prompts.Count * request.NumImagesPerPrompt;
        bool cfg = guidance > 1f;
        int f = _vae.Config.SpatialFactor, c = tc.InChannels;
        int h = height / f, w = width / f;
        int rowValues = checked(c * frames * h * w);

        // ---- encode ----
        var sw = Stopwatch.StartNew();
        var texts = PromptRows.WithNegative(request, cfg).Select(LowerStripped).ToList();
        var tokens = TokenizeRows(_tokenizer, texts, MaxLength(request), cfg);
        using var textStates = MaskedText(tokens, batch, cfg);
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
            Latents = StartVideoLatents(request, [batch, c, frames, h, w], $"batch, channels, frames, height / {_vae.Config.SpatialFactor}, width / {_vae.Config.SpatialFactor}", _scheduler.InitNoiseSigma),
            Batch = batch,
            LatentShape = new[] { c, frames, h, w },
            Cfg = cfg,
            BuildInputs = (ops, x, i) => new DitInputs
            {
                HiddenStates = x,
                EncoderHiddenStates = textStates,
                Timestep = TimestepRows(_scheduler.Timesteps[i], x.Dim(0)),
            },
            // the loop hands a 4-D latent's whole row size (C·F·h·w) as the spatial size; the output rows are
            // [2C, F, h, w], so per channel it is F·h·w. Guidance, then the ε half kept (the learned sigma dropped).
            Combine = (output, noise, spatial) => Guidance.Combine(output, noise, batch, cfg, guidance, tc.OutChannels, c, spatial / c),
        };
        Loop.Run(Ops, job, progress);
        var latents = job.Latents;
        Trace?.Add("latents", latents, batch, c, frames, h, w);
        timings.Add("denoise", sw.Elapsed);

        // ---- decode ----
        sw.Restart();
        var videos = DecodeVideo(latents, batch, c, frames, h, w);
        timings.Add("decode", sw.Elapsed);
        return new VideoGenerationResult(videos, timings, _scheduler.Timesteps.Length, videos[0].Height, videos[0].Width, videos[0].FrameCount, request.Seed);
    }

    /// <summary>The T5 states of the rows [negative; positive] (each encoded with its attention mask), then
    /// diffusers' mask_feature: with one positive row both embeddings keep only that prompt's token count (the
    /// negative is cut to the prompt's length, whatever its own); with more, each positive row is zeroed past its own
    /// tokens and keeps the full length, the negative rows untouched. (diffusers pairs the rows with the masks of
    /// <c>mask.repeat(n, 1)</c>, which for several prompts × several videos each is another prompt's mask; here each
    /// row takes its own, which is the same wherever diffusers' pairing is right.)</summary>
    Tensor MaskedText(TokenizedText tokens, int batch, bool cfg)
    {
        using var states = _textEncoder.Encode(Ops, tokens.Ids, tokens.Mask, tokens.Batch, tokens.Length);
        int rows = states.Dim(0), length = states.Dim(1), d = states.Dim(2), first = cfg ? batch : 0;
        var all = Ops.ToHost(states);
        if (batch == 1)
        {
            int keep = tokens.ValidCount(first);
            var cut = new float[rows * keep * d];
            for (int r = 0; r < rows; r++) Array.Copy(all, r * length * d, cut, r * keep * d, keep * d);
            return Ops.FromHost(cut, rows, keep, d);
        }
        for (int r = first; r < rows; r++)
            for (int t = 0; t < length; t++)
                if (tokens.Mask[r * length + t] == 0) Array.Clear(all, (r * length + t) * d, d);
        return Ops.FromHost(all, rows, length, d);
    }

    /// <summary>decode_latents and postprocess_video: latents [B, C, F, h, w] → frames [B·F, C, h, w] times
    /// 1/scaling_factor, decoded <see cref="DecodeChunkSize"/> frames at a time as pictures, mapped by x/2 + 0.5
    /// into [0, 1], one [F, 3, H, W] per video.</summary>
    List<GeneratedVideo> DecodeVideo(float[] latents, int batch, int c, int frames, int h, int w)
    {
        FiniteCheck.Require(latents, "the denoised latents",
            "a NaN or infinite weight, initial latent or guidance result reached them (the video would be black or white)");
        int hw = h * w, count = batch * frames;
        // diffusers multiplies by the reciprocal (1 / scaling_factor * latents)
        float inv = (float)(1.0 / _vae.Config.ScalingFactor);
        var z = new float[count * c * hw];
        for (int b = 0; b < batch; b++)
            for (int ch = 0; ch < c; ch++)
                for (int t = 0; t < frames; t++)
                {
                    int src = ((b * c + ch) * frames + t) * hw, dst = ((b * frames + t) * c + ch) * hw;
                    for (int i = 0; i < hw; i++) z[dst + i] = inv * latents[src + i];
                }
        float[]? px = null;
        int H = 0, W = 0;
        for (int start = 0; start < count; start += DecodeChunkSize)
        {
            int n = Math.Min(DecodeChunkSize, count - start);
            using var zt = Ops.FromHost(z.AsSpan(start * c * hw, n * c * hw), n, c, h, w);
            using var img = DecodeOverride is { } decode ? decode(_vae, zt) : _vae.Decode(Ops, zt);
            var chunk = Ops.ToHost(img);
            (H, W) = (img.Dim(2), img.Dim(3));
            px ??= new float[count * 3 * H * W];
            chunk.CopyTo(px, start * 3 * H * W);
        }
        FiniteCheck.Require(px!, "the decoded frames", "the VAE's weights or config (scaling_factor) produced them");
        int frameValues = 3 * H * W;
        var videos = new List<GeneratedVideo>();
        for (int b = 0; b < batch; b++)
        {
            var fchw = new float[frames * frameValues];
            for (int i = 0; i < fchw.Length; i++) fchw[i] = Math.Clamp(px![b * fchw.Length + i] / 2f + 0.5f, 0f, 1f);
            videos.Add(new GeneratedVideo(fchw, frames, H, W));
        }
        return videos;
    }
}

using System.Diagnostics;
using System.Globalization;
using XDit.Engine.Execution;
using XDit.Engine.Samplers;
using XDit.Kernels;
using XDit.Models;
using XDit.Models.Ltx;
using XDit.Models.T5;
using XDit.Models.Tokenizers;
using XDit.Models.Vae.Ltx;
using XDit.Runtime;

namespace XDit.Engine.Pipelines;

/// <summary>
/// LTXPipeline (LTX-Video 0.9.x text to video): T5 text encoding of the prompt and the negative prompt padded to
/// max_sequence_length (128) and run without the attention mask, as diffusers; the mask goes to the transformer, whose
/// cross-attention then ignores the padding. The LTX transformer denoises packed latents [B, F_lat·h·w, C] (tokens in
/// frame, row, column order; F_lat = (num_frames − 1)/8 + 1, h = height/32 with the VAE's compression ratios) with
/// classifier-free guidance on the rows [negative; positive] (diffusers runs them as one batch too) and optionally
/// guidance_rescale, its RoPE grid scaled by rope_interpolation_scale = (temporal ratio / frame_rate, spatial ratio,
/// spatial ratio). The folder's FlowMatchEulerDiscreteScheduler steps on sigmas linspace(1, 1/N, N), shifted with
/// μ = calculate_shift(F_lat·h·w) from the scheduler config's base/max sequence lengths and shifts when it shifts
/// dynamically (LTX-Video's does, and stretches to shift_terminal). Decoding unpacks the latents, denormalizes them
/// (latents · latents_std / scaling_factor + latents_mean) and runs the VAE at decode_timestep when it is
/// timestep-conditioned, after mixing decode_noise_scale (by default decode_timestep) of fresh noise into the latents
/// (drawn from the seed's stream, see <see cref="DecodeNoise"/>); frames are mapped to [0, 1]. With several prompts
/// and several videos per prompt every row keeps its own prompt's attention mask (diffusers repeats the masks in
/// another order than the embeddings there).
/// </summary>
public sealed class LtxPipeline : TextToVideoPipeline
{
    readonly ITextTokenizer _tokenizer;
    readonly T5Encoder _textEncoder;
    readonly LtxTransformer _transformer;
    readonly AutoencoderKLLTXVideo _vae;
    readonly FlowMatchEulerDiscreteScheduler _scheduler;

    /// <summary>diffusers' check_inputs: height and width must be multiples of 32, whatever the VAE.</summary>
    const int DiffusersSizeMultiple = 32;
    /// <summary>diffusers' defaults: height 512, width 704, 161 frames at 25 frames per second, 128 text tokens.</summary>
    const int DefaultWidth = 704;
    public const double DefaultFrameRate = 25;
    const int DefaultMaxSequenceLength = 128;

    public LtxPipeline(ModelIndex index, IOps ops) : base(index, ops)
    {
        try
        {
            _tokenizer = TokenizerLoader.Load(index.Require("tokenizer"));
            _scheduler = FlowMatchScheduler.Load(index);
            _textEncoder = Own(T5Encoder.Load(index.Require("text_encoder"), ops));
            _transformer = Own(LtxTransformer.Load(index.Require("transformer"), ops));
            _vae = Own(AutoencoderKLLTXVideo.Load(index.Require("vae"), ops));
            var tc = _transformer.Config;
            string transformerConfig = Path.Combine(index.Require("transformer"), "config.json");
            if (tc.PatchSize != 1 || tc.PatchSizeT != 1)
                throw new NotSupportedException($"{transformerConfig}: patch_size {tc.PatchSize} and patch_size_t {tc.PatchSizeT}: the pipeline packs one latent pixel per token, expected 1 and 1 (as every LTX-Video checkpoint)");
            if (tc.OutChannels != tc.InChannels)
                throw new InvalidDataException($"{transformerConfig}: out_channels {tc.OutChannels} differs from in_channels {tc.InChannels}; the pipeline steps the latents with the prediction");
            if (_vae.Config.LatentChannels != tc.InChannels)
                throw new InvalidDataException($"{index.Require("vae")}/config.json: latent_channels {_vae.Config.LatentChannels}, but the transformer's in_channels is {tc.InChannels}");
            if (_textEncoder.Config.DModel != tc.CaptionChannels)
                throw new InvalidDataException($"{index.Require("text_encoder")}/config.json: d_model {_textEncoder.Config.DModel}, but the transformer's caption_channels is {tc.CaptionChannels}");
        }
        catch
        {
            DisposeModels();
            throw;
        }
    }

    public LtxTransformer Transformer => _transformer;
    public override DiffusionTransformer Denoiser => _transformer;
    public override int DefaultSteps => 50;
    public override float DefaultGuidanceScale => 3f;
    public override int DefaultNumFrames => 161;
    public override int SizeMultiple => DiffusersSizeMultiple;
    protected override string SizeMultipleMeaning => "diffusers' LTXPipeline requires multiples of 32";
    /// <summary>One token per latent pixel: a token covers the VAE's spatial ratio (32) along each axis.</summary>
    protected override int TokenPixels => SpatialRatio;
    public override int DefaultSize => 512;
    protected override bool TakesGuidanceRescale => true;
    protected override bool TakesLtxOptions => true;

    /// <summary>The VAE's widest stage at its last resolution (its conv_out input; the patch size then spreads it).</summary>
    protected override int DecoderChannels => _vae.Config.LastChannels;
    protected override int TextTokens(GenerationRequest r) => r.MaxSequenceLength ?? DefaultMaxSequenceLength;
    protected override (int Height, int Width) EstimatedSize(GenerationRequest r) => (r.Height ?? DefaultSize, r.Width ?? DefaultWidth);

    /// <summary>The other latent frames' tokens: the estimate counts one frame's (the image pipelines' one picture).</summary>
    protected override double ExtraTokens(GenerationRequest r)
    {
        var (height, width) = EstimatedSize(r);
        return (LatentFrames(r.NumFrames ?? DefaultNumFrames) - 1) * (double)(height / SpatialRatio) * (width / SpatialRatio);
    }

    /// <summary>diffusers' vae_spatial_compression_ratio: the config's spatial_compression_ratio, else patch_size ·
    /// 2^(the encoder's spatio_temporal_scaling count), as AutoencoderKLLTXVideo computes it.</summary>
    public int SpatialRatio => _vae.Config.SpatialCompressionRatio ?? _vae.Config.PatchSize << _vae.Config.SpatioTemporalScaling.Count(s => s);
    /// <summary>diffusers' vae_temporal_compression_ratio (patch_size_t · 2^count, or the config's).</summary>
    public int TemporalRatio => _vae.Config.TemporalCompressionRatio ?? _vae.Config.PatchSizeT << _vae.Config.SpatioTemporalScaling.Count(s => s);

    /// <summary>Latent frames of <paramref name="frames"/> video frames: (frames − 1) / temporal ratio + 1, as
    /// diffusers (which does not round num_frames: the video has the VAE's frame count for them).</summary>
    public int LatentFrames(int frames) => (frames - 1) / TemporalRatio + 1;

    /// <summary>diffusers' rope_interpolation_scale: (temporal ratio / frame_rate, spatial ratio, spatial ratio), in
    /// double as Python computes it, then float.</summary>
    public (float T, float H, float W) RopeInterpolationScale(double frameRate)
        => ((float)(TemporalRatio / frameRate), SpatialRatio, SpatialRatio);

    protected override VideoGenerationResult RunVideo(GenerationRequest request, IProgress<PipelineProgress>? progress)
    {
        var timings = TimingsReportedTo(progress);
        int steps = request.NumInferenceSteps ?? DefaultSteps;
        float guidance = request.GuidanceScale ?? DefaultGuidanceScale;
        RefuseSD3Options(request, "LTX-Video");
        if (request.UseDynamicCfg)
            throw new ArgumentException("use_dynamic_cfg is CogVideoX's growing guidance scale; LTX-Video guides with a constant guidance_scale");
        float decodeTimestep = (float)(request.DecodeTimestep ?? 0);
        float noiseScale = (float)(request.DecodeNoiseScale ?? request.DecodeTimestep ?? 0);
        if (!_vae.Config.TimestepConditioning && (request.DecodeTimestep ?? request.DecodeNoiseScale) is not null)
            RaiseWarning($"{Index.Require("vae")}/config.json: timestep_conditioning is false: decode_timestep and decode_noise_scale are unused (diffusers ignores them too)");
        var (height, width) = CheckSize(request with { Height = request.Height ?? DefaultSize, Width = request.Width ?? DefaultWidth });
        int frames = request.NumFrames ?? DefaultNumFrames;
        int latentFrames = LatentFrames(frames);
        int made = _vae.OutputFrames(latentFrames);
        if (made != frames)
            RaiseWarning($"num_frames {frames}: {latentFrames} latent frames decode to {made} frames (num_frames − 1 is best a multiple of {TemporalRatio})");
        double frameRate = request.FrameRate ?? DefaultFrameRate;
        var rope = RopeInterpolationScale(frameRate);
        int batch = request.Prompts.Count * request.NumImagesPerPrompt;
        bool cfg = guidance > 1f;
        float rescale = request.GuidanceRescale;
        int c = _transformer.Config.InChannels, ratio = SpatialRatio;
        int h = height / ratio, w = width / ratio;
        int tokens = checked(latentFrames * h * w);
        int rowValues = checked(tokens * c);

        // ---- encode ----
        var sw = Stopwatch.StartNew();
        var texts = PromptRows.WithNegative(request, cfg);
        var tokenized = TokenizeRows(_tokenizer, texts, TextTokens(request), cfg, "attention_mask");
        // diffusers calls the T5 encoder without the attention mask (the padding is attended to there); the
        // transformer gets the mask
        using var textStates = _textEncoder.Encode(Ops, tokenized.Ids, null, tokenized.Batch, tokenized.Length);
        using var textMask = Ops.FromHost(tokenized.Mask.Select(m => (float)m).ToArray(), tokenized.Batch, tokenized.Length);
        Trace?.AddGuided(Ops, "prompt_embeds", textStates, cfg);
        timings.Add("encode", sw.Elapsed);

        // ---- denoise ----
        sw.Restart();
        var (sigmas, mu) = FlowMatchPipelineSchedule.For(_scheduler, steps, tokens);
        _scheduler.SetTimesteps(steps, mu, sigmas);
        // diffusers' stretch to shift_terminal divides by 1 − (the last sigma), which is 0 for one step: NaN sigmas
        // there (and a black video); say so instead
        if (_scheduler.Sigmas.Any(s => !float.IsFinite(s)))
            throw new ArgumentException($"num_inference_steps {steps}: the scheduler's sigmas are not finite (shift_terminal {_scheduler.Options.ShiftTerminal?.ToString(CultureInfo.InvariantCulture) ?? "null"} stretches the one sigma 1.0 by 0/0, as in diffusers); use at least 2 steps");
        var start = StartVideoLatents(request, [batch, c, latentFrames, h, w],
            $"batch, channels, (num_frames - 1) / {TemporalRatio} + 1, height / {ratio}, width / {ratio}", _scheduler.InitNoiseSigma);
        var job = new DenoiseJob
        {
            Model = _transformer,
            Scheduler = _scheduler,
            NewScheduler = () =>
            {
                var s = FlowMatchScheduler.Load(Index);
                s.SetTimesteps(steps, mu, sigmas);
                return s;
            },
            Latents = LtxLatents.Pack(start, batch, c, latentFrames, h, w),
            Batch = batch,
            LatentShape = new[] { tokens, c },
            Cfg = cfg,
            BuildInputs = (ops, x, i) => new DitInputs
            {
                HiddenStates = x,
                EncoderHiddenStates = textStates,
                EncoderAttentionMask = textMask,
                Timestep = TimestepRows(_scheduler.Timesteps[i], x.Dim(0)),
                ImgShape = (latentFrames, h, w),
                RopeInterpolationScale = rope,
            },
            // one packed row is one guided unit; guidance_rescale over each row, as rescale_noise_cfg
            Combine = (output, noise, spatial) =>
            {
                Guidance.Combine(output, noise, batch, cfg, guidance, 1, 1, spatial);
                if (cfg && rescale > 0) GuidanceRescale.Apply(output, noise, batch, 1, 1, spatial, rescale);
            },
        };
        Loop.Run(Ops, job, progress);
        var latents = job.Latents;
        Trace?.Add("latents", latents, batch, tokens, c);
        timings.Add("denoise", sw.Elapsed);

        // ---- decode ----
        sw.Restart();
        var unpacked = LtxLatents.Unpack(latents, batch, c, latentFrames, h, w);
        var decodeNoise = _vae.Config.TimestepConditioning && noiseScale != 0 ? DecodeNoise(request, batch, rowValues) : null;
        var videos = DecodeVideo(unpacked, batch, c, latentFrames, h, w, decodeTimestep, noiseScale, decodeNoise);
        timings.Add("decode", sw.Elapsed);
        return new VideoGenerationResult(videos, timings, _scheduler.Timesteps.Length, videos[0].Height, videos[0].Width, videos[0].FrameCount, request.Seed);
    }

    /// <summary>The decode's fresh noise [B, C, F_lat, h, w] (diffusers draws it from the pipeline's generator after
    /// the initial latents): the seed's stream past the whole batch's initial latents, at this request's first row, so
    /// that data-parallel ranks draw what one rank draws. It cannot equal torch's draw, as the seeded initial latents
    /// cannot.</summary>
    static float[] DecodeNoise(GenerationRequest request, int batch, int rowValues)
    {
        long rows = request.TotalRows > 0 ? request.TotalRows : request.FirstRow + batch;
        ulong offset = (ulong)(rows + request.FirstRow) * (ulong)rowValues;
        return NoiseGenerator.Normal(checked(batch * rowValues), request.Seed, offset);
    }

    /// <summary>diffusers' _denormalize_latents (latents · latents_std / scaling_factor + latents_mean per channel, in
    /// that order, in float32), the mix (1 − s)·z + s·noise with <paramref name="noiseScale"/> s when the VAE is
    /// timestep-conditioned, the VAE's decode at <paramref name="decodeTimestep"/>, and postprocess_video: x/2 + 0.5
    /// into [0, 1], one [T, 3, H, W] per video.</summary>
    List<GeneratedVideo> DecodeVideo(float[] latents, int batch, int c, int frames, int h, int w, float decodeTimestep, float noiseScale, float[]? noise)
    {
        FiniteCheck.Require(latents, "the denoised latents",
            "a NaN or infinite weight, initial latent or guidance result reached them (the video would be black or white)");
        float scaling = (float)_vae.Config.ScalingFactor;
        int plane = frames * h * w;
        var z = new float[latents.Length];
        for (int b = 0; b < batch; b++)
            for (int ch = 0; ch < c; ch++)
            {
                float mean = _vae.LatentsMean[ch], std = _vae.LatentsStd[ch];
                int o = (b * c + ch) * plane;
                for (int i = 0; i < plane; i++) z[o + i] = latents[o + i] * std / scaling + mean;
            }
        if (noise is not null)
            for (int i = 0; i < z.Length; i++) z[i] = (1 - noiseScale) * z[i] + noiseScale * noise[i];
        float[] px;
        int channels, T, H, W;
        using (var zt = Ops.FromHost(z, batch, c, frames, h, w))
        using (var video = _vae.Decode(Ops, zt, [decodeTimestep]))
        {
            px = Ops.ToHost(video);
            (channels, T, H, W) = (video.Dim(1), video.Dim(2), video.Dim(3), video.Dim(4));
        }
        FiniteCheck.Require(px, "the decoded frames", "the VAE's weights or config (latents_mean, latents_std, scaling_factor) produced them");
        return GeneratedVideo.FromVaeOutput(px, batch, channels, T, H, W);
    }
}

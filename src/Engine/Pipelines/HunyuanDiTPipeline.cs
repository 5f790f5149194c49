using System.Diagnostics;
using XDit.Engine.Execution;
using XDit.Engine.Samplers;
using XDit.Kernels;
using XDit.Models;
using XDit.Models.Bert;
using XDit.Models.HunyuanDiT;
using XDit.Models.T5;
using XDit.Models.Tokenizers;
using XDit.Models.Vae;
using XDit.Runtime;

namespace XDit.Engine.Pipelines;

/// <summary>
/// HunyuanDiTPipeline (HunyuanDiT v1.x): two prompt encodings, the BERT one (text_encoder, text_len tokens, 77 in the
/// released model) and the mT5 one (text_encoder_2, text_len_t5 tokens, 256), each with its mask and each with its
/// negative rows first under classifier-free guidance ([negative; positive]); the 2-D rotary tables of the latent grid
/// (<see cref="HunyuanDiTRotaryTable"/> over a base grid of 512 px / 8 / patch size, as diffusers); image_meta_size =
/// original size (1024, 1024) + target size (the generated one) + crop top-left (0, 0) and style 0 on every row; the
/// folder's scheduler (DDPM with v-prediction in the released model; its variance noise is seeded from the request's
/// seed) with guidance and guidance_rescale (<see cref="GenerationRequest.GuidanceRescale"/>), the learned-sigma
/// channels dropped; VAE decode of latents / scaling_factor. Resolution binning (<see cref="HunyuanDiTShapes"/>) is on
/// by default for the 1024 px model (sample_size 128 with a factor-8 VAE) as diffusers' use_resolution_binning; the
/// size is floored to multiples of 16 in any case, as diffusers does (with a warning when that changes it).
/// The token lengths are taken from the transformer's text_len / text_len_t5 (which diffusers hard-codes as 77 and
/// 256, the values of the released config), since the transformer's padding table has exactly that many rows.
/// </summary>
public sealed class HunyuanDiTPipeline : TextToImagePipeline
{
    /// <summary>diffusers' default original_size.</summary>
    public const int OriginalSize = 1024;

    readonly ITextTokenizer _tokenizer, _tokenizer2;
    readonly BertModel _bert;
    readonly T5Encoder _mt5;
    readonly HunyuanDiTTransformer _transformer;
    readonly AutoencoderKL _vae;
    readonly IScheduler _scheduler;

    public HunyuanDiTPipeline(ModelIndex index, IOps ops) : base(index, ops)
    {
        try
        {
            _scheduler = SchedulerFactory.Load(index.Require("scheduler"));
            _tokenizer = TokenizerLoader.Load(index.Require("tokenizer"));
            _tokenizer2 = TokenizerLoader.Load(index.Require("tokenizer_2"));
            _bert = Own(BertModel.Load(index.Require("text_encoder"), ops));
            _mt5 = Own(T5Encoder.Load(index.Require("text_encoder_2"), ops));
            _transformer = Own(HunyuanDiTTransformer.Load(index.Require("transformer"), ops));
            _vae = Own(AutoencoderKL.Load(index.Require("vae"), ops));
            CheckComponentsAgree();
        }
        catch
        {
            DisposeModels();
            throw;
        }
    }

    /// <summary>The widths and lengths the glue relies on, checked at load so that a mixed-up folder fails naming files.</summary>
    void CheckComponentsAgree()
    {
        var tc = _transformer.Config;
        string transformer = Path.Combine(Index.Dir, "transformer", "config.json");
        if (_bert.Config.HiddenSize != tc.CrossAttentionDim)
            throw new InvalidDataException($"{_bert.Config.Path}: BERT hidden_size {_bert.Config.HiddenSize} differs from cross_attention_dim {tc.CrossAttentionDim} of {transformer}");
        if (_bert.Config.MaxPositions < tc.TextLen)
            throw new InvalidDataException($"{_bert.Config.Path}: BERT max_position_embeddings {_bert.Config.MaxPositions} is below text_len {tc.TextLen} of {transformer}");
        if (_mt5.Config.DModel != tc.CrossAttentionDimT5)
            throw new InvalidDataException($"{Path.Combine(Index.Dir, "text_encoder_2", "config.json")}: mT5 d_model {_mt5.Config.DModel} differs from cross_attention_dim_t5 {tc.CrossAttentionDimT5} of {transformer}");
        if (_vae.Config.LatentChannels != tc.InChannels)
            throw new InvalidDataException($"{_vae.Config.Path}: latent_channels {_vae.Config.LatentChannels} differs from in_channels {tc.InChannels} of {transformer}");
        if (tc.AttentionHeadDim % 4 != 0)
            throw new InvalidDataException($"{transformer}: attention_head_dim {tc.AttentionHeadDim} must be divisible by 4 for the 2-D rotary tables");
    }

    public HunyuanDiTTransformer Transformer => _transformer;
    public override DiffusionTransformer Denoiser => _transformer;
    public override int DefaultSteps => 50;
    public override float DefaultGuidanceScale => 5.0f;
    public override int SizeMultiple => _vae.Config.SpatialFactor * _transformer.Config.PatchSize;
    public override int DefaultSize => _transformer.Config.SampleSize * _vae.Config.SpatialFactor;
    protected override int DecoderChannels => _vae.Config.FullResolutionChannels;
    /// <summary>The BERT tokens and the mT5 tokens, side by side in the cross-attention context.</summary>
    protected override int TextTokens(GenerationRequest r) => _transformer.Config.TextLen + _transformer.Config.TextLenT5;
    protected override bool TakesGuidanceRescale => true;

    /// <summary>The size the transformer runs at for a request: the binned size when binning applies, else the asked
    /// one (what <see cref="GenerationRequest.Latents"/> must match).</summary>
    public (int Height, int Width) GenerationSize(GenerationRequest r)
    {
        // diffusers floors both sides to multiples of 16 first, binned or not
        int height = (r.Height ?? DefaultSize) / 16 * 16, width = (r.Width ?? DefaultSize) / 16 * 16;
        return Binning(r) ? HunyuanDiTShapes.Map(height, width) : (height, width);
    }

    /// <summary>Asked on or off, or by default on for the 1024 px model whose shapes diffusers' table lists.</summary>
    bool Binning(GenerationRequest r) => r.UseResolutionBinning ?? DefaultSize == OriginalSize;

    protected override GenerationResult Run(GenerationRequest request, IProgress<PipelineProgress>? progress)
    {
        var timings = TimingsReportedTo(progress);
        int steps = request.NumInferenceSteps ?? DefaultSteps;
        float guidance = request.GuidanceScale ?? DefaultGuidanceScale;
        RefuseSD3Options(request, "HunyuanDiT");
        if (request.MaxSequenceLength is { } maxLength && maxLength != _transformer.Config.TextLenT5)
            throw new ArgumentException($"max sequence length {maxLength}: HunyuanDiT's mT5 tokens are fixed at text_len_t5 = {_transformer.Config.TextLenT5} (the transformer's padding table has that many rows)");
        var binned = GenerationSize(request);
        var asked = (Height: request.Height ?? DefaultSize, Width: request.Width ?? DefaultSize);
        if (binned.Height < 16 || binned.Width < 16)
            throw new ArgumentException($"height and width must be at least 16 (HunyuanDiT floors them to multiples of 16), got {asked.Height}x{asked.Width}");
        if (binned != asked)
            RaiseWarning(Binning(request)
                ? $"Reshaped to (height, width)=({binned.Height}, {binned.Width}), the closest of the supported shapes {string.Join(", ", HunyuanDiTShapes.Supported)}"
                : $"height and width floored to multiples of 16, as diffusers does: {asked.Height}x{asked.Width} → {binned.Height}x{binned.Width}");
        var (height, width) = CheckSize(request with { Height = binned.Height, Width = binned.Width });
        int batch = request.Prompts.Count * request.NumImagesPerPrompt;
        bool cfg = guidance > 1f;
        var tc = _transformer.Config;
        int f = _vae.Config.SpatialFactor, c = tc.InChannels, p = tc.PatchSize;
        int h = height / f, w = width / f;
        int rows = cfg ? 2 * batch : batch;

        // ---- encode ----
        var sw = Stopwatch.StartNew();
        var texts = PromptRows.WithNegative(request, cfg);
        var bertTokens = _tokenizer.Encode(texts, tc.TextLen);
        ReportTruncation(bertTokens, texts, _tokenizer, ClipTruncationReason(tc.TextLen));
        var mt5Tokens = _tokenizer2.Encode(texts, tc.TextLenT5);
        ReportTruncation(mt5Tokens, texts, _tokenizer2);
        Trace?.AddTokens("input_ids", "attention_mask", bertTokens, cfg);
        Trace?.AddTokens("input_ids_2", "attention_mask_2", mt5Tokens, cfg);
        using var bertStates = _bert.Encode(Ops, bertTokens.Ids, bertTokens.Mask, bertTokens.Batch, bertTokens.Length);
        using var mt5States = _mt5.Encode(Ops, mt5Tokens.Ids, mt5Tokens.Mask, mt5Tokens.Batch, mt5Tokens.Length);
        Trace?.AddGuided(Ops, "prompt_embeds", bertStates, cfg);
        Trace?.AddGuided(Ops, "prompt_embeds_2", mt5States, cfg);
        using var bertMask = Ops.FromHost(bertTokens.Mask.Select(m => (float)m).ToArray(), rows, tc.TextLen);
        using var mt5Mask = Ops.FromHost(mt5Tokens.Mask.Select(m => (float)m).ToArray(), rows, tc.TextLenT5);
        timings.Add("encode", sw.Elapsed);

        // ---- denoise ----
        sw.Restart();
        PrepareScheduler(_scheduler, steps, request, batch, c * h * w);
        // The tables of the latent grid; the base grid is diffusers' 512 px / 8 / patch size whatever the VAE factor.
        var (cosData, sinData) = HunyuanDiTRotaryTable.Build(tc.AttentionHeadDim, h / p, w / p, 512 / 8 / p);
        using var cos = Ops.FromHost(cosData, (h / p) * (w / p), tc.AttentionHeadDim);
        using var sin = Ops.FromHost(sinData, (h / p) * (w / p), tc.AttentionHeadDim);
        using var meta = tc.UseStyleCondAndImageMetaSize
            ? Ops.FromHost(Enumerable.Range(0, rows).SelectMany(_ => new float[] { OriginalSize, OriginalSize, height, width, 0, 0 }).ToArray(), rows, HunyuanDiTConfig.ImageMetaValues)
            : null;
        var style = tc.UseStyleCondAndImageMetaSize ? new long[rows] : null;
        int outChannels = tc.OutChannels;
        float rescale = request.GuidanceRescale;
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
                EncoderHiddenStates = bertStates,
                EncoderAttentionMask = bertMask,
                EncoderHiddenStatesT5 = mt5States,
                EncoderAttentionMaskT5 = mt5Mask,
                ImageMetaSize = meta,
                Style = style,
                ImageRotaryCos = cos,
                ImageRotarySin = sin,
                Timestep = TimestepRows(_scheduler.Timesteps[i], x.Dim(0)),
            },
            // Guidance on the prediction (the learned-sigma channels dropped), then guidance_rescale.
            Combine = (output, noise, spatial) =>
            {
                Guidance.Combine(output, noise, batch, cfg, guidance, outChannels, c, spatial);
                if (cfg && rescale > 0) GuidanceRescale.Apply(output, noise, batch, outChannels, c, spatial, rescale);
            },
        };
        Loop.Run(Ops, job, progress);
        var latents = job.Latents;
        Trace?.Add("latents", latents, batch, c, h, w);
        timings.Add("denoise", sw.Elapsed);

        // ---- decode ----
        sw.Restart();
        var images = Decode(_vae, latents, batch, c, h, w);
        timings.Add("decode", sw.Elapsed);
        return new GenerationResult(images, timings, _scheduler.Timesteps.Length, images[0].Height, images[0].Width, request.Seed);
    }
}

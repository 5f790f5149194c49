using System.Diagnostics;
using XDit.Engine.Execution;
using XDit.Engine.Samplers;
using XDit.Kernels;
using XDit.Models;
using XDit.Models.Qwen25VL;
using XDit.Models.QwenImage;
using XDit.Models.Tokenizers;
using XDit.Models.Vae.QwenImage;
using XDit.Models.Vae.Wan;
using XDit.Runtime;

namespace XDit.Engine.Pipelines;

/// <summary>
/// QwenImagePipeline (Qwen-Image, text to image): each prompt put in the chat template
/// (<see cref="QwenImagePromptEmbeds.Template"/>), tokenized to the longest of its batch, run through the Qwen2.5-VL
/// language model, the template's first 34 tokens dropped and the rest right-padded with a mask
/// (<see cref="QwenImagePromptEmbeds"/>); latents packed into 2×2-patch tokens as Flux's, with img_shapes (1, h/2, w/2)
/// for the transformer's 3-axis RoPE; flow-match Euler on linspace(1, 1/n, n) shifted by μ from the image token count,
/// σ·1000/1000 given as the timestep. True CFG: with true_cfg_scale above 1 (diffusers' default 4) and a negative
/// prompt, the transformer also runs on the negative prompt and the prediction is neg + s·(pos − neg) rescaled per
/// token to the positive prediction's norm (<see cref="QwenImageGuidance"/>). The negative and positive embeddings are
/// padded to one length (padded keys masked, so no value changes) to run as [negative; positive] rows of one pass. The
/// VAE (AutoencoderKLQwenImage, run as <see cref="AutoencoderKLWan"/>) decodes one frame of latents · std + mean.
/// </summary>
public sealed class QwenImagePipeline : TextToImagePipeline
{
    /// <summary>diffusers' tokenizer_max_length: the most prompt tokens (after the template's) it keeps, and the most
    /// max_sequence_length it accepts.</summary>
    public const int TokenizerMaxLength = 1024;
    /// <summary>diffusers' default_sample_size: 128 latent pixels of the VAE's factor (1024 for Qwen-Image's 8).</summary>
    public const int DefaultSampleSize = 128;
    /// <summary>diffusers' default true_cfg_scale.</summary>
    public const float DefaultTrueCfgScale = 4f;

    readonly ITextTokenizer _tokenizer;
    readonly Qwen25VLTextModel _textEncoder;
    readonly QwenImageTransformer _transformer;
    readonly AutoencoderKLWan _vae;
    readonly FlowMatchEulerDiscreteScheduler _scheduler;

    public QwenImagePipeline(ModelIndex index, IOps ops) : base(index, ops)
    {
        try
        {
            _scheduler = FlowMatchScheduler.Load(index);
            _tokenizer = TokenizerLoader.Load(index.Require("tokenizer"));
            _textEncoder = Own(Qwen25VLTextModel.Load(index.Require("text_encoder"), ops));
            _transformer = Own(QwenImageTransformer.Load(index.Require("transformer"), ops));
            _vae = Own(AutoencoderKLWan.Load(index.Require("vae"), ops));
            CheckComponentsAgree();
        }
        catch
        {
            DisposeModels();
            throw;
        }
    }

    void CheckComponentsAgree()
    {
        var tc = _transformer.Config;
        var vc = _vae.Config;
        if (_textEncoder.Config.HiddenSize != tc.JointAttentionDim)
            throw new InvalidDataException($"{Path.Combine(Index.Dir, "text_encoder")}: hidden_size {_textEncoder.Config.HiddenSize} differs from the transformer's joint_attention_dim {tc.JointAttentionDim}");
        if (tc.GuidanceEmbeds)
            throw new NotSupportedException($"{Index.Dir}: the transformer sets guidance_embeds (a guidance-distilled Qwen-Image), which this pipeline does not run");
        if (tc.PatchSize != 2)
            throw new NotSupportedException($"{Index.Dir}: the Qwen-Image transformer's patch_size is {tc.PatchSize}; the pipeline packs 2×2 latent patches and needs 2");
        if (4 * vc.ZDim != tc.InChannels)
            throw new InvalidDataException($"{vc.Path}: z_dim {vc.ZDim} packed 2×2 gives {4 * vc.ZDim} features, the transformer's in_channels is {tc.InChannels}");
        if (tc.OutFeatures != tc.InChannels)
            throw new InvalidDataException($"{Index.Dir}: the Qwen-Image transformer's output features {tc.OutFeatures} (patch² · out_channels) differ from in_channels {tc.InChannels}");
        vc.RequireLatentStats();
    }

    public QwenImageTransformer Transformer => _transformer;
    public override DiffusionTransformer Denoiser => _transformer;
    public override int DefaultSteps => 50;
    /// <summary>Unused: Qwen-Image is not guidance-distilled; its guidance is true_cfg_scale.</summary>
    public override float DefaultGuidanceScale => 1f;
    /// <summary>VAE factor × 2: latents are packed in 2×2 patches.</summary>
    public override int SizeMultiple => _vae.Config.SpatialFactor * 2;
    protected override string SizeMultipleMeaning => "VAE factor × 2 for the 2×2 latent packing";
    public override int DefaultSize => DefaultSampleSize * _vae.Config.SpatialFactor;
    protected override int DecoderChannels => _vae.Config.DecoderBaseDim * _vae.Config.DimMult[0];
    protected override bool TakesTrueCfg => true;

    /// <summary>Only true CFG (with a negative prompt) doubles the rows.</summary>
    protected override (long Images, long Rows) ModelRows(GenerationRequest r)
    {
        long images = (long)r.Prompts.Count * r.NumImagesPerPrompt;
        return (images, TrueCfg(r) ? 2 * images : images);
    }

    protected override double DecodeBytes(GenerationRequest r, long images, double pixels, long bytes, bool cpu)
    {
        var (height, width) = EstimatedSize(r);
        int f = _vae.Config.SpatialFactor;
        return _vae.EstimateDecodeBytes((int)images, 1, height / f, width / f, cpu);
    }

    static bool TrueCfg(GenerationRequest r) => (r.TrueCfgScale ?? DefaultTrueCfgScale) > 1f && r.NegativePrompt is not null;

    protected override GenerationResult Run(GenerationRequest request, IProgress<PipelineProgress>? progress)
    {
        int maxSeq = request.MaxSequenceLength ?? 512;
        if (maxSeq > TokenizerMaxLength)
            throw new ArgumentException($"max sequence length {maxSeq} is above {TokenizerMaxLength}, the most Qwen-Image accepts");
        RefuseSD3Options(request, "Qwen-Image");
        if (request.UseResolutionBinning == true) throw new ArgumentException("resolution binning is a PixArt option");
        var (height, width) = CheckSize(request);

        var timings = TimingsReportedTo(progress);
        int steps = request.NumInferenceSteps ?? DefaultSteps;
        int batch = request.Prompts.Count * request.NumImagesPerPrompt;
        int f = _vae.Config.SpatialFactor, c = _vae.Config.ZDim;
        int h = height / f, w = width / f, tokens = (h / 2) * (w / 2), features = 4 * c;
        float trueCfgScale = request.TrueCfgScale ?? DefaultTrueCfgScale;
        bool trueCfg = TrueCfg(request);
        if (request.TrueCfgScale > 1f && !trueCfg)
            RaiseWarning($"true_cfg_scale {trueCfgScale} needs a negative prompt; without one true CFG stays off, as in diffusers");
        if (request.GuidanceScale is { } g && g != DefaultGuidanceScale)
            RaiseWarning($"guidance_scale {g} is ignored: Qwen-Image is not guidance-distilled; its guidance is true_cfg_scale (default {DefaultTrueCfgScale}) with a negative prompt");
        if (trueCfgScale <= 1f && request.NegativePrompt is not null)
            RaiseWarning($"the negative prompt is not used: true CFG is off with true_cfg_scale {trueCfgScale} (at most 1), as in diffusers");

        // the schedule first: a step count it cannot run is refused before any work
        var (sigmas, mu) = FlowMatchPipelineSchedule.For(_scheduler, steps, tokens);
        _scheduler.SetTimesteps(steps, mu, sigmas);
        // shift_terminal (0.02 in Qwen-Image's config) stretches by 1 − σ_last, which is 0 for one step: 0/0
        if (_scheduler.Sigmas.Any(s => !float.IsFinite(s)))
            throw new ArgumentException($"{Index.Require("scheduler")}: {steps} step(s) give non-finite sigmas (shift_terminal stretches by 1 − the last sigma, 0 for a single step; diffusers would denoise into NaN): ask for at least 2 steps");

        // ---- encode ----
        var sw = Stopwatch.StartNew();
        var texts = PromptRows.Positive(request);
        var (context, mask) = EncodePrompts(texts, maxSeq, "");
        if (trueCfg)
        {
            try
            {
                var (negContext, negMask) = EncodePrompts(Enumerable.Repeat(request.NegativePrompt!, batch).ToList(), maxSeq, "negative_");
                (context, mask) = JoinRows(negContext, negMask, context, mask);
            }
            catch
            {
                context.Dispose();
                throw;
            }
        }
        using var contextT = context;
        // no padded text token: no mask (the transformer would read it back every step to find none)
        using var maskT = mask.All(m => m != 0) ? null : Ops.FromHost(mask.Select(m => (float)m).ToArray(), contextT.Dim(0), contextT.Dim(1));
        timings.Add("encode", sw.Elapsed);

        // ---- denoise ----
        sw.Restart();
        var latents = InitialLatents(request, batch, c, h, w, _scheduler.InitNoiseSigma);
        var packed = FluxLatents.Pack(latents, batch, c, h, w);
        Action<float[], float[], int> combine = trueCfg
            ? (output, noise, spatial) => QwenImageGuidance.Combine(output, noise, batch, tokens, features, trueCfgScale)
            : (output, noise, spatial) => Array.Copy(output, noise, (long)batch * spatial);
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
            Latents = packed,
            Batch = batch,
            LatentShape = new[] { tokens, features },
            Cfg = trueCfg,
            BuildInputs = (ops, x, i) => new DitInputs
            {
                HiddenStates = x,
                EncoderHiddenStates = contextT,
                EncoderAttentionMask = maskT,
                // diffusers passes (σ·1000 in float32) / 1000; the model scales by 1000 again
                Timestep = TimestepRows(_scheduler.Timesteps[i] / 1000f, x.Dim(0)),
                ImgShape = (1, h / 2, w / 2),
            },
            Combine = combine,
        };
        Loop.Run(Ops, job, progress);
        Trace?.Add("latents", job.Latents, batch, tokens, features);
        timings.Add("denoise", sw.Elapsed);

        // ---- decode ----
        sw.Restart();
        // latents · std + mean per channel; the scaled-latent step of Decode is then the identity (÷1 + 0)
        var z = QwenImageVaeLatents.ToDecoderInput(_vae.Config, FluxLatents.Unpack(job.Latents, batch, c, h, w), batch);
        var images = Decode(DecodeFrame, 1.0, 0.0, z, batch, c, h, w);
        timings.Add("decode", sw.Elapsed);
        return new GenerationResult(images, timings, _scheduler.Timesteps.Length, height, width, request.Seed);
    }

    /// <summary>z [B, z_dim, h, w] as the one-frame video [B, z_dim, 1, h, w] through the VAE; its frame 0 [B, 3, H, W].</summary>
    Tensor DecodeFrame(Tensor z)
    {
        int b = z.Dim(0);
        using var video = _vae.Decode(Ops, z.Reshape(b, z.Dim(1), 1, z.Dim(2), z.Dim(3)));
        if (video.Dim(2) != 1)
            throw new InvalidOperationException($"{_vae.Config.Path}: one latent frame decoded to {video.Dim(2)} frames, expected 1");
        return Ops.Contiguous(video.Select(2, 0));
    }

    /// <summary>prompt_embeds [R, L, D] and their mask [R·L] (1 kept, 0 padding) of each text in the chat template,
    /// tokenized to the longest of the rows (truncated at 1024 prompt tokens plus the template's), as encode_prompt
    /// makes them; traced under <paramref name="prefix"/> ("" or "negative_").</summary>
    public (Tensor Embeds, long[] Mask) EncodePrompts(IReadOnlyList<string> texts, int maxSequenceLength, string prefix = "")
    {
        var templated = texts.Select(t => string.Format(System.Globalization.CultureInfo.InvariantCulture, QwenImagePromptEmbeds.Template, t)).ToList();
        var tok = _tokenizer.Encode(templated, TokenizerMaxLength + QwenImagePromptEmbeds.DropIdx, TokenPadding.Longest);
        ReportTruncation(tok, texts, _tokenizer);
        if (Trace is { } trace)
        {
            trace.Add(prefix + "input_ids", tok.Ids.Select(v => (float)v).ToArray(), tok.Batch, tok.Length);
            trace.Add(prefix + "attention_mask", tok.Mask.Select(v => (float)v).ToArray(), tok.Batch, tok.Length);
        }
        using var hidden = _textEncoder.Encode(Ops, tok.Ids, tok.Mask, tok.Batch, tok.Length);
        var (embeds, mask) = QwenImagePromptEmbeds.From(Ops, hidden, tok.Mask, QwenImagePromptEmbeds.DropIdx, maxSequenceLength);
        if (Trace is { } t2)
        {
            t2.AddRows(Ops, prefix + "prompt_embeds", embeds, 0, embeds.Dim(0));
            t2.Add(prefix + "prompt_embeds_mask", mask.Select(v => (float)v).ToArray(), embeds.Dim(0), embeds.Dim(1));
        }
        return (embeds, mask);
    }

    /// <summary>[negative; positive] rows of one tensor: the shorter embeddings right-padded with zeros and mask 0 to
    /// the longer's length (a masked key changes no attention output, and the text rows' own outputs are never read).
    /// Disposes both inputs.</summary>
    (Tensor Embeds, long[] Mask) JoinRows(Tensor neg, long[] negMask, Tensor pos, long[] posMask)
    {
        using (neg)
        using (pos)
        {
            int len = Math.Max(neg.Dim(1), pos.Dim(1));
            using var negPadded = PadTo(neg, len);
            using var posPadded = PadTo(pos, len);
            var mask = PadMask(negMask, neg.Dim(0), neg.Dim(1), len).Concat(PadMask(posMask, pos.Dim(0), pos.Dim(1), len)).ToArray();
            return (Ops.Concat(0, negPadded, posPadded), mask);
        }
    }

    Tensor PadTo(Tensor t, int len)
    {
        if (t.Dim(1) == len) return Ops.Contiguous(t);
        using var zeros = Ops.Zeros(t.DType, t.Dim(0), len - t.Dim(1), t.Dim(2));
        return Ops.Concat(1, t, zeros);
    }

    static long[] PadMask(long[] mask, int rows, int from, int to)
    {
        var padded = new long[rows * to];
        for (int r = 0; r < rows; r++) Array.Copy(mask, r * from, padded, r * to, from);
        return padded;
    }
}

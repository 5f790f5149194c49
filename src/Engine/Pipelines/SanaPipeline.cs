using System.Diagnostics;
using XDit.Engine.Execution;
using XDit.Engine.Samplers;
using XDit.Kernels;
using XDit.Models;
using XDit.Models.Gemma2;
using XDit.Models.Sana;
using XDit.Models.Tokenizers;
using XDit.Models.Vae.Dc;
using XDit.Runtime;

namespace XDit.Engine.Pipelines;

/// <summary>
/// diffusers' SanaPipeline: Gemma 2 text encoding (the prompt behind SANA's complex human instruction, of which the
/// first token and the last max_sequence_length − 1 states are kept; the negative prompt without it), flow
/// DPM-Solver++ denoising with classifier-free guidance on [negative; positive], AutoencoderDC decoding of
/// latents / scaling_factor. Resolution binning as diffusers where the transformer's sample_size has a table.
/// </summary>
public class SanaPipeline : TextToImagePipeline
{
    /// <summary>diffusers' default complex_human_instruction (SanaPipeline.__call__), joined with newlines and put
    /// in front of each prompt.</summary>
    public static IReadOnlyList<string> DefaultComplexHumanInstruction { get; } =
    [
        "Given a user prompt, generate an 'Enhanced prompt' that provides detailed visual descriptions suitable for image generation. Evaluate the level of detail in the user prompt:",
        "- If the prompt is simple, focus on adding specifics about colors, shapes, sizes, textures, and spatial relationships to create vivid and concrete scenes.",
        "- If the prompt is already detailed, refine and enhance the existing details slightly without overcomplicating.",
        "Here are examples of how to transform or refine prompts:",
        "- User Prompt: A cat sleeping -> Enhanced: A small, fluffy white cat curled up in a round shape, sleeping peacefully on a warm sunny windowsill, surrounded by pots of blooming red flowers.",
        "- User Prompt: A busy city street -> Enhanced: A bustling city street scene at dusk, featuring glowing street lamps, a diverse crowd of people in colorful clothing, and a double-decker bus passing by towering glass skyscrapers.",
        "Please generate only the enhanced description for the prompt below and avoid including any additional commentary or evaluations:",
        "User Prompt: ",
    ];

    readonly ITextTokenizer _tokenizer;
    readonly Gemma2Model _textEncoder;
    readonly SanaTransformer _transformer;
    readonly AutoencoderDC _vae;
    readonly IScheduler _scheduler;
    readonly float _timestepScale;

    public SanaPipeline(ModelIndex index, IOps ops) : base(index, ops)
    {
        try
        {
            _tokenizer = TokenizerLoader.Load(index.Require("tokenizer"));
            _scheduler = SchedulerFactory.Load(index.Require("scheduler"));
            _textEncoder = Own(Gemma2Model.Load(index.Require("text_encoder"), ops));
            var transformerDir = index.Require("transformer");
            _transformer = Own(SanaTransformer.Load(transformerDir, ops));
            _timestepScale = (float)JsonConfig.Load(Path.Combine(transformerDir, "config.json")).GetPositiveDouble("timestep_scale", 1.0);
            _vae = Own(AutoencoderDC.Load(index.Require("vae"), ops));
            CheckShapes();
        }
        catch
        {
            DisposeModels();
            throw;
        }
    }

    /// <summary>The lines put in front of every prompt (joined with newlines); empty: the prompt alone, padded to
    /// max_sequence_length, as diffusers with complex_human_instruction=None.</summary>
    public IReadOnlyList<string> ComplexHumanInstruction { get; set; } = DefaultComplexHumanInstruction;

    public SanaTransformer Transformer => _transformer;
    /// <summary>The folder's DC-AE and scheduler, for <see cref="SanaSprintPipeline"/>, which shares the rest.</summary>
    protected AutoencoderDC Vae => _vae;
    protected IScheduler Scheduler => _scheduler;
    public override DiffusionTransformer Denoiser => _transformer;
    public override int DefaultSteps => 20;
    public override float DefaultGuidanceScale => 4.5f;
    public override int SizeMultiple => _vae.Config.SpatialFactor * _transformer.Config.PatchSize;
    protected override string SizeMultipleMeaning => "DC-AE factor × patch size";
    public override int DefaultSize => _transformer.Config.SampleSize * _vae.Config.SpatialFactor;

    /// <summary>The DC-AE's full-resolution stage (decoder_block_out_channels[0]) is fed by the upsampled stage
    /// before it; the wider of the two bounds what the decoder holds per pixel.</summary>
    protected override int DecoderChannels => _vae.Config.BlockOutChannels.Take(2).Max();
    protected override int TextTokens(GenerationRequest r) => MaxLength(r);

    protected static int MaxLength(GenerationRequest r) => r.MaxSequenceLength ?? 300;

    /// <summary>Whether the pipeline feeds the transformer a guidance embedding (SANA Sprint) instead of guiding
    /// with classifier-free guidance: the transformer's guidance_embeds must say the same.</summary>
    protected virtual bool EmbedsGuidance => false;

    /// <summary>The widths that must agree across the folder, refused at load in one line naming both files.</summary>
    void CheckShapes()
    {
        var t = _transformer.Config;
        if (_textEncoder.Config.HiddenSize != t.CaptionChannels)
            throw new ArgumentException($"{Index.Dir}: text_encoder hidden_size {_textEncoder.Config.HiddenSize} does not match the transformer's caption_channels {t.CaptionChannels} (transformer/config.json)");
        if (_vae.Config.LatentChannels != t.InChannels)
            throw new ArgumentException($"{Index.Dir}: vae latent_channels {_vae.Config.LatentChannels} does not match the transformer's in_channels {t.InChannels} (transformer/config.json)");
        if (t.OutChannels != t.InChannels && t.OutChannels != 2 * t.InChannels)
            throw new ArgumentException($"{Index.Dir}: transformer out_channels {t.OutChannels} is neither in_channels {t.InChannels} nor twice it");
        if (t.GuidanceEmbeds != EmbedsGuidance)
            throw new NotSupportedException(EmbedsGuidance
                ? $"{Index.Dir}: {GetType().Name} needs a transformer with a guidance embedder; transformer/config.json has guidance_embeds false"
                : $"{Index.Dir}: transformer/config.json has guidance_embeds true (a SANA Sprint transformer), which {GetType().Name} cannot drive; its model_index.json should name SanaSprintPipeline");
    }

    protected override GenerationResult Run(GenerationRequest request, IProgress<PipelineProgress>? progress)
    {
        var timings = TimingsReportedTo(progress);
        int steps = request.NumInferenceSteps ?? DefaultSteps;
        float guidance = request.GuidanceScale ?? DefaultGuidanceScale;
        RefuseSD3Options(request, "SANA");
        var (askedHeight, askedWidth) = (request.Height ?? DefaultSize, request.Width ?? DefaultSize);
        var bins = BinsFor(request);
        var binned = BinnedSize(request, bins);
        var (height, width) = CheckSize(request with { Height = binned.Height, Width = binned.Width });
        int batch = request.Prompts.Count * request.NumImagesPerPrompt;
        bool cfg = guidance > 1f;
        int f = _vae.Config.SpatialFactor, c = _transformer.Config.InChannels;
        int h = height / f, w = width / f;
        int maxLength = MaxLength(request);
        if (maxLength < 1) throw new ArgumentException($"max_sequence_length must be at least 1, got {maxLength}");

        // ---- encode ----
        var sw = Stopwatch.StartNew();
        var (posStates, posMask) = EncodePositive(PromptRows.Positive(request), maxLength);
        int d = _textEncoder.Config.HiddenSize;
        float[] states = posStates, mask = posMask;
        if (cfg)
        {
            // the negative prompt goes without the instruction, padded to max_sequence_length, and is not re-indexed
            var negTexts = Enumerable.Repeat(LowerStripped(request.NegativePrompt ?? ""), batch).ToList();
            var (negStates, negMask) = EncodeRows(negTexts, maxLength, "negative_");
            states = negStates.Concat(posStates).ToArray();
            mask = negMask.Concat(posMask).ToArray();
        }
        int rows = cfg ? 2 * batch : batch;
        using var textStates = Ops.FromHost(states, rows, maxLength, d);
        using var textMask = Ops.FromHost(mask, rows, maxLength);
        Trace?.AddGuided(Ops, "prompt_embeds", textStates, cfg);
        timings.Add("encode", sw.Elapsed);

        // ---- denoise ----
        sw.Restart();
        PrepareScheduler(_scheduler, steps, request, batch, c * h * w);
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
                Timestep = TimestepRows(_scheduler.Timesteps[i] * _timestepScale, x.Dim(0)),
            },
            // guidance on the prediction; with out_channels = 2·in_channels the first half is kept, as diffusers
            Combine = GuidedCombine(batch, cfg, guidance, outChannels, c),
        };
        Loop.Run(Ops, job, progress);
        var latents = job.Latents;
        Trace?.Add("latents", latents, batch, c, h, w);
        timings.Add("denoise", sw.Elapsed);

        // ---- decode ----
        sw.Restart();
        var images = Decode(z => _vae.Decode(Ops, z), _vae.Config.ScalingFactor, 0.0, latents, batch, c, h, w,
            bins is null ? null : (askedHeight, askedWidth));
        timings.Add("decode", sw.Elapsed);
        return new GenerationResult(images, timings, _scheduler.Timesteps.Length, images[0].Height, images[0].Width, request.Seed);
    }

    /// <summary>The prompts behind the instruction: tokenised to (instruction tokens + max_sequence_length − 2),
    /// encoded, then the first state and the last max_sequence_length − 1 kept (diffusers' select_index, SANA paper
    /// §3.1), with their mask entries. Without an instruction the rows are encoded at max_sequence_length as they are.</summary>
    protected (float[] States, float[] Mask) EncodePositive(List<string> prompts, int maxLength)
    {
        var texts = prompts.Select(LowerStripped).ToList();
        int total = maxLength;
        if (ComplexHumanInstruction.Count > 0)
        {
            var instruction = string.Join("\n", ComplexHumanInstruction);
            if (_tokenizer is not IInspectableTokenizer inspectable)
                throw new NotSupportedException($"{Index.Dir}: the tokenizer cannot count the complex human instruction's tokens");
            // tokenizer.encode counts its special tokens (Gemma's <bos>), as diffusers' num_chi_prompt_tokens does
            total = inspectable.EncodeUntruncated(instruction).Count + maxLength - 2;
            texts = texts.Select(t => instruction + t).ToList();
        }
        var (states, mask) = EncodeRows(texts, total, "");
        if (total == maxLength) return (states, mask);
        // keep position 0 and the last maxLength − 1 positions of each row
        int d = _textEncoder.Config.HiddenSize, rows = texts.Count;
        var keptStates = new float[rows * maxLength * d];
        var keptMask = new float[rows * maxLength];
        for (int b = 0; b < rows; b++)
            for (int j = 0; j < maxLength; j++)
            {
                int src = j == 0 ? 0 : total - maxLength + j;
                Array.Copy(states, ((long)b * total + src) * d, keptStates, ((long)b * maxLength + j) * d, d);
                keptMask[b * maxLength + j] = mask[b * total + src];
            }
        return (keptStates, keptMask);
    }

    /// <summary>Gemma 2's last hidden states [rows, length, D] and the 0/1 mask [rows, length] of texts padded (on
    /// the right) and truncated to <paramref name="length"/>, on the host.</summary>
    (float[] States, float[] Mask) EncodeRows(List<string> texts, int length, string traceName)
    {
        var tokens = _tokenizer.Encode(texts, length);
        ReportTruncation(tokens, texts, _tokenizer);
        Trace?.AddTokens(traceName + "input_ids", traceName + "attention_mask", tokens, cfg: false);
        using var encoded = _textEncoder.Encode(Ops, tokens.Ids, tokens.Mask, tokens.Batch, tokens.Length);
        return (Ops.ToHost(encoded), tokens.Mask.Select(m => (float)m).ToArray());
    }

    /// <summary>The aspect-ratio table diffusers bins with for the transformer's sample_size (16, 32, 64, 128: 512,
    /// 1024, 2048, 4096 pixels), or null when binning is off (asked off, or left to the default where there is no table).</summary>
    protected virtual IReadOnlyList<AspectRatioBins.Bin>? BinsFor(GenerationRequest r)
    {
        int sample = _transformer.Config.SampleSize;
        return ChosenBins(r, sample is 16 or 32 or 64 or 128 ? AspectRatioBins.ForResolution(sample * 32) : null, sample, "here for 16, 32, 64 and 128");
    }

    /// <summary>The size the transformer runs at: the binned size when binning applies, else the asked one.</summary>
    public (int Height, int Width) GenerationSize(GenerationRequest r) => BinnedSize(r, BinsFor(r));

}

using System.Diagnostics;
using XDit.Engine.Execution;
using XDit.Engine.Samplers;
using XDit.Kernels;
using XDit.Models;
using XDit.Models.Embeddings;

namespace XDit.Engine.Pipelines;

/// <summary>
/// diffusers' SanaSprintPipeline: SANA's folder and Gemma 2 prompt encoding (<see cref="SanaPipeline"/>'s, with the
/// complex human instruction), but no classifier-free guidance and no negative prompt: guidance_scale ×
/// guidance_embeds_scale goes into the transformer's guidance embedding. Sampling is sCM in TrigFlow
/// (<see cref="SCMScheduler"/> wrapped by <see cref="SanaSprintTrigFlow"/>): 2 steps over the angles
/// [max_timesteps, intermediate_timesteps, 0] by default, latents in σ_d units (the initial ones times sigma_data,
/// the final x₀ divided by it) before AutoencoderDC decodes them. Resolution binning as diffusers: a table for
/// sample_size 32 (1024 px) only.
/// </summary>
public sealed class SanaSprintPipeline : SanaPipeline
{
    public SanaSprintPipeline(ModelIndex index, IOps ops) : base(index, ops)
    {
        try
        {
            if (Scheduler is not SCMScheduler)
                throw new NotSupportedException($"{Index.Dir}: SanaSprintPipeline samples with SCMScheduler; scheduler/scheduler_config.json names {Scheduler.ClassName}");
            var t = Transformer.Config;
            if (t.OutChannels != t.InChannels)
                throw new NotSupportedException($"{Index.Dir}: SanaSprintPipeline needs transformer out_channels equal to in_channels {t.InChannels} (transformer/config.json has {t.OutChannels})");
        }
        catch
        {
            DisposeModels();
            throw;
        }
    }

    /// <summary>The first angle of the schedule (diffusers' max_timesteps, π/2 rounded).</summary>
    public double MaxTimesteps { get; set; } = SCMScheduler.DefaultMaxTimesteps;
    /// <summary>The middle angle of a 2-step schedule (diffusers' intermediate_timesteps); other step counts, or null,
    /// space the angles evenly from <see cref="MaxTimesteps"/> to 0 (diffusers with intermediate_timesteps=None).</summary>
    public double? IntermediateTimesteps { get; set; } = SCMScheduler.DefaultIntermediateTimesteps;

    public override int DefaultSteps => 2;
    public override float DefaultGuidanceScale => 4.5f;
    protected override bool EmbedsGuidance => true;
    protected override bool TakesTrigFlowAngles => true;

    /// <summary>One transformer row per image: the guidance is embedded, never a second (negative) row.</summary>
    protected override (long Images, long Rows) ModelRows(GenerationRequest r)
    {
        long images = (long)r.Prompts.Count * r.NumImagesPerPrompt;
        return (images, images);
    }

    /// <summary>diffusers' SanaSprintPipeline bins only for sample_size 32 (ASPECT_RATIO_1024_BIN).</summary>
    protected override IReadOnlyList<AspectRatioBins.Bin>? BinsFor(GenerationRequest r)
    {
        int sample = Transformer.Config.SampleSize;
        return ChosenBins(r, sample == 32 ? AspectRatioBins.ForResolution(1024) : null, sample, "SANA Sprint has one for 32");
    }

    /// <summary>The scheduler of the folder set to <paramref name="steps"/> with this pipeline's angles, its step
    /// noise seeded for the request's rows (<see cref="TextToImagePipeline.SeedStepNoise"/>), wrapped in the
    /// TrigFlow scaling.</summary>
    SanaSprintTrigFlow Sampler(SCMScheduler scm, int steps, GenerationRequest request, int batch, int rowValues)
    {
        // the request's angles over this pipeline's; an intermediate angle asked with another step count than 2 is
        // passed on, for SCMScheduler to refuse as diffusers does
        double? intermediate = request.IntermediateTimesteps ?? (steps == 2 ? IntermediateTimesteps : null);
        scm.SetTimesteps(steps, request.MaxTimesteps ?? MaxTimesteps, intermediate);
        SeedStepNoise(scm, request, batch, rowValues);
        return new SanaSprintTrigFlow(scm);
    }

    protected override GenerationResult Run(GenerationRequest request, IProgress<PipelineProgress>? progress)
    {
        var timings = TimingsReportedTo(progress);
        int steps = request.NumInferenceSteps ?? DefaultSteps;
        float guidanceScale = request.GuidanceScale ?? DefaultGuidanceScale;
        RefuseSD3Options(request, "SANA Sprint");
        if (request.NegativePrompt is not null)
            throw new ArgumentException("negative_prompt: SanaSprintPipeline has no negative prompt (it embeds guidance_scale in the transformer instead of classifier-free guidance)");
        var (askedHeight, askedWidth) = (request.Height ?? DefaultSize, request.Width ?? DefaultSize);
        var bins = BinsFor(request);
        var binned = BinnedSize(request, bins);
        var (height, width) = CheckSize(request with { Height = binned.Height, Width = binned.Width });
        int batch = request.Prompts.Count * request.NumImagesPerPrompt;
        var config = Transformer.Config;
        int f = Vae.Config.SpatialFactor, c = config.InChannels;
        int h = height / f, w = width / f;
        int maxLength = MaxLength(request);
        if (maxLength < 1) throw new ArgumentException($"max_sequence_length must be at least 1, got {maxLength}");
        var sampler = Sampler((SCMScheduler)Scheduler, steps, request, batch, c * h * w);

        // ---- encode ----
        var sw = Stopwatch.StartNew();
        var (states, mask) = EncodePositive(PromptRows.Positive(request), maxLength);
        int d = states.Length / (batch * maxLength);
        using var textStates = Ops.FromHost(states, batch, maxLength, d);
        using var textMask = Ops.FromHost(mask, batch, maxLength);
        Trace?.AddGuided(Ops, "prompt_embeds", textStates, cfg: false);
        timings.Add("encode", sw.Elapsed);

        // ---- denoise ----
        sw.Restart();
        // diffusers: torch.full(guidance_scale) cast to the prompt embeddings' dtype, times guidance_embeds_scale there
        var act = Ops.ActivationType;
        float guidance = TimestepEmbedding.RoundTo(act, TimestepEmbedding.RoundTo(act, guidanceScale) * (float)config.GuidanceEmbedsScale);
        var job = new DenoiseJob
        {
            Model = Transformer,
            Scheduler = sampler,
            NewScheduler = () => Sampler((SCMScheduler)SchedulerFactory.Load(Index.Require("scheduler")), steps, request, batch, c * h * w),
            Latents = InitialLatents(request, batch, c, h, w, sampler.InitNoiseSigma),
            Batch = batch,
            LatentShape = new[] { c, h, w },
            Cfg = false,
            BuildInputs = (ops, x, i) => new DitInputs
            {
                HiddenStates = x,
                EncoderHiddenStates = textStates,
                EncoderAttentionMask = textMask,
                Timestep = TimestepRows(sampler.Timesteps[i], x.Dim(0)),
                Guidance = TimestepRows(guidance, x.Dim(0)),
            },
            Combine = GuidedCombine(batch, false, 1f, config.OutChannels, c),
        };
        Loop.Run(Ops, job, progress);
        // the last step ends at angle 0, where the sample is the step's x₀ (diffusers' denoised); back from σ_d units
        float sd = sampler.InitNoiseSigma;
        var latents = job.Latents.Select(v => v / sd).ToArray();
        Trace?.Add("latents", latents, batch, c, h, w);
        timings.Add("denoise", sw.Elapsed);

        // ---- decode ----
        sw.Restart();
        var images = Decode(z => Vae.Decode(Ops, z), Vae.Config.ScalingFactor, 0.0, latents, batch, c, h, w,
            bins is null ? null : (askedHeight, askedWidth));
        timings.Add("decode", sw.Elapsed);
        return new GenerationResult(images, timings, sampler.NumInferenceSteps, images[0].Height, images[0].Width, request.Seed);
    }
}

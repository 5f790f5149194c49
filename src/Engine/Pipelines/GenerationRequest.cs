namespace XDit.Engine.Pipelines;

/// <summary>
/// One call of a text-to-image pipeline, with diffusers' argument names. Unset values take the pipeline's defaults
/// (PixArt: 20 steps, guidance 4.5; SD3: 28 steps, 7.0; Flux-dev: 28 steps, guidance 3.5; size from the model).
/// </summary>
public sealed record GenerationRequest
{
    public required IReadOnlyList<string> Prompts { get; init; }
    /// <summary>null when none is given (diffusers' None): the guided pipelines then use "", and Flux's true CFG
    /// stays off.</summary>
    public string? NegativePrompt { get; init; }
    public int? NumInferenceSteps { get; init; }
    public float? GuidanceScale { get; init; }
    public int? Height { get; init; }
    public int? Width { get; init; }
    public ulong Seed { get; init; } = 42;
    public int NumImagesPerPrompt { get; init; } = 1;
    public int? MaxSequenceLength { get; init; }
    /// <summary>HunyuanDiT's guidance_rescale (diffusers rescale_noise_cfg, 0 = off, the default): the guided
    /// prediction is mixed with itself rescaled to the positive prediction's standard deviation. Pipelines that have
    /// no such option refuse a non-zero value.</summary>
    public float GuidanceRescale { get; init; }
    /// <summary>Initial latents [B, C, h, w] (already scaled by the scheduler's init sigma) instead of seeded noise. In
    /// image-to-image (SD3, Flux, SDXL with <see cref="Image"/>) they are the noise that is mixed into the image's latents
    /// (what diffusers' prepare_latents draws), not the start latents (diffusers' latents= argument, which skips the
    /// image).</summary>
    public float[]? Latents { get; init; }
    /// <summary>The shape of <see cref="Latents"/> as read from a file ([B, C, h, w]), checked against the run's;
    /// null checks only the count.</summary>
    public int[]? LatentsShape { get; init; }

    /// <summary>SD3: the prompts for CLIP-G (prompt_2) and T5 (prompt_3), one per prompt; null or an empty text
    /// takes the prompt itself, as diffusers' <c>prompt_2 or prompt</c>.</summary>
    public IReadOnlyList<string>? Prompts2 { get; init; }
    public IReadOnlyList<string>? Prompts3 { get; init; }
    /// <summary>SD3: the negative prompts for CLIP-G and T5; null or empty takes <see cref="NegativePrompt"/>.</summary>
    public string? NegativePrompt2 { get; init; }
    public string? NegativePrompt3 { get; init; }
    /// <summary>SD3: CLIP layers skipped from the end (diffusers' clip_skip): the prompt's CLIP features are
    /// hidden_states[−(clip_skip + 2)] instead of the penultimate layer's. diffusers applies it to the prompt only,
    /// never to the negative prompt.</summary>
    public int? ClipSkip { get; init; }
    /// <summary>SD3.5's skip-layer guidance: the transformer blocks left out of the extra pass (diffusers'
    /// skip_guidance_layers, e.g. 7, 8, 9 for SD3.5-medium); null turns it off. Needs classifier-free guidance.</summary>
    public IReadOnlyList<int>? SkipGuidanceLayers { get; init; }
    public float SkipLayerGuidanceScale { get; init; } = 2.8f;
    /// <summary>The pass runs on steps i with start·n &lt; i &lt; stop·n (n steps), as diffusers.</summary>
    public double SkipLayerGuidanceStart { get; init; } = 0.01;
    public double SkipLayerGuidanceStop { get; init; } = 0.2;
    /// <summary>Flux's true classifier-free guidance: above 1, with a <see cref="NegativePrompt"/>, the transformer
    /// also runs on the negative prompt and noise = neg + scale·(pos − neg). diffusers' default is 1 (off).</summary>
    public float? TrueCfgScale { get; init; }
    /// <summary>The input picture (diffusers' image): Flux Kontext's image to edit, resized as diffusers does (see
    /// <see cref="AutoResize"/>), encoded by the VAE and given to the transformer after the noisy tokens; SD3's and
    /// Flux's image-to-image start image, resized to the generated size, encoded and renoised by
    /// <see cref="Strength"/>; SDXL's, generated at its own size. Pipelines that take no image refuse it.</summary>
    public InputImage? Image { get; init; }
    /// <summary>Image-to-image's strength (SD3, Flux and SDXL with <see cref="Image"/>; null: diffusers' default, 0.6
    /// for SD3 and Flux, 0.3 for SDXL): how far into
    /// the schedule the image is renoised. The steps run are the last min(steps·strength, steps) of the schedule
    /// (diffusers' get_timesteps; SDXL's truncates n·strength first); 1 starts from pure noise, 0 would leave nothing
    /// to run and is refused. A double, as
    /// diffusers' Python float: steps·strength is truncated, so 0.6f's rounding would move the cut.</summary>
    public double? Strength { get; init; }
    /// <summary>Image-to-image: the standard normal draw [1, C, h, w] of the VAE's latent sample
    /// (latent_dist.sample) instead of the seeded one (a fixture feeds diffusers' draw); null: drawn from
    /// <see cref="Seed"/> (see <see cref="ImageToImage"/>).</summary>
    public float[]? ImageNoise { get; init; }
    /// <summary>Flux Kontext's max_area (null: 1024²): the output keeps the asked (or default) size's aspect ratio
    /// at about this many pixels.</summary>
    public long? MaxArea { get; init; }
    /// <summary>Flux Kontext's _auto_resize (diffusers' default true): the image is resized to the preferred Kontext
    /// resolution of the closest aspect ratio; false keeps its own size (floored to the size multiple).</summary>
    public bool AutoResize { get; init; } = true;
    /// <summary>SANA Sprint's TrigFlow angles: max_timesteps, where sampling starts (null: the pipeline's, π/2 rounded),
    /// and intermediate_timesteps, the middle angle of a 2-step run (null: the pipeline's 1.3; given with another step
    /// count it is refused, as diffusers). Other pipelines refuse them.</summary>
    public double? MaxTimesteps { get; init; }
    public double? IntermediateTimesteps { get; init; }
    /// <summary>PixArt's use_resolution_binning: generate at the closest size of the model's aspect-ratio table, then
    /// resize and centre-crop to the asked size. null: on where the model's sample_size has a table (diffusers'
    /// default, true); false: off; true: required (refused where there is no table, as diffusers).</summary>
    public bool? UseResolutionBinning { get; init; }

    /// <summary>Video pipelines (CogVideoX, Latte, Wan, LTX-Video): frames of each video (diffusers' num_frames; null: the model's, e.g.
    /// CogVideoX's 49). Image pipelines refuse it.</summary>
    public int? NumFrames { get; init; }
    /// <summary>Video pipelines (CogVideoX): diffusers' use_dynamic_cfg, a guidance scale that grows over the steps
    /// (1 + s·(1 − cos(π·((n − t)/n)^5))/2 at timestep t of n steps) instead of a constant one. Image pipelines refuse it.</summary>
    public bool UseDynamicCfg { get; init; }
    /// <summary>LTX-Video: diffusers' frame_rate (null: 25), which scales the RoPE's time axis
    /// (rope_interpolation_scale's first entry is the VAE's temporal ratio / frame_rate). Other pipelines refuse it.</summary>
    public double? FrameRate { get; init; }
    /// <summary>LTX-Video: the timestep the timestep-conditioned VAE decodes at (diffusers' decode_timestep; null: 0)
    /// and the share of fresh noise mixed into the latents before (decode_noise_scale; null: decode_timestep, as
    /// diffusers). Other pipelines refuse them.</summary>
    public double? DecodeTimestep { get; init; }
    public double? DecodeNoiseScale { get; init; }

    /// <summary>Index of this request's first image in a larger batch split across data-parallel ranks, so each
    /// rank draws the same initial noise a single rank would have drawn for those images.</summary>
    public int FirstRow { get; init; }
    /// <summary>Images of that larger batch (0: this request is the whole batch), so that a stochastic scheduler
    /// (DDPM) draws each step's noise for this request's rows at their place in the batch's stream, as one rank
    /// would.</summary>
    public int TotalRows { get; init; }

    public static GenerationRequest For(string prompt) => new() { Prompts = new[] { prompt } };

    /// <summary>Checks what can be checked without a model, and the bounds of <paramref name="limits"/> (the
    /// library's defaults when null); the pipeline checks sizes against the model.</summary>
    public void Validate(GenerationLimits? limits = null)
    {
        if (Prompts.Count == 0) throw new ArgumentException("at least one prompt is needed");
        for (int i = 0; i < Prompts.Count; i++)
            if (string.IsNullOrWhiteSpace(Prompts[i]))
                throw new ArgumentException((Prompts.Count == 1 ? "the prompt" : $"prompt {i + 1} of {Prompts.Count}")
                    + $" is {(Prompts[i] is { Length: > 0 } ? "blank" : "empty")}: say what to draw, e.g. \"a red circle on a blue background\"");
        if (NumInferenceSteps is < 1) throw new ArgumentException($"steps must be at least 1, got {NumInferenceSteps}");
        if (GuidanceScale is { } g && !float.IsFinite(g)) throw new ArgumentException($"guidance scale must be a finite number, got {g}");
        if (NumImagesPerPrompt < 1) throw new ArgumentException($"images per prompt must be at least 1, got {NumImagesPerPrompt}");
        if (Height is < 1 || Width is < 1) throw new ArgumentException($"height and width must be positive, got {Height}x{Width}");
        if (FrameRate is { } fr && !(fr > 0 && double.IsFinite(fr))) throw new ArgumentException($"frame_rate must be a finite number above 0, got {fr}");
        if (DecodeTimestep is { } dt && !double.IsFinite(dt)) throw new ArgumentException($"decode_timestep must be a finite number, got {dt}");
        if (DecodeNoiseScale is { } dn && !double.IsFinite(dn)) throw new ArgumentException($"decode_noise_scale must be a finite number, got {dn}");
        if (NumFrames is < 1) throw new ArgumentException($"num_frames must be at least 1, got {NumFrames}");
        if (MaxSequenceLength is < 1) throw new ArgumentException($"max sequence length must be at least 1, got {MaxSequenceLength}");
        if (Prompts2 is { } p2 && p2.Count != Prompts.Count) throw new ArgumentException($"prompt_2 gives {p2.Count} texts for {Prompts.Count} prompts: give one per prompt");
        if (Prompts3 is { } p3 && p3.Count != Prompts.Count) throw new ArgumentException($"prompt_3 gives {p3.Count} texts for {Prompts.Count} prompts: give one per prompt");
        if (FirstRow < 0) throw new ArgumentException($"first row must be 0 or more, got {FirstRow}");
        if (TotalRows != 0 && TotalRows < FirstRow + (long)Prompts.Count * NumImagesPerPrompt)
            throw new ArgumentException($"total rows {TotalRows} cannot hold this request's {Prompts.Count * NumImagesPerPrompt} images from row {FirstRow}: give 0 (the request is the whole batch) or at least {FirstRow + Prompts.Count * NumImagesPerPrompt}");
        if (ClipSkip is < 0) throw new ArgumentException($"clip_skip must be 0 or more, got {ClipSkip}");
        if (!(GuidanceRescale >= 0 && float.IsFinite(GuidanceRescale))) throw new ArgumentException($"guidance_rescale must be a finite number ≥ 0, got {GuidanceRescale}");
        if (TrueCfgScale is { } t && !float.IsFinite(t)) throw new ArgumentException($"true_cfg_scale must be a finite number, got {t}");
        if (Strength is { } st && !(st >= 0 && st <= 1)) throw new ArgumentException($"strength must lie in [0, 1], got {st}");
        if (MaxArea is < 1) throw new ArgumentException($"max_area must be positive, got {MaxArea}");
        if (MaxTimesteps is { } mt && !(mt > 0 && double.IsFinite(mt))) throw new ArgumentException($"max_timesteps must be a finite angle above 0, got {mt}");
        if (IntermediateTimesteps is { } it && !(it > 0 && double.IsFinite(it) && it < (MaxTimesteps ?? Math.PI / 2 + 1e-5)))
            throw new ArgumentException($"intermediate_timesteps must lie between 0 and max_timesteps ({MaxTimesteps ?? Math.PI / 2:0.#####}), got {it}");
        if (SkipGuidanceLayers is { } layers)
        {
            if (layers.Count == 0) throw new ArgumentException("skip_guidance_layers is empty: name at least one transformer block, or leave it out");
            if (layers.Any(l => l < 0)) throw new ArgumentException($"skip_guidance_layers holds {string.Join(", ", layers.Where(l => l < 0))}: block indices start at 0");
            if (!float.IsFinite(SkipLayerGuidanceScale)) throw new ArgumentException($"skip_layer_guidance_scale must be a finite number, got {SkipLayerGuidanceScale}");
            if (!(SkipLayerGuidanceStart >= 0 && SkipLayerGuidanceStart <= SkipLayerGuidanceStop && SkipLayerGuidanceStop <= 1))
                throw new ArgumentException($"skip-layer guidance needs 0 ≤ start ≤ stop ≤ 1, got start {SkipLayerGuidanceStart}, stop {SkipLayerGuidanceStop}");
        }
        (limits ?? GenerationLimits.Default).Check(this);
        if (Latents is { } given) FiniteCheck.Require(given, "the given latents");
        if (ImageNoise is { } imageNoise) FiniteCheck.Require(imageNoise, "the given image noise");
    }
}

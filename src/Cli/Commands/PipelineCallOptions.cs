using System.CommandLine;
using System.Globalization;
using XDit.Engine.Pipelines;

namespace XDit.Cli.Commands;

/// <summary>
/// The per-pipeline arguments of diffusers' __call__ for `xdit generate`, named as diffusers names them (dashes for
/// underscores): SD3's --prompt-2/--prompt-3, --negative-prompt-2/--negative-prompt-3, --clip-skip and SD3.5's
/// skip-layer guidance (--skip-guidance-layers 7,8,9 with --skip-layer-guidance-scale/-start/-stop), Flux's
/// --true-cfg-scale, HunyuanDiT's --guidance-rescale, SANA Sprint's --max-timesteps and --intermediate-timesteps, PixArt's (and HunyuanDiT's) --no-resolution-binning (binning is on by default, as diffusers'
/// use_resolution_binning=True), --image (Flux Kontext's image to edit, SD3's and Flux's image-to-image start image), Flux Kontext's --max-area and --no-auto-resize, image-to-image's --strength, and LTX-Video's --frame-rate, --decode-timestep and --decode-noise-scale. A pipeline given another pipeline's option refuses it.
/// </summary>
public sealed class PipelineCallOptions
{
    readonly Option<string[]> _prompt2 = new("--prompt-2") { Description = "SD3: prompt for CLIP-G, once or once per --prompt [default: the prompt]" };
    readonly Option<string[]> _prompt3 = new("--prompt-3") { Description = "SD3: prompt for T5, once or once per --prompt [default: the prompt]" };
    readonly Option<string?> _negative2 = new("--negative-prompt-2") { Description = "SD3: negative prompt for CLIP-G [default: --negative-prompt]" };
    readonly Option<string?> _negative3 = new("--negative-prompt-3") { Description = "SD3: negative prompt for T5 [default: --negative-prompt]" };
    readonly Option<int?> _clipSkip = NumberOptions.Int("--clip-skip", "SD3: CLIP layers skipped from the end for the prompt's features (diffusers' clip_skip)");
    readonly Option<string?> _slgLayers = new("--skip-guidance-layers") { Description = "SD3.5 skip-layer guidance: transformer blocks to skip in the extra pass, e.g. 7,8,9" };
    readonly Option<float?> _slgScale = NumberOptions.Float("--skip-layer-guidance-scale", "Skip-layer guidance scale [default: 2.8]");
    readonly Option<float?> _slgStart = NumberOptions.Float("--skip-layer-guidance-start", "Fraction of the steps where skip-layer guidance starts [default: 0.01]");
    readonly Option<float?> _slgStop = NumberOptions.Float("--skip-layer-guidance-stop", "Fraction of the steps where skip-layer guidance stops [default: 0.2]");
    readonly Option<float?> _trueCfg = NumberOptions.Float("--true-cfg-scale", "Flux, Qwen-Image: true classifier-free guidance with --negative-prompt when above 1 [default: Flux 1, off; Qwen-Image 4]");
    readonly Option<float?> _guidanceRescale = NumberOptions.Float("--guidance-rescale", "HunyuanDiT, LTX-Video: mix the guided prediction with itself rescaled to the prompt's standard deviation (diffusers' guidance_rescale) [default: 0, off]");
    readonly Option<float?> _maxTimesteps = NumberOptions.Float("--max-timesteps", "SANA Sprint: the TrigFlow angle sampling starts from (diffusers' max_timesteps) [default: 1.5708]");
    readonly Option<float?> _intermediateTimesteps = NumberOptions.Float("--intermediate-timesteps", "SANA Sprint: the middle angle of a 2-step run (diffusers' intermediate_timesteps) [default: 1.3]");
    readonly Option<string?> _image = new("--image") { Description = "Flux Kontext: the image to edit; SD3, Flux, SDXL: the start image of image-to-image, resized to the output size (SDXL: generated at its own size) (PNG or JPEG); other pipelines refuse it" };
    readonly Option<float?> _strength = NumberOptions.Float("--strength", "SD3, Flux, SDXL with --image: how far the image is renoised, 0 to 1; the last steps x strength steps run (diffusers' strength) [default: 0.6; SDXL 0.3]");
    readonly Option<int?> _maxArea = NumberOptions.Int("--max-area", "Flux Kontext: pixels of the output, which keeps the asked size's aspect ratio (diffusers' max_area) [default: 1048576]");
    readonly Option<bool> _noAutoResize = new("--no-auto-resize") { Description = "Flux Kontext: encode the image at its own size (floored to a multiple of 16) instead of the closest trained resolution" };
    readonly Option<float?> _frameRate = NumberOptions.Float("--frame-rate", "LTX-Video: the frame rate the RoPE's time axis is scaled for (diffusers' frame_rate; --fps sets the written file's) [default: 25]");
    readonly Option<float?> _decodeTimestep = NumberOptions.Float("--decode-timestep", "LTX-Video: the timestep the timestep-conditioned VAE decodes at (diffusers' decode_timestep) [default: 0]");
    readonly Option<float?> _decodeNoiseScale = NumberOptions.Float("--decode-noise-scale", "LTX-Video: the share of fresh noise mixed into the latents before decoding (diffusers' decode_noise_scale; the noise is drawn from --seed) [default: --decode-timestep]");
    readonly Option<bool> _noBinning = new("--no-resolution-binning") { Description = "PixArt, HunyuanDiT: generate at the asked size instead of the closest trained aspect ratio or shape" };

    public IEnumerable<Option> All => new Option[] { _prompt2, _prompt3, _negative2, _negative3, _clipSkip, _slgLayers, _slgScale, _slgStart, _slgStop, _trueCfg, _guidanceRescale, _maxTimesteps, _intermediateTimesteps, _noBinning, _image, _strength, _maxArea, _noAutoResize, _frameRate, _decodeTimestep, _decodeNoiseScale };

    /// <summary>The request with these options applied; throws on a malformed value, naming the flag.</summary>
    public GenerationRequest Apply(ParseResult parse, GenerationRequest request)
    {
        var layersText = parse.GetValue(_slgLayers);
        var layers = layersText is null ? null : ParseLayers(layersText);
        if (layers is null && (parse.GetValue(_slgScale) ?? parse.GetValue(_slgStart) ?? parse.GetValue(_slgStop)) is not null)
            throw new ArgumentException("--skip-layer-guidance-scale, -start and -stop need --skip-guidance-layers");
        var defaults = new GenerationRequest { Prompts = request.Prompts };
        // start and stop are compared with i / n in double, as Python does with the typed decimals: the float the
        // parser gives goes through decimal so that 0.8 stays 0.8 (0.8f widened is 0.80000001, which moves the bound).
        return request with
        {
            Prompts2 = PerPrompt(parse.GetValue(_prompt2), request.Prompts.Count, "--prompt-2"),
            Prompts3 = PerPrompt(parse.GetValue(_prompt3), request.Prompts.Count, "--prompt-3"),
            NegativePrompt2 = parse.GetValue(_negative2),
            NegativePrompt3 = parse.GetValue(_negative3),
            ClipSkip = parse.GetValue(_clipSkip),
            SkipGuidanceLayers = layers,
            SkipLayerGuidanceScale = parse.GetValue(_slgScale) ?? defaults.SkipLayerGuidanceScale,
            SkipLayerGuidanceStart = parse.GetValue(_slgStart) is { } start ? (double)(decimal)start : defaults.SkipLayerGuidanceStart,
            SkipLayerGuidanceStop = parse.GetValue(_slgStop) is { } stop ? (double)(decimal)stop : defaults.SkipLayerGuidanceStop,
            TrueCfgScale = parse.GetValue(_trueCfg),
            GuidanceRescale = parse.GetValue(_guidanceRescale) ?? 0f,
            // through decimal, so that 1.1 stays 1.1 in double (as the typed decimal is in Python)
            MaxTimesteps = parse.GetValue(_maxTimesteps) is { } mt ? (double)(decimal)mt : null,
            IntermediateTimesteps = parse.GetValue(_intermediateTimesteps) is { } it ? (double)(decimal)it : null,
            UseResolutionBinning = parse.GetValue(_noBinning) ? false : null,
            Image = parse.GetValue(_image) is { } image ? InputImage.Load(image) : null,
            MaxArea = parse.GetValue(_maxArea),
            // through decimal, so that 0.6 stays 0.6 in double: steps x strength is truncated, as in Python
            Strength = parse.GetValue(_strength) is { } strength ? (double)(decimal)strength : null,
            AutoResize = !parse.GetValue(_noAutoResize),
            // through decimal, so that 0.05 stays 0.05 in double (as the typed decimal is in Python)
            FrameRate = parse.GetValue(_frameRate) is { } fr ? (double)(decimal)fr : null,
            DecodeTimestep = parse.GetValue(_decodeTimestep) is { } dt ? (double)(decimal)dt : null,
            DecodeNoiseScale = parse.GetValue(_decodeNoiseScale) is { } dn ? (double)(decimal)dn : null,
        };
    }

    /// <summary>One text per --prompt (or one for all of them), or null when the flag is absent.</summary>
    static IReadOnlyList<string>? PerPrompt(string[]? given, int prompts, string flag)
    {
        if (given is null || given.Length == 0) return null;
        if (given.Length == 1) return Enumerable.Repeat(given[0], prompts).ToList();
        if (given.Length != prompts) throw new ArgumentException($"{flag} is given {given.Length} times for {prompts} prompts: give it once, or once per --prompt");
        return given;
    }

    /// <summary>"7,8,9" (spaces and repeated commas allowed) → [7, 8, 9].</summary>
    static List<int> ParseLayers(string text)
    {
        var parts = text.Split([',', ' '], StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0) throw new ArgumentException("--skip-guidance-layers: expected block indices such as 7,8,9, got nothing");
        return parts.Select(p => int.TryParse(p, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v >= 0 ? v
            : throw new ArgumentException($"--skip-guidance-layers: '{p}' is not a block index (a whole number ≥ 0) in '{text}'")).ToList();
    }
}

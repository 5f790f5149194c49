using XDit.Engine.Pipelines;
using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Engine.Verify;

/// <summary>
/// Whole-pipeline fixtures (pipe_pixart_sigma, pipe_sd3, pipe_flux, pipe_flux_kontext, pipe_sd3_img2img, pipe_flux_img2img,
/// and the video case pipe_cogvideox, whose frames and num_frames / use_dynamic_cfg are compared and passed too): the fixture folder is itself a diffusers
/// pipeline folder. It is loaded as `xdit generate --model` loads one, run on meta.json's prompts, negative prompt,
/// steps, guidance, size and max_sequence_length from the stored initial latents, and its trace is compared in the
/// order the pipeline makes it: token ids (the fixture's `in.*input_ids*` and masks, exactly), prompt embeddings,
/// final latents, then the images. The first line that fails is where the difference starts.
/// </summary>
public sealed class PipelineFixtureRunner : IFixtureRunner
{
    public bool Handles(JsonConfig meta) => meta.Has("pipeline");

    /// <summary>Token ids and masks first (stored as inputs, for debugging), then the outputs in pipeline order.</summary>
    public IEnumerable<string> Compared(FixtureCase fixture)
    {
        var ids = fixture.Io.Names.Where(n => n.StartsWith("in.", StringComparison.Ordinal) && IsTokenInput(n[3..]))
            .OrderBy(n => n, StringComparer.Ordinal);
        var outputs = fixture.OutputNames.OrderBy(Stage).ThenBy(n => n, StringComparer.Ordinal).Select(n => "out." + n);
        return ids.Concat(outputs);
    }

    static bool IsTokenInput(string name) => name.Contains("input_ids", StringComparison.Ordinal) || name.EndsWith("attention_mask", StringComparison.Ordinal);

    static int Stage(string output) => output switch
    {
        _ when output.Contains("attention_mask", StringComparison.Ordinal) => 0,
        _ when output.Contains("embeds", StringComparison.Ordinal) || output is "text_ids" or "image_latents" or "img_ids" => 1,
        "start_latents" => 2,
        "latents" or "latents_dynamic_cfg" => 3,
        _ => 4,
    };

    public IReadOnlyDictionary<string, Tensor> Run(FixtureCase fixture, IOps ops)
    {
        using var pipeline = PipelineLoader.Load(fixture.Dir, ops, ownsOps: false);
        var trace = new PipelineTrace();
        pipeline.Trace = trace;
        var request = Request(fixture);
        // a video pipeline returns frames (out.frames [B, F, 3, H, W]), an image pipeline images
        var video = pipeline as TextToVideoPipeline;
        var images = video is null ? pipeline.Generate(request).Images : null;
        var videos = video?.GenerateVideo(request).Videos;

        var outputs = new Dictionary<string, Tensor>();
        foreach (var name in Compared(fixture))
        {
            string key = name.StartsWith("out.", StringComparison.Ordinal) ? name[4..] : name;
            if (key == "images" && images is not null) { outputs[key] = Stack(images); continue; }
            if (key == "frames" && videos is not null) { outputs[key] = Stack(videos); continue; }
            if (key.EndsWith(DynamicCfgSuffix, StringComparison.Ordinal)) continue;
            var traced = trace.Find(TraceName(key));
            if (traced is not null) outputs[key] = Tensor.FromArray(traced.Values, traced.Shape);
        }
        // X_dynamic_cfg: X of the same call with use_dynamic_cfg on (CogVideoX's growing guidance scale)
        var dynamic = Compared(fixture).Select(n => n[4..]).Where(k => k.EndsWith(DynamicCfgSuffix, StringComparison.Ordinal)).ToList();
        if (dynamic.Count > 0 && video is not null)
        {
            var again = new PipelineTrace();
            pipeline.Trace = again;
            video.GenerateVideo(request with { UseDynamicCfg = true });
            foreach (var key in dynamic)
                if (again.Find(TraceName(key[..^DynamicCfgSuffix.Length])) is { } traced) outputs[key] = Tensor.FromArray(traced.Values, traced.Shape);
        }
        return outputs;
    }

    const string DynamicCfgSuffix = "_dynamic_cfg";

    /// <summary>The request the case records: meta.json's call options, the stored initial latents (and image).</summary>
    public static GenerationRequest Request(FixtureCase fixture)
    {
        var meta = fixture.Meta;
        // Flux stores its latents packed as passed to diffusers, and also unpacked: the request takes [B, C, h, w].
        using var latents = fixture.Input(fixture.HasInput("latents_unpacked") ? "latents_unpacked" : "latents");
        return new GenerationRequest
        {
            Prompts = meta.GetStringArray("prompts"),
            NegativePrompt = meta.GetString("negative_prompt", null),
            // the call options a case may record, as diffusers took them (absent: diffusers' defaults)
            TrueCfgScale = meta.GetDoubleOrNull("true_cfg_scale") is { } trueCfg ? (float)trueCfg : null,
            UseResolutionBinning = meta.Has("use_resolution_binning") ? meta.GetBool("use_resolution_binning") : null,
            NumInferenceSteps = meta.GetInt("num_inference_steps"),
            GuidanceScale = (float)meta.GetDouble("guidance_scale"),
            Height = meta.GetInt("height"),
            Width = meta.GetInt("width"),
            MaxSequenceLength = meta.Has("max_sequence_length") ? meta.GetInt("max_sequence_length") : null,
            Latents = latents.ToFloatArray(),
            // the input picture (in.image, 8-bit values stored as float32 [H, W, 3]) and Flux Kontext's sizing
            Image = fixture.HasInput("image") ? ReadImage(fixture) : null,
            MaxArea = meta.Has("max_area") ? meta.GetInt("max_area") : null,
            AutoResize = meta.GetBool("auto_resize", true),
            // image-to-image: the strength, and diffusers' draw of the VAE's latent sample (in.latents is the noise)
            Strength = meta.GetDoubleOrNull("strength"),
            ImageNoise = fixture.HasInput("image_noise") ? ReadFloats(fixture, "image_noise") : null,
            // video pipelines: frames per video and the growing guidance scale
            NumFrames = meta.Has("num_frames") ? meta.GetInt("num_frames") : null,
            UseDynamicCfg = meta.GetBool("use_dynamic_cfg", false),
            // LTX-Video: the RoPE's frame rate and the timestep-conditioned decode
            FrameRate = meta.GetDoubleOrNull("frame_rate"),
            DecodeTimestep = meta.GetDoubleOrNull("decode_timestep"),
            DecodeNoiseScale = meta.GetDoubleOrNull("decode_noise_scale"),
        };
    }

    static float[] ReadFloats(FixtureCase fixture, string name)
    {
        using var t = fixture.Input(name);
        return t.ToFloatArray();
    }

    static InputImage ReadImage(FixtureCase fixture)
    {
        using var t = fixture.Input("image");
        if (t.Rank != 3 || t.Dim(2) != 3)
            throw new InvalidDataException($"{fixture.Dir}: in.image must be [H, W, 3] (8-bit RGB values), got {Shape.Format(t.ShapeSpan)}");
        var v = t.ToFloatArray();
        var rgb = new byte[v.Length];
        for (int i = 0; i < v.Length; i++)
            rgb[i] = v[i] is >= 0 and <= 255 && v[i] == MathF.Round(v[i]) ? (byte)v[i]
                : throw new InvalidDataException($"{fixture.Dir}: in.image[{i}] is {v[i]}, not an 8-bit value");
        return new InputImage(rgb, t.Dim(0), t.Dim(1));
    }

    /// <summary>The trace's name for a fixture tensor: the inputs drop their `in.`; encode_prompt's masks are the
    /// tokenizer's.</summary>
    static string TraceName(string key) => key switch
    {
        _ when key.StartsWith("in.", StringComparison.Ordinal) => key[3..],
        "prompt_attention_mask" => "attention_mask",
        "negative_prompt_attention_mask" => "negative_attention_mask",
        _ => key,
    };

    /// <summary>The videos as one [B, F, 3, H, W] tensor, as diffusers' postprocess_video returns them (output_type pt).</summary>
    static Tensor Stack(IReadOnlyList<GeneratedVideo> videos)
    {
        var first = videos[0];
        return Tensor.FromArray(videos.SelectMany(v => v.Pixels).ToArray(), videos.Count, first.FrameCount, 3, first.Height, first.Width);
    }

    /// <summary>The images as one [N, 3, H, W] tensor, as the reference pipeline returns them.</summary>
    static Tensor Stack(IReadOnlyList<GeneratedImage> images)
    {
        var first = images[0];
        var all = images.SelectMany(i => i.Pixels).ToArray();
        return Tensor.FromArray(all, images.Count, 3, first.Height, first.Width);
    }
}

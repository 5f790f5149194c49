using System.Text.Json;
using XDit.Engine.Pipelines;

namespace XDit.Engine.Serving;

/// <summary>
/// The body of POST /generate, checked field by field. Names follow diffusers and xDiT's service (`cfg` is xDiT's
/// name for guidance_scale; a save_disk_path alone means output_type "path", as xDiT writes to disk when given one).
/// Unknown fields are refused rather than ignored, so a misspelt option is not silently dropped. The service's
/// limits (steps, pixels, images, guidance) are checked here, before the request is queued; save_disk_path is a
/// folder inside the service's output folder (<see cref="OutputFolder"/>).
/// </summary>
public sealed record ServeRequest(GenerationRequest Generation, ServeOutput Output, string? SaveDiskPath)
{
    static readonly string[] Known =
        ["prompt", "negative_prompt", "num_inference_steps", "guidance_scale", "cfg", "seed", "height", "width", "num_images_per_prompt", "output_type", "save_disk_path",
         // the pipeline options, as diffusers' pipelines name their call arguments
         "max_sequence_length", "prompt_2", "prompt_3", "negative_prompt_2", "negative_prompt_3", "clip_skip",
         "skip_guidance_layers", "skip_layer_guidance_scale", "skip_layer_guidance_start", "skip_layer_guidance_stop",
         "true_cfg_scale", "use_resolution_binning", "image", "max_area", "auto_resize", "strength"];

    /// <summary>
    /// The service's bounds unless `xdit serve` is told otherwise: 200 steps, 2048² pixels an image, 16 images and
    /// 4 × 2048² pixels a request (sixteen 1024² images), |guidance| ≤ 1000. Tighter than the library's, because one
    /// request holds the only worker.
    /// </summary>
    public static GenerationLimits DefaultLimits { get; } = new()
    {
        MaxSteps = 200,
        MaxPixels = 2048L * 2048,
        MaxImages = 16,
        MaxTotalPixels = 4L * 2048 * 2048,
    };

    /// <param name="sizeMultiple">height and width must be multiples of this (the model's)</param>
    /// <param name="limits">the service's bounds (the library's defaults when null)</param>
    /// <param name="outputDir">the folder save_disk_path is relative to; null refuses output_type "path"</param>
    public static ServeRequest Parse(ReadOnlySpan<byte> body, int sizeMultiple = 1, GenerationLimits? limits = null, string? outputDir = null)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(body.ToArray()); }
        catch (JsonException e) { throw new ServeRequestException(null, $"malformed JSON: {e.Message}"); }
        using (doc) return Parse(doc.RootElement, sizeMultiple, limits, outputDir);
    }

    public static ServeRequest Parse(JsonElement root, int sizeMultiple = 1, GenerationLimits? limits = null, string? outputDir = null)
    {
        // Invalid UTF-8 or a lone surrogate escape (\ud800) passes the JSON reader and fails when a string is read.
        try { return ParseFields(root, sizeMultiple, limits, outputDir); }
        catch (InvalidOperationException e) when (e is not ObjectDisposedException)
        {
            throw new ServeRequestException(null, $"the body holds a string that is not valid UTF-8 or Unicode (a lone surrogate): {e.Message}");
        }
    }

    static ServeRequest ParseFields(JsonElement root, int sizeMultiple, GenerationLimits? limits, string? outputDir)
    {
        if (root.ValueKind != JsonValueKind.Object) throw new ServeRequestException(null, $"the body must be a JSON object, got {root.ValueKind.ToString().ToLowerInvariant()}");
        foreach (var p in root.EnumerateObject())
            if (!Known.Contains(p.Name)) throw new ServeRequestException(p.Name, $"unknown field '{p.Name}' (known: {string.Join(", ", Known)})");
        if (root.TryGetProperty("guidance_scale", out var g1) && g1.ValueKind != JsonValueKind.Null && root.TryGetProperty("cfg", out var g2) && g2.ValueKind != JsonValueKind.Null)
            throw new ServeRequestException("cfg", "give guidance_scale or cfg (xDiT's name for it), not both");

        var prompt = String(root, "prompt") ?? throw new ServeRequestException("prompt", "prompt is required");
        if (string.IsNullOrWhiteSpace(prompt)) throw new ServeRequestException("prompt", "prompt must not be empty");
        int? steps = Positive(root, "num_inference_steps");
        int? height = Positive(root, "height"), width = Positive(root, "width");
        foreach (var (name, v) in new[] { ("height", height), ("width", width) })
            if (v is { } s && s % sizeMultiple != 0) throw new ServeRequestException(name, $"{name} must be a multiple of {sizeMultiple} for this model, got {s}");
        int perPrompt = Positive(root, "num_images_per_prompt") ?? 1;
        float? guidance = Number(root, "guidance_scale") ?? Number(root, "cfg");
        ulong seed = Seed(root) ?? 42;

        var saveDir = String(root, "save_disk_path");
        var output = (String(root, "output_type") ?? (saveDir is null ? "png_base64" : "path")) switch
        {
            "png_base64" => ServeOutput.PngBase64,
            "path" => ServeOutput.Path,
            var other => throw new ServeRequestException("output_type", $"output_type must be \"png_base64\" or \"path\", got \"{other}\""),
        };
        if (output == ServeOutput.PngBase64 && saveDir is not null)
            throw new ServeRequestException("save_disk_path", "save_disk_path goes with output_type \"path\", not \"png_base64\"");

        var request = new GenerationRequest
        {
            Prompts = new[] { prompt },
            // null when absent: Flux's true CFG runs only with a negative prompt given, as in diffusers
            NegativePrompt = String(root, "negative_prompt"),
            NumInferenceSteps = steps,
            GuidanceScale = guidance,
            Height = height,
            Width = width,
            Seed = seed,
            NumImagesPerPrompt = perPrompt,
            MaxSequenceLength = Positive(root, "max_sequence_length"),
            Prompts2 = String(root, "prompt_2") is { } p2 ? [p2] : null,
            Prompts3 = String(root, "prompt_3") is { } p3 ? [p3] : null,
            NegativePrompt2 = String(root, "negative_prompt_2"),
            NegativePrompt3 = String(root, "negative_prompt_3"),
            ClipSkip = Positive(root, "clip_skip"),
            SkipGuidanceLayers = Layers(root, "skip_guidance_layers"),
            SkipLayerGuidanceScale = Number(root, "skip_layer_guidance_scale") ?? 2.8f,
            SkipLayerGuidanceStart = Real(root, "skip_layer_guidance_start") ?? 0.01,
            SkipLayerGuidanceStop = Real(root, "skip_layer_guidance_stop") ?? 0.2,
            TrueCfgScale = Number(root, "true_cfg_scale"),
            UseResolutionBinning = Bool(root, "use_resolution_binning"),
            Image = Image(root, "image"),
            MaxArea = Positive(root, "max_area"),
            AutoResize = Bool(root, "auto_resize") ?? true,
            Strength = Real(root, "strength"),
        };
        try { request.Validate(limits ?? DefaultLimits); }
        catch (RequestLimitException e) { throw new ServeRequestException(e.Field, e.Message + LimitFlag(e.Field)); }
        catch (ArgumentException e) { throw new ServeRequestException(null, e.Message); }
        // Last, so that a refused request creates no folder.
        return new ServeRequest(request, output, output == ServeOutput.Path ? OutputFolder.Resolve(outputDir, saveDir) : null);
    }

    /// <summary>The `xdit serve` flag that raises the limit a field ran into.</summary>
    static string LimitFlag(string field) => field switch
    {
        "num_inference_steps" => " (xdit serve --max-steps)",
        "height" or "width" => " (xdit serve --max-pixels)",
        "num_images_per_prompt" => " (xdit serve --max-images, --max-pixels)",
        _ => "",
    };

    static bool Present(JsonElement root, string name, out JsonElement value) =>
        root.TryGetProperty(name, out value) && value.ValueKind != JsonValueKind.Null;

    static string? String(JsonElement root, string name)
    {
        if (!Present(root, name, out var v)) return null;
        if (v.ValueKind != JsonValueKind.String) throw new ServeRequestException(name, $"{name} must be a string, got {Kind(v)}");
        return v.GetString();
    }

    /// <summary>Flux Kontext's image: a PNG or JPEG file's bytes in base64, optionally as a data URL
    /// ("data:image/png;base64,...").</summary>
    static InputImage? Image(JsonElement root, string name)
    {
        if (String(root, name) is not { } text) return null;
        int comma = text.StartsWith("data:", StringComparison.Ordinal) ? text.IndexOf(',') : -1;
        if (text.StartsWith("data:", StringComparison.Ordinal) && (comma < 0 || !text[..comma].EndsWith(";base64", StringComparison.Ordinal)))
            throw new ServeRequestException(name, $"{name}: a data URL must be base64 (data:image/png;base64,...)");
        byte[] bytes;
        try { bytes = Convert.FromBase64String(text[(comma + 1)..]); }
        catch (FormatException) { throw new ServeRequestException(name, $"{name} must be a PNG or JPEG file in base64"); }
        try { return InputImage.Decode(bytes, name); }
        catch (Exception e) when (e is InvalidDataException or NotSupportedException or ArgumentException)
        {
            throw new ServeRequestException(name, e.Message);
        }
    }

    static int? Positive(JsonElement root, string name)
    {
        if (!Present(root, name, out var v)) return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out int n)) throw new ServeRequestException(name, $"{name} must be an integer, got {Kind(v)} {v.GetRawText()}");
        if (n < 1) throw new ServeRequestException(name, $"{name} must be positive, got {n}");
        return n;
    }

    static float? Number(JsonElement root, string name) => (float?)Real(root, name);

    /// <summary>A finite number that also fits a float, kept in double (the skip-layer window's fractions are).</summary>
    static double? Real(JsonElement root, string name)
    {
        if (!Present(root, name, out var v)) return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out double d) || !double.IsFinite(d) || Math.Abs(d) > float.MaxValue)
            throw new ServeRequestException(name, $"{name} must be a finite number, got {Kind(v)} {v.GetRawText()}");
        return d;
    }

    static bool? Bool(JsonElement root, string name)
    {
        if (!Present(root, name, out var v)) return null;
        if (v.ValueKind is not (JsonValueKind.True or JsonValueKind.False)) throw new ServeRequestException(name, $"{name} must be true or false, got {Kind(v)} {v.GetRawText()}");
        return v.GetBoolean();
    }

    /// <summary>A list of block indices (SD3.5's skip_guidance_layers, e.g. [7, 8, 9]).</summary>
    static int[]? Layers(JsonElement root, string name)
    {
        if (!Present(root, name, out var v)) return null;
        if (v.ValueKind != JsonValueKind.Array) throw new ServeRequestException(name, $"{name} must be an array of block indices, got {Kind(v)} {v.GetRawText()}");
        var layers = new List<int>();
        foreach (var e in v.EnumerateArray())
        {
            if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt32(out int i) || i < 0)
                throw new ServeRequestException(name, $"{name} must hold non-negative integers, got {Kind(e)} {e.GetRawText()}");
            layers.Add(i);
        }
        return layers.ToArray();
    }

    static ulong? Seed(JsonElement root)
    {
        if (!Present(root, "seed", out var v)) return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetUInt64(out ulong s)) throw new ServeRequestException("seed", $"seed must be a non-negative integer, got {Kind(v)} {v.GetRawText()}");
        return s;
    }

    static string Kind(JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "the number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Array => "an array",
        JsonValueKind.Object => "an object",
        _ => v.ValueKind.ToString().ToLowerInvariant(),
    };
}

using System.Text.Json;
using XDit.Engine.Pipelines;

namespace XDit.Engine.Serving;

/// <summary>
/// The body of POST /generate, checked field by field. Names follow diffusers and xDiT's service (`cfg` is xDiT's
/// name for guidance_scale; a save_disk_path alone means output_type "path", as xDiT writes to disk when given one).
/// Unknown fields are refused rather than ignored, so a misspelt option is not silently dropped.
/// </summary>
public sealed record ServeRequest(GenerationRequest Generation, ServeOutput Output, string? SaveDiskPath)
{
    static readonly string[] Known =
        ["prompt", "negative_prompt", "num_inference_steps", "guidance_scale", "cfg", "seed", "height", "width", "num_images_per_prompt", "output_type", "save_disk_path"];

    /// <summary>The most images one request may ask for: a bound on the memory one request holds.</summary>
    public const int MaxImagesPerRequest = 16;

    /// <param name="sizeMultiple">height and width must be multiples of this (the model's)</param>
    public static ServeRequest Parse(ReadOnlySpan<byte> body, int sizeMultiple = 1)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(body.ToArray()); }
        catch (JsonException e) { throw new ServeRequestException(null, $"malformed JSON: {e.Message}"); }
        using (doc) return Parse(doc.RootElement, sizeMultiple);
    }

    public static ServeRequest Parse(JsonElement root, int sizeMultiple = 1)
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
        if (perPrompt > MaxImagesPerRequest) throw new ServeRequestException("num_images_per_prompt", $"num_images_per_prompt must be at most {MaxImagesPerRequest}, got {perPrompt}");
        float? guidance = Number(root, "guidance_scale") ?? Number(root, "cfg");
        ulong seed = Seed(root) ?? 42;

        var saveDir = String(root, "save_disk_path");
        var output = (String(root, "output_type") ?? (saveDir is null ? "png_base64" : "path")) switch
        {
            "png_base64" => ServeOutput.PngBase64,
            "path" => ServeOutput.Path,
            var other => throw new ServeRequestException("output_type", $"output_type must be \"png_base64\" or \"path\", got \"{other}\""),
        };
        if (output == ServeOutput.Path)
        {
            if (string.IsNullOrEmpty(saveDir)) throw new ServeRequestException("save_disk_path", "output_type \"path\" needs save_disk_path, the folder to write the images into");
            if (!Directory.Exists(saveDir)) throw new ServeRequestException("save_disk_path", $"save_disk_path: the folder {saveDir} does not exist");
        }

        var request = new GenerationRequest
        {
            Prompts = new[] { prompt },
            NegativePrompt = String(root, "negative_prompt") ?? "",
            NumInferenceSteps = steps,
            GuidanceScale = guidance,
            Height = height,
            Width = width,
            Seed = seed,
            NumImagesPerPrompt = perPrompt,
        };
        return new ServeRequest(request, output, output == ServeOutput.Path ? saveDir : null);
    }

    static bool Present(JsonElement root, string name, out JsonElement value) =>
        root.TryGetProperty(name, out value) && value.ValueKind != JsonValueKind.Null;

    static string? String(JsonElement root, string name)
    {
        if (!Present(root, name, out var v)) return null;
        if (v.ValueKind != JsonValueKind.String) throw new ServeRequestException(name, $"{name} must be a string, got {Kind(v)}");
        return v.GetString();
    }

    static int? Positive(JsonElement root, string name)
    {
        if (!Present(root, name, out var v)) return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out int n)) throw new ServeRequestException(name, $"{name} must be an integer, got {Kind(v)} {v.GetRawText()}");
        if (n < 1) throw new ServeRequestException(name, $"{name} must be positive, got {n}");
        return n;
    }

    static float? Number(JsonElement root, string name)
    {
        if (!Present(root, name, out var v)) return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out double d) || !double.IsFinite(d) || Math.Abs(d) > float.MaxValue)
            throw new ServeRequestException(name, $"{name} must be a finite number, got {Kind(v)} {v.GetRawText()}");
        return (float)d;
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

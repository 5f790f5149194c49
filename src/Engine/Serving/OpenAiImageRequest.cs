using System.Buffers;
using System.Text.Json;
using XDit.Engine.Pipelines;

namespace XDit.Engine.Serving;

/// <summary>
/// The body of the OpenAI-compatible POST /v1/images/generations, the endpoint image servers have converged on
/// (stable-diffusion.cpp's server, vLLM-Omni, OpenVINO Model Server): prompt, n, size "WxH" (or "auto"),
/// response_format "b64_json", model and user (taken, not used: the service runs the one model it loaded), and as
/// extra fields (the OpenAI client's extra_body) negative_prompt, num_inference_steps, guidance_scale and seed.
/// A URL answer needs a file server, so response_format "url" is refused; unknown fields are refused as on /generate.
/// </summary>
public static class OpenAiImageRequest
{
    static readonly string[] Known = ["prompt", "model", "n", "size", "response_format", "user", "negative_prompt", "num_inference_steps", "guidance_scale", "seed"];

    /// <summary>The fields passed on to /generate's parser, with its name for each.</summary>
    static readonly (string From, string To)[] Renamed =
        [("prompt", "prompt"), ("negative_prompt", "negative_prompt"), ("n", "num_images_per_prompt"),
         ("num_inference_steps", "num_inference_steps"), ("guidance_scale", "guidance_scale"), ("seed", "seed")];

    public static ServeRequest Parse(ReadOnlySpan<byte> body, int sizeMultiple = 1, GenerationLimits? limits = null)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(body.ToArray()); }
        catch (JsonException e) { throw new ServeRequestException(null, $"malformed JSON: {e.Message}"); }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new ServeRequestException(null, $"the body must be a JSON object, got {root.ValueKind.ToString().ToLowerInvariant()}");
            var fields = new Dictionary<string, JsonElement>();
            foreach (var p in root.EnumerateObject())
            {
                if (!Known.Contains(p.Name)) throw new ServeRequestException(p.Name, $"unknown field '{p.Name}' (known: {string.Join(", ", Known)})");
                if (p.Value.ValueKind != JsonValueKind.Null) fields[p.Name] = p.Value;
            }
            var format = Text(fields, "response_format") ?? "b64_json";
            if (format != "b64_json") throw new ServeRequestException("response_format", $"response_format must be \"b64_json\" (this service hosts no image URLs), got \"{format}\"");
            // The rest is /generate's body under its own names, so every check and limit is the same one.
            Text(fields, "model");
            Text(fields, "user");
            var json = new ArrayBufferWriter<byte>();
            using (var w = new Utf8JsonWriter(json))
            {
                w.WriteStartObject();
                foreach (var (from, to) in Renamed)
                    if (fields.TryGetValue(from, out var v)) { w.WritePropertyName(to); v.WriteTo(w); }
                if (Text(fields, "size") is { } size && size != "auto")
                {
                    var (width, height) = Size(size);
                    w.WriteNumber("width", width);
                    w.WriteNumber("height", height);
                }
                w.WriteEndObject();
            }
            try { return ServeRequest.Parse(json.WrittenSpan, sizeMultiple, limits); }
            catch (ServeRequestException e) when (e.Field is "num_images_per_prompt") { throw new ServeRequestException("n", e.Message.Replace("num_images_per_prompt", "n")); }
            catch (ServeRequestException e) when (e.Field is "width" or "height") { throw new ServeRequestException("size", e.Message); }
        }
    }

    static string? Text(Dictionary<string, JsonElement> fields, string name)
    {
        if (!fields.TryGetValue(name, out var v)) return null;
        if (v.ValueKind != JsonValueKind.String) throw new ServeRequestException(name, $"{name} must be a string, got {v.GetRawText()}");
        return v.GetString();
    }

    /// <summary>OpenAI's size: "WIDTHxHEIGHT".</summary>
    internal static (int Width, int Height) Size(string size)
    {
        var parts = size.Split('x');
        if (parts.Length == 2 && int.TryParse(parts[0], out int w) && int.TryParse(parts[1], out int h) && w > 0 && h > 0) return (w, h);
        throw new ServeRequestException("size", $"size must be \"WIDTHxHEIGHT\" (e.g. \"1024x1024\") or \"auto\", got \"{size}\"");
    }
}

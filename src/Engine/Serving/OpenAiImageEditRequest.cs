using System.Buffers;
using System.Globalization;
using System.Text.Json;
using XDit.Engine.Pipelines;

namespace XDit.Engine.Serving;

/// <summary>
/// The body of the OpenAI-compatible POST /v1/images/edits: multipart/form-data (<see cref="MultipartFormData"/>) with
/// the file part image (PNG or JPEG; the OpenAI client's image[] for a list is taken when it holds one file), prompt,
/// and as in /v1/images/generations n, size, response_format (b64_json only), model and user (taken, not used), the
/// extra fields negative_prompt, num_inference_steps, guidance_scale, seed, and strength for image-to-image. mask
/// (inpainting) is refused: no pipeline here inpaints. Form values are text, so numbers are read from it here; the
/// rest goes through /generate's parser under its names, so every check, limit and message is the same one, and a
/// model that takes no image refuses it when it runs (the host answers 400 naming image).
/// </summary>
public static class OpenAiImageEditRequest
{
    static readonly string[] Known = ["image", "image[]", "prompt", "model", "n", "size", "response_format", "user",
        "negative_prompt", "num_inference_steps", "guidance_scale", "seed", "strength", "mask"];

    static readonly string[] Integers = ["n", "num_inference_steps", "seed"];
    static readonly string[] Reals = ["guidance_scale", "strength"];

    /// <summary>The text fields passed on to /generate's parser, with its name for each.</summary>
    static readonly (string From, string To)[] Renamed =
        [("prompt", "prompt"), ("negative_prompt", "negative_prompt"), ("n", "num_images_per_prompt"),
         ("num_inference_steps", "num_inference_steps"), ("guidance_scale", "guidance_scale"), ("seed", "seed"), ("strength", "strength")];

    /// <param name="contentType">the request's Content-Type header (it carries the boundary)</param>
    /// <param name="maxFileBytes">the bound on the image part (the service's body limit)</param>
    public static ServeRequest Parse(ReadOnlySpan<byte> body, string? contentType, long maxFileBytes, int sizeMultiple = 1, GenerationLimits? limits = null)
    {
        var parts = MultipartFormData.Parse(body, contentType, maxFileBytes);
        var fields = new Dictionary<string, string>();
        var images = new List<MultipartPart>();
        foreach (var part in parts)
        {
            if (!Known.Contains(part.Name)) throw new ServeRequestException(part.Name, $"unknown field '{part.Name}' (known: {string.Join(", ", Known)})");
            if (part.Name == "mask")
                throw new ServeRequestException("mask", "mask (inpainting) is not supported: no model this service runs inpaints; send the image and prompt without a mask");
            if (part.Name is "image" or "image[]")
            {
                if (!part.IsFile) throw new ServeRequestException("image", "image must be a file part (Content-Disposition with a filename: curl -F image=@photo.png)");
                images.Add(part);
                continue;
            }
            if (part.IsFile) throw new ServeRequestException(part.Name, $"{part.Name} must be a text field, not a file");
            if (!fields.TryAdd(part.Name, part.Text)) throw new ServeRequestException(part.Name, $"{part.Name} is given twice");
        }
        if (images.Count == 0) throw new ServeRequestException("image", "image is required: the PNG or JPEG file to edit, as a file part (curl -F image=@photo.png)");
        if (images.Count > 1) throw new ServeRequestException("image", $"one image per request: got {images.Count} image parts (this service's models take a single input image)");

        var format = fields.GetValueOrDefault("response_format") ?? "b64_json";
        if (format != "b64_json") throw new ServeRequestException("response_format", $"response_format must be \"b64_json\" (this service hosts no image URLs), got \"{format}\"");

        var json = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(json))
        {
            w.WriteStartObject();
            foreach (var (from, to) in Renamed)
            {
                if (!fields.TryGetValue(from, out var text)) continue;
                w.WritePropertyName(to);
                if (Integers.Contains(from))
                {
                    // long for the sign (a negative n reaches /generate's parser and its message), ulong for a large seed
                    if (long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long n)) w.WriteNumberValue(n);
                    else if (ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out ulong big)) w.WriteNumberValue(big);
                    else throw new ServeRequestException(from, $"{from} must be an integer, got \"{text}\"");
                }
                else if (Reals.Contains(from))
                {
                    if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) || !double.IsFinite(d))
                        throw new ServeRequestException(from, $"{from} must be a finite number, got \"{text}\"");
                    w.WriteNumberValue(d);
                }
                else w.WriteStringValue(text);
            }
            if (fields.GetValueOrDefault("size") is { } size && size != "auto")
            {
                var (width, height) = OpenAiImageRequest.Size(size);
                w.WriteNumber("width", width);
                w.WriteNumber("height", height);
            }
            // The file as /generate takes it (base64), so it is decoded and checked by the same code.
            w.WriteString("image", Convert.ToBase64String(images[0].Data));
            w.WriteEndObject();
        }
        try { return ServeRequest.Parse(json.WrittenSpan, sizeMultiple, limits); }
        catch (ServeRequestException e) when (e.Field is "num_images_per_prompt") { throw new ServeRequestException("n", e.Message.Replace("num_images_per_prompt", "n")); }
        catch (ServeRequestException e) when (e.Field is "width" or "height") { throw new ServeRequestException("size", e.Message); }
    }
}

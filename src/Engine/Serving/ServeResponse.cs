using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using StbImageWriteSharp;
using XDit.Engine.Pipelines;

namespace XDit.Engine.Serving;

/// <summary>
/// The 200 body of POST /generate: xDiT's fields (message, elapsed_time as "x.xx sec", output = the first image,
/// save_to_disk) plus every image, the per-stage timings in ms (queue wait included), seed and size. Encoding and
/// saving happen on the caller's thread, so the generation worker is already free for the next request.
/// </summary>
public static class ServeResponse
{
    // Messages quote the client's values; plain quotes read better than \u0022 and the body is never HTML.
    static readonly JsonSerializerOptions Options = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static string Build(ServeRequest request, ServedGeneration served, long id)
    {
        var r = served.Result;
        var images = new List<string>(r.Images.Count);
        for (int i = 0; i < r.Images.Count; i++)
        {
            if (request.Output == ServeOutput.Path)
            {
                var file = Path.GetFullPath(Path.Combine(request.SaveDiskPath!, $"xdit_{id}_{r.Seed}_{i}.png"));
                r.Images[i].SavePng(file);
                images.Add(file);
            }
            else images.Add(Convert.ToBase64String(EncodePng(r.Images[i])));
        }
        var timings = new Dictionary<string, double> { ["queue_ms"] = Ms(served.QueueWait) };
        foreach (var (stage, time) in r.Timings.Stages) timings[stage + "_ms"] = Ms(time);
        timings["total_ms"] = Ms(served.RunTime);
        return JsonSerializer.Serialize(new Dictionary<string, object?>
        {
            ["message"] = "Image generated successfully",
            ["elapsed_time"] = string.Format(CultureInfo.InvariantCulture, "{0:F2} sec", served.RunTime.TotalSeconds),
            ["images"] = images,
            ["output"] = images.Count > 0 ? images[0] : null,
            ["save_to_disk"] = request.Output == ServeOutput.Path,
            ["timings"] = timings,
            ["seed"] = r.Seed,
            ["width"] = r.Width,
            ["height"] = r.Height,
            ["steps"] = r.Steps,
            ["request_id"] = id,
        }, Options);
    }

    /// <summary>Any JSON body of the service, with the same readable escaping.</summary>
    public static string Serialize(object value) => JsonSerializer.Serialize(value, Options);

    /// <summary>An error body: {"error": message, "field": name or null}.</summary>
    public static string Error(string message, string? field = null) =>
        JsonSerializer.Serialize(new Dictionary<string, object?> { ["error"] = message, ["field"] = field }, Options);

    public static byte[] EncodePng(GeneratedImage image)
    {
        using var ms = new MemoryStream();
        new ImageWriter().WritePng(image.ToRgb8(), image.Width, image.Height, ColorComponents.RedGreenBlue, ms);
        return ms.ToArray();
    }

    static double Ms(TimeSpan t) => Math.Round(t.TotalMilliseconds, 3);
}

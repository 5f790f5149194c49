using System.Text.Encodings.Web;
using System.Text.Json;
using StbImageWriteSharp;
using XDit.Engine.Pipelines;

namespace XDit.Engine.Serving;

/// <summary>
/// The 200 body of POST /generate: message, elapsed_time (seconds the generation ran, a number), images (base64 PNGs
/// or, for output_type "path", the files written), save_to_disk, the per-stage timings in ms (queue wait included),
/// seed, size, steps and request_id. xDiT's service answers elapsed_time as the string "x.xx sec" and the first image
/// again as output; here each number is a number and each image appears once (README, "The service"). Encoding and
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
            ["elapsed_time"] = Math.Round(served.RunTime.TotalSeconds, 3),
            ["images"] = images,
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

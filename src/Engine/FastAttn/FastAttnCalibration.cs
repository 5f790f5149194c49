using System.Globalization;
using System.Text.Json;
using XDit.Engine.Pipelines;

namespace XDit.Engine.FastAttn;

/// <summary>
/// How xDiT sets DiTFastAttn up around a generation: a plan file named by the model and the settings (loaded when
/// asked to use the cache and it exists), else a calibration run of the pipeline on a few captions with seed 3 and
/// an empty negative prompt, whose plan is then saved and followed.
/// </summary>
public static class FastAttnCalibration
{
    /// <summary>xDiT's calibration seed.</summary>
    public const ulong Seed = 3;

    /// <summary>xDiT's file name, {model}_{steps}_{n_calib}_{threshold}_{window}.json, in <paramref name="dir"/>
    /// (xDiT: "cache"); the model is named by its folder.</summary>
    public static string PlanPath(string dir, string modelDir, int steps, int nCalib, double threshold, int window)
    {
        var name = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(modelDir)));
        return Path.Combine(dir, $"{name}_{steps}_{nCalib}_{threshold.ToString("R", CultureInfo.InvariantCulture)}_{window}.json");
    }

    /// <summary>
    /// The calibration captions: <paramref name="nCalib"/> drawn with replacement (seeded, as xDiT draws with
    /// numpy's choice, though not the same ones) from a COCO captions file (a JSON object whose "annotations" hold
    /// {"caption": ...}, or plain text with one caption per line); without a file, the generation's own prompts
    /// (at most <paramref name="nCalib"/> of them).
    /// </summary>
    public static IReadOnlyList<string> Prompts(string? cocoPath, int nCalib, IReadOnlyList<string> ownPrompts)
    {
        if (nCalib < 1) throw new ArgumentException($"--n-calib must be at least 1, got {nCalib}");
        if (cocoPath is null) return ownPrompts.Distinct().Take(nCalib).ToList();
        if (!File.Exists(cocoPath)) throw new FileNotFoundException($"{cocoPath}: the calibration captions file does not exist", cocoPath);
        var captions = ReadCaptions(cocoPath);
        if (captions.Count == 0) throw new InvalidDataException($"{cocoPath}: holds no caption");
        var random = new Random((int)Seed);
        return Enumerable.Range(0, nCalib).Select(_ => captions[random.Next(captions.Count)]).ToList();
    }

    static List<string> ReadCaptions(string path)
    {
        var text = File.ReadAllText(path);
        if (!text.TrimStart().StartsWith('{'))
            return text.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0).ToList();
        try
        {
            using var doc = JsonDocument.Parse(text);
            if (!doc.RootElement.TryGetProperty("annotations", out var notes) || notes.ValueKind != JsonValueKind.Array)
                throw new InvalidDataException($"{path}: a COCO captions file has an \"annotations\" array");
            var list = new List<string>();
            foreach (var a in notes.EnumerateArray())
                if (a.ValueKind == JsonValueKind.Object && a.TryGetProperty("caption", out var c) && c.ValueKind == JsonValueKind.String)
                    list.Add(c.GetString()!);
            return list;
        }
        catch (JsonException e) { throw new InvalidDataException($"{path}: invalid JSON: {e.Message}", e); }
    }

    /// <summary>Calibrates a plan on <paramref name="prompts"/> at the size, steps and guidance of
    /// <paramref name="request"/>, and restores the pipeline's loop.</summary>
    public static FastAttnPlan Calibrate(TextToImagePipeline pipeline, GenerationRequest request, IReadOnlyList<string> prompts, double threshold, int window)
    {
        var saved = pipeline.Loop;
        var loop = new FastAttnLoop(null, window, threshold);
        pipeline.Loop = loop;
        try
        {
            pipeline.Generate(request with { Prompts = prompts, NegativePrompt = "", Seed = Seed, NumImagesPerPrompt = 1, Latents = null, FirstRow = 0, TotalRows = 0 });
        }
        finally { pipeline.Loop = saved; }
        return loop.Plan!;
    }
}

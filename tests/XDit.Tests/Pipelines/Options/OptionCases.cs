using System.Text.Json;
using XDit.Engine.Pipelines;
using XDit.Runtime;

namespace XDit.Tests.Pipelines.Options;

/// <summary>
/// The cases of tests/fixtures/options (made by make_cases.py there with diffusers itself on the tiny whole-pipeline
/// fixtures): each case's call arguments (cases.json) and what diffusers returned (options.safetensors).
/// </summary>
public static class OptionCases
{
    public static string Dir => TestPaths.Fixture("options");

    static readonly Lazy<JsonElement> Cases = new(() => JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir, "cases.json"))).RootElement);

    public static JsonElement Case(string name) => Cases.Value.GetProperty(name);

    public static float[] Tensor(string name)
    {
        using var src = new SafetensorsFile(Path.Combine(Dir, "options.safetensors"));
        using var t = src.ReadF32(name);
        return t.ToFloatArray();
    }

    /// <summary>Row 0 of a whole-pipeline fixture's input tensor (the cases run one prompt on its first latent).</summary>
    public static float[] FirstRow(string fixture, string name)
    {
        using var src = new SafetensorsFile(Path.Combine(TestPaths.Fixture(fixture), "io.safetensors"));
        using var t = src.ReadF32(name);
        var all = t.ToFloatArray();
        return all[..(all.Length / t.Dim(0))];
    }

    /// <summary>The request diffusers was called with, in this library's names.</summary>
    public static GenerationRequest Request(JsonElement c, float[] latents)
    {
        string? S(string key) => c.TryGetProperty(key, out var v) ? v.GetString() : null;
        int? I(string key) => c.TryGetProperty(key, out var v) ? v.GetInt32() : null;
        double? D(string key) => c.TryGetProperty(key, out var v) ? v.GetDouble() : null;
        var defaults = new GenerationRequest { Prompts = [""] };
        return new GenerationRequest
        {
            Prompts = [S("prompt")!],
            Prompts2 = S("prompt_2") is { } p2 ? [p2] : null,
            Prompts3 = S("prompt_3") is { } p3 ? [p3] : null,
            NegativePrompt = S("negative_prompt"),
            NegativePrompt2 = S("negative_prompt_2"),
            NegativePrompt3 = S("negative_prompt_3"),
            ClipSkip = I("clip_skip"),
            SkipGuidanceLayers = c.TryGetProperty("skip_guidance_layers", out var l) ? l.EnumerateArray().Select(e => e.GetInt32()).ToList() : null,
            SkipLayerGuidanceScale = (float)(D("skip_layer_guidance_scale") ?? defaults.SkipLayerGuidanceScale),
            SkipLayerGuidanceStart = D("skip_layer_guidance_start") ?? defaults.SkipLayerGuidanceStart,
            SkipLayerGuidanceStop = D("skip_layer_guidance_stop") ?? defaults.SkipLayerGuidanceStop,
            TrueCfgScale = D("true_cfg_scale") is { } t ? (float)t : null,
            NumInferenceSteps = I("num_inference_steps"),
            GuidanceScale = (float)D("guidance_scale")!.Value,
            Height = I("height"),
            Width = I("width"),
            MaxSequenceLength = I("max_sequence_length"),
            Latents = latents,
        };
    }

    /// <summary>Runs the case on a loaded pipeline and returns the final latents it traced.</summary>
    public static float[] FinalLatents(TextToImagePipeline pipeline, GenerationRequest request)
    {
        var trace = new PipelineTrace();
        pipeline.Trace = trace;
        try { pipeline.Generate(request); }
        finally { pipeline.Trace = null; }
        return trace.Find("latents")!.Values;
    }
}

using XDit.Engine.Execution;
using XDit.Engine.Pipelines;

namespace XDit.Engine.Analysis;

/// <summary>Runs one generation of a pipeline with a <see cref="RedundancyRecorder"/> as its executor and reports.</summary>
public static class RedundancyAnalysis
{
    public static (RedundancyReport Report, GenerationResult Result) Run(TextToImagePipeline pipeline, GenerationRequest request, string modelName)
    {
        ArgumentNullException.ThrowIfNull(pipeline);
        if (request.NumInferenceSteps is 1) throw new ArgumentException("the redundancy analysis compares consecutive steps and needs at least 2, got 1");
        var recorder = new RedundancyRecorder();
        var loop = pipeline.Loop;
        pipeline.Loop = new StandardDenoiseLoop(recorder);
        GenerationResult result;
        try { result = pipeline.Generate(request); }
        finally { pipeline.Loop = loop; }
        if (result.Steps < 2) throw new ArgumentException($"the redundancy analysis compares consecutive steps and needs at least 2, got {result.Steps}");
        var report = new RedundancyReport
        {
            Model = modelName,
            Prompts = request.Prompts,
            Steps = result.Steps,
            Seed = result.Seed,
            Blocks = recorder.Blocks,
            AttentionLayers = recorder.AttentionLayers.ToList(),
        };
        return (report, result);
    }
}
